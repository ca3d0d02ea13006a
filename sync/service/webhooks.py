"""Ontop's webhook deliveries: authenticated, deduplicated, and turned into a debounced sync."""

from __future__ import annotations

from storage.db import transaction
from storage.models import ConnectionStatus
from storage.repos.connections import ConnectionRepo
from storage.repos.webhook_deliveries import DeliveryOrderStore
from sync import scheduler
from sync.api import ServiceError, WebhookRejected
from sync.ontop import webhooks
from sync.service.base import ServiceContext


class Webhooks:
    def __init__(self, context: ServiceContext) -> None:
        self._context = context

    async def webhook_address_known(self, path_token: str) -> bool:
        if not path_token:
            return False
        async with self._context.sessions() as session:
            connection = await ConnectionRepo(session).for_webhook_token(path_token)
        return connection is not None and connection.status == ConnectionStatus.ACTIVE

    async def handle_ontop_webhook(self, path_token: str, headers: dict[str, str], body: bytes) -> bool:
        async with self._context.sessions() as session:
            connections = ConnectionRepo(session)
            connection = await connections.for_webhook_token(path_token) if path_token else None
            secret = (
                await connections.read_webhook_secret(connection.id, self._context.clients.box) if connection else None
            )
        if connection is None or connection.status != ConnectionStatus.ACTIVE:
            raise WebhookRejected("unknown webhook address")
        async with transaction(self._context.sessions) as session:
            outcome = await webhooks.receive_webhook(
                connection_id=connection.id,
                path_token=path_token,
                expected_path_token=path_token,  # the path was matched by its hash above
                body=body,
                headers=headers,
                secret=secret,
                store=DeliveryOrderStore(session, connection.id),
                delay_seconds=self._context.webhook_delay_seconds,
            )
            if outcome.status_code == 401:
                raise WebhookRejected(outcome.reason)
            if outcome.status_code != 200:
                raise ServiceError(outcome.reason)
            if isinstance(outcome.decision, webhooks.SyncSoon):
                await scheduler.enqueue_webhook_run(
                    session, connection.id, debounce_seconds=outcome.decision.delay_seconds
                )
                return True
        return False
