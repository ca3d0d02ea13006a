"""Housekeeping: forget what can no longer matter, so tables that grow with traffic stay small.

Expired browser-flow states (QuickBooks consent, Ontop login page) can never be used again, and webhook deliveries
older than Ontop's retry window only ever recognised repeats. The scheduler's tick calls `prune_expired`; it is
idempotent and cheap, so several schedulers ticking at once only repeat a few empty deletes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import structlog
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from storage.db import transaction
from storage.models import utcnow
from storage.repos.oauth_states import OAuthStateRepo
from storage.repos.webhook_deliveries import prune_expired_deliveries

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class Pruned:
    states: int
    deliveries: int


async def prune_expired(sessions: async_sessionmaker[AsyncSession], now: datetime | None = None) -> Pruned:
    """Delete expired OAuth/login states and old webhook deliveries in one transaction; returns how many of each."""
    moment = now or utcnow()
    async with transaction(sessions) as session:
        pruned = Pruned(
            states=await OAuthStateRepo(session).prune_expired(moment),
            deliveries=await prune_expired_deliveries(session, moment),
        )
    if pruned.states or pruned.deliveries:
        log.info("housekeeping_pruned", states=pruned.states, deliveries=pruned.deliveries)
    return pruned
