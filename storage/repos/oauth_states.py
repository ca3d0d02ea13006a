"""QuickBooks consent states: random, single use, bound to the workspace and user who asked, expiring."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import QboOAuthState, utcnow
from storage.repos.connections import sha256_hex

OAUTH_STATE_TTL = timedelta(minutes=10)


@dataclass(frozen=True)
class StateOwner:
    workspace_id: int
    user_id: str


class OAuthStateRepo:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def issue(self, workspace_id: int, user_id: str, now: datetime | None = None) -> str:
        state = secrets.token_urlsafe(32)
        self._session.add(
            QboOAuthState(
                state_hash=sha256_hex(state),
                workspace_id=workspace_id,
                user_id=user_id,
                expires_at=(now or utcnow()) + OAUTH_STATE_TTL,
            )
        )
        await self._session.flush()
        return state

    async def consume(self, state: str, now: datetime | None = None) -> StateOwner | None:
        """The state's owner if it is known, unexpired and unused; it can never be used again."""
        row = await self._session.scalar(
            select(QboOAuthState).where(QboOAuthState.state_hash == sha256_hex(state)).with_for_update()
        )
        moment = now or utcnow()
        if row is None or row.used_at is not None or row.expires_at <= moment:
            return None
        row.used_at = moment
        return StateOwner(row.workspace_id, row.user_id)
