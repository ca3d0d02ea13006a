"""The cached tax codes of a non-US company (the mapping modal offers them per concept)."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import QboTaxCode
from storage.records import TaxCodeRecord


class TaxCodeRepo:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def replace(self, connection_id: int, codes: Sequence[TaxCodeRecord]) -> None:
        await self._session.execute(delete(QboTaxCode).where(QboTaxCode.connection_id == connection_id))
        self._session.add_all(
            QboTaxCode(
                connection_id=connection_id, qbo_id=code.qbo_id, name=code.name, active=code.active, rate=code.rate
            )
            for code in codes
        )

    async def list_active(self, connection_id: int) -> list[TaxCodeRecord]:
        rows = await self._session.scalars(
            select(QboTaxCode)
            .where(QboTaxCode.connection_id == connection_id, QboTaxCode.active.is_(True))
            .order_by(QboTaxCode.name)
        )
        return [TaxCodeRecord.of(row) for row in rows]
