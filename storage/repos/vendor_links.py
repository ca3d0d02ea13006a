"""Which QBO vendor stands for which Ontop contract, and how the link was made."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import VendorLink
from storage.records import VendorLinkRecord


class VendorLinkRepo:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def get_all(self, connection_id: int) -> dict[str, list[VendorLinkRecord]]:
        """Each contract's suppliers (one per currency the worker was billed in), oldest first."""
        rows = await self._session.scalars(
            select(VendorLink).where(VendorLink.connection_id == connection_id).order_by(VendorLink.id)
        )
        links: dict[str, list[VendorLinkRecord]] = {}
        for row in rows:
            links.setdefault(row.agreement_id, []).append(VendorLinkRecord.of(row))
        return links

    async def save(
        self,
        connection_id: int,
        agreement_id: str,
        qbo_vendor_id: str,
        display_name: str,
        linked_by: str,
        *,
        currency: str = "",
        worker_email: str | None = None,
        created_by_bot: bool = False,
    ) -> VendorLinkRecord:
        row = VendorLink(
            currency=currency,
            connection_id=connection_id,
            agreement_id=agreement_id,
            qbo_vendor_id=qbo_vendor_id,
            display_name=display_name,
            linked_by=linked_by,
            worker_email=worker_email,
            created_by_bot=created_by_bot,
        )
        self._session.add(row)
        await self._session.flush()
        return VendorLinkRecord.of(row)
