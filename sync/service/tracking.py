"""`/qbo tracking`: a QuickBooks Class per concept, a Class and a Location per worker (docs/accounting.md)."""

from __future__ import annotations

from storage.db import transaction
from storage.records import TrackingOptionRecord, WorkerTrackingRecord
from storage.repos.audit import AuditRepo
from storage.repos.ledger import LedgerRepo
from storage.repos.mappings import MappingRepo
from storage.repos.tracking import TrackingRepo
from storage.repos.vendor_links import VendorLinkRepo
from sync import jobs, messages
from sync.api import (
    AccountOption,
    ConceptClassRow,
    RunTrigger,
    ServiceError,
    TeamRef,
    TrackingChoice,
    TrackingKind,
    TrackingView,
    WorkerTrackingRow,
)
from sync.books import company_of, refresh_tracking, with_preferences
from sync.ontop.models import CONCEPT_LABELS
from sync.posting import TRACKING_REFUSED
from sync.qbo.errors import QboError
from sync.service.base import ServiceContext, unavailable

OPTIONS_LIMIT = 100


class Tracking:
    def __init__(self, context: ServiceContext) -> None:
        self._context = context

    async def tracking_view(self, team: TeamRef) -> TrackingView:
        """Read the preferences (and the lists they turn on) from QuickBooks now: a person who just turned
        tracking on in QuickBooks must not be told it is off."""
        connection = await self._context.connection(team)
        qbo = self._context.clients.qbo_client(connection.id, connection.realm_id)
        try:
            preferences = await qbo.preferences()
            await refresh_tracking(
                self._context.sessions, qbo, connection.id, with_preferences(company_of(connection), preferences)
            )
        except QboError as exc:
            raise unavailable(exc) from None
        return await self._view(team, per_txn=preferences.class_tracking_per_txn)

    async def tracking_options(self, team: TeamRef, kind: TrackingKind, search: str = "") -> list[AccountOption]:
        connection = await self._context.find_connection(team)
        if connection is None:
            return []
        async with self._context.sessions() as session:
            found = await TrackingRepo(session).list_active(connection.id, kind, search.strip()[:100])
        return [AccountOption(option.qbo_id, option.fully_qualified_name) for option in found[:OPTIONS_LIMIT]]

    async def save_tracking(self, team: TeamRef, user_id: str, choice: TrackingChoice) -> TrackingView:
        connection = await self._context.connection(team)
        async with transaction(self._context.sessions) as session:
            repo = TrackingRepo(session)
            classes = _names(await repo.list_active(connection.id, "class"))
            locations = _names(await repo.list_active(connection.id, "location"))
            for concept, class_id in choice.concept_classes.items():
                name = _known(classes, class_id, f"concept-class:{concept}", "class")
                await repo.save_concept_class(connection.id, concept, class_id, name)
            workers = await repo.get_workers(connection.id)
            for agreement_id in {*choice.worker_classes, *choice.worker_locations}:
                current = workers.get(agreement_id, WorkerTrackingRecord(agreement_id))
                class_id = choice.worker_classes.get(agreement_id, current.class_id)
                location_id = choice.worker_locations.get(agreement_id, current.department_id)
                record = WorkerTrackingRecord(
                    agreement_id,
                    class_id,
                    _known(classes, class_id, f"worker-class:{agreement_id}", "class"),
                    location_id,
                    _known(locations, location_id, f"worker-location:{agreement_id}", "location"),
                )
                await repo.save_worker(connection.id, record, user_id)
            AuditRepo(session).record(connection.workspace_id, user_id, "tracking", connection.id)
            if await LedgerRepo(session, connection.id).has_failures_with_codes([TRACKING_REFUSED]):
                await jobs.enqueue_run(session, connection.id, RunTrigger.RETRY, user_id)
        return await self._view(team, per_txn=False)

    async def _view(self, team: TeamRef, *, per_txn: bool) -> TrackingView:
        connection = await self._context.connection(team)
        async with self._context.sessions() as session:
            mappings = await MappingRepo(session).get_all(connection.id)
            workers = await TrackingRepo(session).get_workers(connection.id)
            links = await VendorLinkRepo(session).get_all(connection.id)
        return TrackingView(
            company_name=connection.company_name,
            class_tracking=connection.class_tracking,  # as tracking_view just stored them
            class_tracking_per_txn=per_txn,
            track_departments=connection.track_departments,
            concepts=[
                ConceptClassRow(
                    concept,
                    CONCEPT_LABELS.get(concept, concept.replace("_", " ").title()),
                    row.class_id,
                    row.class_name,
                )
                for concept, row in sorted(mappings.items())
            ],
            workers=sorted(
                (
                    WorkerTrackingRow(
                        agreement_id,
                        rows[0].display_name,
                        workers[agreement_id].class_id if agreement_id in workers else None,
                        workers[agreement_id].class_name if agreement_id in workers else None,
                        workers[agreement_id].department_id if agreement_id in workers else None,
                        workers[agreement_id].department_name if agreement_id in workers else None,
                    )
                    for agreement_id, rows in links.items()
                    if rows
                ),
                key=lambda row: row.worker_name.casefold(),
            ),
        )


def _names(options: list[TrackingOptionRecord]) -> dict[str, str]:
    return {option.qbo_id: option.fully_qualified_name for option in options}


def _known(options: dict[str, str], chosen: str | None, field: str, kind: str) -> str | None:
    """The full name of a chosen class or location; a ServiceError under the field when QuickBooks no longer has it."""
    if chosen is None:
        return None
    if chosen not in options:
        raise ServiceError(messages.tracking_not_available(kind), field=field)
    return options[chosen]
