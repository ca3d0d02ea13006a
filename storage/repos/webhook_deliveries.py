"""Ontop webhook deliveries already accepted, so repeats and stale deliveries are ignored."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import WebhookDelivery, utcnow
from storage.repos.connections import rowcount

# Ontop retries a delivery for hours, not weeks: after this long a repeat of it is harmless anyway (a sync finds
# nothing new), so the rows that recognise repeats need not be kept longer.
WEBHOOK_DELIVERY_RETENTION = timedelta(days=30)


class DeliveryOrderStore:
    """Ontop webhook deliveries already seen for one connection: the newest order per key (sync.ontop.webhooks
    WebhookSeenStore). The row is locked while compared, so concurrent deliveries of one event see each other."""

    def __init__(self, session: AsyncSession, connection_id: int) -> None:
        self._session = session
        self._connection_id = connection_id

    async def remember(self, key: str, order: Decimal) -> Decimal | None:
        row = await self._session.scalar(
            select(WebhookDelivery)
            .where(WebhookDelivery.connection_id == self._connection_id, WebhookDelivery.event_key == key[:255])
            .with_for_update()
        )
        if row is None:
            self._session.add(
                WebhookDelivery(connection_id=self._connection_id, event_key=key[:255], order_value=order)
            )
            await self._session.flush()
            return None
        previous = row.order_value if row.order_value is not None else Decimal(0)
        row.order_value = max(previous, order)
        return previous


async def prune_expired_deliveries(
    session: AsyncSession, now: datetime | None = None, retention: timedelta = WEBHOOK_DELIVERY_RETENTION
) -> int:
    """Forget deliveries first seen more than `retention` ago, for every connection; returns how many."""
    cutoff = (now or utcnow()) - retention
    result = await session.execute(delete(WebhookDelivery).where(WebhookDelivery.received_at < cutoff))
    return rowcount(result)
