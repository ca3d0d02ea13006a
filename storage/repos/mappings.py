"""Concept → QBO account mappings, one per concept and connection (deleted on disconnect)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import ConceptMapping, utcnow
from storage.records import MappingRecord


class MappingRepo:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def get_all(self, connection_id: int) -> dict[str, MappingRecord]:
        rows = await self._session.scalars(select(ConceptMapping).where(ConceptMapping.connection_id == connection_id))
        return {row.concept: MappingRecord.of(row) for row in rows}

    async def has_any(self, connection_id: int) -> bool:
        found = await self._session.scalar(
            select(ConceptMapping.id).where(ConceptMapping.connection_id == connection_id).limit(1)
        )
        return found is not None

    async def save(
        self,
        connection_id: int,
        concept: str,
        account_id: str,
        account_name: str,
        user_id: str | None,
        tax_code_id: str | None = None,
    ) -> None:
        existing = await self._session.scalar(
            select(ConceptMapping).where(
                ConceptMapping.connection_id == connection_id, ConceptMapping.concept == concept
            )
        )
        if existing is None:
            self._session.add(
                ConceptMapping(
                    connection_id=connection_id,
                    concept=concept,
                    qbo_account_id=account_id,
                    account_name=account_name,
                    mapped_by=user_id,
                    tax_code_id=tax_code_id,
                )
            )
        else:
            existing.qbo_account_id = account_id
            existing.account_name = account_name
            existing.tax_code_id = tax_code_id
            existing.mapped_by = user_id
            existing.mapped_at = utcnow()
        await self._session.flush()
