"""The cached chart of accounts (the mapping modal answers from here in milliseconds, never from QBO live)."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import Connection, QboAccount, utcnow
from storage.records import AccountRecord


class AccountRepo:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def replace(self, connection_id: int, accounts: Sequence[AccountRecord]) -> None:
        await self._session.execute(delete(QboAccount).where(QboAccount.connection_id == connection_id))
        self._session.add_all(
            QboAccount(
                connection_id=connection_id,
                qbo_id=account.qbo_id,
                name=account.name,
                fully_qualified_name=account.fully_qualified_name,
                account_type=account.account_type,
                currency=account.currency,
                active=account.active,
            )
            for account in accounts
        )
        await self._session.execute(
            update(Connection).where(Connection.id == connection_id).values(accounts_refreshed_at=utcnow())
        )

    async def list_active(
        self, connection_id: int, search: str = "", *, types: Sequence[str] | None = None
    ) -> list[AccountRecord]:
        """Active accounts (of these QBO account types), by full name; `search` matches anywhere in the name."""
        query = select(QboAccount).where(QboAccount.connection_id == connection_id, QboAccount.active.is_(True))
        if types is not None:
            query = query.where(QboAccount.account_type.in_(list(types)))
        if search:
            query = query.where(QboAccount.fully_qualified_name.ilike(f"%{search}%"))
        rows = await self._session.scalars(query.order_by(QboAccount.fully_qualified_name))
        return [AccountRecord.of(row) for row in rows]
