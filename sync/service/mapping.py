"""`/qbo map`: each Ontop concept to a QBO account, from the cached chart of accounts."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass

from storage.db import transaction
from storage.repos.accounts import AccountRepo
from storage.repos.audit import AuditRepo
from storage.repos.ledger import LedgerRepo
from storage.repos.mappings import MappingRepo
from storage.repos.tax_codes import TaxCodeRepo
from sync import jobs, messages, scheduler
from sync.api import AccountOption, FixKind, MappingRow, RunTrigger, ServiceError, TeamRef
from sync.bills import concept_key
from sync.books import LINE_ACCOUNT_TYPES
from sync.ontop.models import CONCEPT_LABELS, Concept
from sync.service.base import ServiceContext

OPTIONS_LIMIT = 100
# How long the account options of a workspace are served from memory before they are read again (in the
# background: the stale list answers meanwhile). Saving a mapping checks the account against the database.
ACCOUNT_OPTIONS_SECONDS = 60.0


@dataclass(frozen=True)
class _AccountOptions:
    """A workspace's selectable accounts (active line accounts, by full name), as read at `read_at`."""

    read_at: float
    options: list[AccountOption]


class Mapping:
    def __init__(self, context: ServiceContext, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._context = context
        self._clock = clock
        # External selects answer within Slack's ack, 50 at once when a person types: from memory, not the database.
        self._account_options: dict[TeamRef, _AccountOptions] = {}
        self._reading: dict[TeamRef, asyncio.Task[_AccountOptions]] = {}

    async def mapping_rows(self, team: TeamRef) -> list[MappingRow]:
        connection = await self._context.connection(team)
        async with self._context.sessions() as session:
            mappings = await MappingRepo(session).get_all(connection.id)
            blocked = await LedgerRepo(session, connection.id).count_failed_by_fix_target(FixKind.MAP_CONCEPT)
        # The modal's account selects ask next: have their options in memory before the first keystroke.
        self._account_options[team] = await self._read_account_options(team)
        concepts = [str(concept) for concept in Concept] + sorted(set(blocked) | set(mappings))
        rows = []
        for concept in dict.fromkeys(concepts):
            mapping = mappings.get(concept)
            rows.append(
                MappingRow(
                    concept=concept,
                    label=CONCEPT_LABELS.get(concept, concept.replace("_", " ").title()),
                    invoices_seen=blocked.get(concept, 0),
                    account_id=mapping.qbo_account_id if mapping else None,
                    account_name=mapping.account_name if mapping else None,
                    tax_code_id=mapping.tax_code_id if mapping else None,
                )
            )
        return rows

    async def account_options(self, team: TeamRef, search: str = "") -> list[AccountOption]:
        """From the cached chart of accounts, kept in memory (external selects must answer within 3 s)."""
        cached = self._account_options.get(team)
        if cached is None:
            cached = await self._reread(team)
        elif self._clock() - cached.read_at > ACCOUNT_OPTIONS_SECONDS:
            self._reread(team)  # in the background: this answer comes from the list in memory
        needle = search.strip()[:100].casefold()
        matches = (option for option in cached.options if needle in option.name.casefold())
        return [option for option, _ in zip(matches, range(OPTIONS_LIMIT), strict=False)]

    def _reread(self, team: TeamRef) -> asyncio.Task[_AccountOptions]:
        """One read of the team's options at a time, however many requests ask for it."""
        reading = self._reading.get(team)
        if reading is None or reading.done() or reading.get_loop() is not asyncio.get_running_loop():
            reading = asyncio.ensure_future(self._read_account_options(team))
            reading.add_done_callback(lambda done: self._remember(team, done))
            self._reading[team] = reading
        return reading

    def _remember(self, team: TeamRef, done: asyncio.Task[_AccountOptions]) -> None:
        if self._reading.get(team) is done:
            del self._reading[team]
        if not done.cancelled() and done.exception() is None:
            self._account_options[team] = done.result()

    async def _read_account_options(self, team: TeamRef) -> _AccountOptions:
        read_at = self._clock()
        connection = await self._context.find_connection(team)
        if connection is None:
            return _AccountOptions(read_at, [])
        async with self._context.sessions() as session:
            accounts = await AccountRepo(session).list_active(connection.id, types=LINE_ACCOUNT_TYPES)
        return _AccountOptions(read_at, [AccountOption(a.qbo_id, a.fully_qualified_name) for a in accounts])

    async def save_mappings(
        self, team: TeamRef, user_id: str, mapping: dict[str, str], tax_codes: dict[str, str] | None = None
    ) -> list[MappingRow]:
        connection = await self._context.connection(team)
        tax_codes = tax_codes or {}
        async with transaction(self._context.sessions) as session:
            usable = await AccountRepo(session).list_active(connection.id, types=LINE_ACCOUNT_TYPES)
            accounts = {account.qbo_id: account for account in usable}
            known_codes = {code.qbo_id for code in await TaxCodeRepo(session).list_active(connection.id)}
            for concept, code in tax_codes.items():
                if code not in known_codes:
                    raise ServiceError(messages.TAX_CODE_UNKNOWN, field=f"tax:{concept_key(concept)}")
            mappings = MappingRepo(session)
            existing = await mappings.get_all(connection.id)
            for concept, account_id in mapping.items():
                key = concept_key(concept)
                account = accounts.get(account_id)
                if account is None:
                    raise ServiceError(messages.account_not_available(connection.company_name), field=key)
                current = existing.get(key)
                tax_code = tax_codes.get(concept) or (current.tax_code_id if current else None)
                await mappings.save(
                    connection.id, key, account_id, account.fully_qualified_name, user_id, tax_code_id=tax_code
                )
            AuditRepo(session).record(connection.workspace_id, user_id, "map", connection.id, concepts=sorted(mapping))
            first = await scheduler.enqueue_first_sync(session, connection.id, user_id)
            blocked = await LedgerRepo(session, connection.id).has_failures_with_codes(["unmapped_concept"])
            if first is None and blocked:
                await jobs.enqueue_run(session, connection.id, RunTrigger.RETRY, user_id)
        return await self.mapping_rows(team)
