"""Browser-flow states: random, single use, bound to the workspace and user who asked, expiring.

One table serves two flows: QuickBooks consent (`StatePurpose.QBO_CONSENT`) and the Ontop login page
(`StatePurpose.ONTOP_LOGIN`). The stored key is a hash of the purpose and the state together, so a state issued for
one flow is simply unknown to the other, and the state itself is never stored.
"""

from __future__ import annotations

import enum
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import QboOAuthState, utcnow
from storage.repos.connections import rowcount, sha256_hex

OAUTH_STATE_TTL = timedelta(minutes=10)


class StatePurpose(enum.StrEnum):
    QBO_CONSENT = "qbo"
    ONTOP_LOGIN = "ontop-login"


def state_key(state: str, purpose: StatePurpose = StatePurpose.QBO_CONSENT) -> str:
    """The stored key of a state: the hash of purpose and state (what a lookup compares)."""
    return sha256_hex(f"{purpose.value}:{state}")


@dataclass(frozen=True)
class StateOwner:
    workspace_id: int
    user_id: str
    connection_id: int | None = None  # the connection the state is for, when it was issued for one


class OAuthStateRepo:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def issue(
        self,
        workspace_id: int,
        user_id: str,
        now: datetime | None = None,
        *,
        purpose: StatePurpose = StatePurpose.QBO_CONSENT,
        connection_id: int | None = None,
    ) -> str:
        state = secrets.token_urlsafe(32)
        self._session.add(
            QboOAuthState(
                state_hash=state_key(state, purpose),
                workspace_id=workspace_id,
                user_id=user_id,
                connection_id=connection_id,
                expires_at=(now or utcnow()) + OAUTH_STATE_TTL,
            )
        )
        await self._session.flush()
        return state

    async def _usable(
        self, state: str, purpose: StatePurpose, moment: datetime, *, for_update: bool
    ) -> QboOAuthState | None:
        query = select(QboOAuthState).where(QboOAuthState.state_hash == state_key(state, purpose))
        row = await self._session.scalar(query.with_for_update() if for_update else query)
        if row is None or row.used_at is not None or row.expires_at <= moment:
            return None
        return row

    async def is_usable(
        self, state: str, now: datetime | None = None, *, purpose: StatePurpose = StatePurpose.QBO_CONSENT
    ) -> StateOwner | None:
        """The state's owner if it is known, unexpired and unused; the state stays usable (a page showing a form)."""
        row = await self._usable(state, purpose, now or utcnow(), for_update=False)
        return StateOwner(row.workspace_id, row.user_id, row.connection_id) if row is not None else None

    async def consume(
        self, state: str, now: datetime | None = None, *, purpose: StatePurpose = StatePurpose.QBO_CONSENT
    ) -> StateOwner | None:
        """The state's owner if it is known, unexpired and unused; it can never be used again."""
        moment = now or utcnow()
        row = await self._usable(state, purpose, moment, for_update=True)
        if row is None:
            return None
        row.used_at = moment
        return StateOwner(row.workspace_id, row.user_id, row.connection_id)

    async def prune_expired(self, now: datetime | None = None) -> int:
        """Delete every state past its expiry, used or not (none can be used any more); returns how many."""
        result = await self._session.execute(delete(QboOAuthState).where(QboOAuthState.expires_at <= (now or utcnow())))
        return rowcount(result)
