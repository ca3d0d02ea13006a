"""Class and location tracking: the cached class and location lists, the tracking flags, a class and location per
worker. A concept's class lives on its mapping (storage/repos/mappings.py)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal, cast

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import ConceptMapping, Connection, QboClass, QboDepartment, WorkerTracking, utcnow
from storage.records import TrackingOptionRecord, WorkerTrackingRecord

TrackingKind = Literal["class", "location"]
_TABLES: dict[TrackingKind, type[QboClass] | type[QboDepartment]] = {"class": QboClass, "location": QboDepartment}


class TrackingRepo:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def save_flags(self, connection_id: int, *, class_tracking: bool, track_departments: bool) -> None:
        """The company's tracking preferences as QuickBooks last gave them."""
        await self._session.execute(
            update(Connection)
            .where(Connection.id == connection_id)
            .values(class_tracking=class_tracking, track_departments=track_departments)
        )

    async def replace(self, connection_id: int, kind: TrackingKind, options: Sequence[TrackingOptionRecord]) -> None:
        """Replace the cached classes or locations of a connection."""
        table = _TABLES[kind]
        await self._session.execute(delete(table).where(table.connection_id == connection_id))
        self._session.add_all(
            table(
                connection_id=connection_id,
                qbo_id=option.qbo_id,
                name=option.name,
                fully_qualified_name=option.fully_qualified_name,
                active=option.active,
            )
            for option in options
        )

    async def list_active(self, connection_id: int, kind: TrackingKind, search: str = "") -> list[TrackingOptionRecord]:
        """Active classes or locations, by full name; `search` matches anywhere in the name."""
        table = _TABLES[kind]
        query = select(table).where(table.connection_id == connection_id, table.active.is_(True))
        if search:
            query = query.where(table.fully_qualified_name.ilike(f"%{search}%"))
        rows = await self._session.scalars(query.order_by(table.fully_qualified_name))
        return [TrackingOptionRecord.of(cast(QboClass | QboDepartment, row)) for row in rows]

    async def get_workers(self, connection_id: int) -> dict[str, WorkerTrackingRecord]:
        """Each worker's class and location, by Ontop contract id."""
        rows = await self._session.scalars(select(WorkerTracking).where(WorkerTracking.connection_id == connection_id))
        return {row.agreement_id: WorkerTrackingRecord.of(row) for row in rows}

    async def save_worker(self, connection_id: int, record: WorkerTrackingRecord, user_id: str | None) -> None:
        """Set (or, with both None, forget) a worker's class and location."""
        existing = await self._session.scalar(
            select(WorkerTracking).where(
                WorkerTracking.connection_id == connection_id, WorkerTracking.agreement_id == record.agreement_id
            )
        )
        if record.class_id is None and record.department_id is None:
            if existing is not None:
                await self._session.delete(existing)
            return
        if existing is None:
            existing = WorkerTracking(connection_id=connection_id, agreement_id=record.agreement_id)
            self._session.add(existing)
        existing.class_id, existing.class_name = record.class_id, record.class_name
        existing.department_id, existing.department_name = record.department_id, record.department_name
        existing.updated_by = user_id
        existing.updated_at = utcnow()
        await self._session.flush()

    async def save_concept_class(
        self, connection_id: int, concept: str, class_id: str | None, class_name: str | None
    ) -> bool:
        """Set a mapped concept's class; False when the concept has no mapping (a class rides on its mapping)."""
        result = await self._session.execute(
            update(ConceptMapping)
            .where(ConceptMapping.connection_id == connection_id, ConceptMapping.concept == concept)
            .values(class_id=class_id, class_name=class_name)
        )
        return bool(getattr(result, "rowcount", 0))
