"""The tracking modal: a QuickBooks Class per concept, a Class and a Location per worker (external selects from the
cached lists), or, when the company tracks neither, how to turn tracking on in QuickBooks."""

from __future__ import annotations

from typing import Any

from handlers.blocks import VIEW_BLOCK_LIMIT, bullet_list, context, escape, header, section, truncate
from handlers.ids import TrackingIds
from handlers.views.common import field_error, modal, result_view
from handlers.views.mapping import account_option
from sync.api import TrackingChoice, TrackingView

TITLE = "Classes and locations"
TURN_ON = (
    "In QuickBooks, open *Settings → Account and settings → Advanced → Categories*, turn on *Track classes* "
    "(choose *One to each row in transaction*) and/or *Track locations*, save, then run `/qbo tracking` again."
)


def concept_block_id(concept: str) -> str:
    return f"{TrackingIds.CONCEPT_PREFIX}{concept}"


def worker_class_block_id(agreement_id: str) -> str:
    return f"{TrackingIds.WORKER_CLASS_PREFIX}{agreement_id}"


def worker_location_block_id(agreement_id: str) -> str:
    return f"{TrackingIds.WORKER_LOCATION_PREFIX}{agreement_id}"


def _select(block_id: str, label: str, action_id: str, chosen: tuple[str | None, str | None]) -> dict[str, Any]:
    """An optional typeahead select: its options come from the cache (handlers/options.py); empty clears it."""
    noun = "class" if action_id == TrackingIds.CLASS else "location"
    element: dict[str, Any] = {
        "type": "external_select",
        "action_id": action_id,
        "min_query_length": 0,
        "placeholder": {"type": "plain_text", "text": f"No {noun}"},
    }
    chosen_id, chosen_name = chosen
    if chosen_id:
        element["initial_option"] = account_option(chosen_id, chosen_name or chosen_id)
    return {
        "type": "input",
        "block_id": block_id,
        "optional": True,
        "label": {"type": "plain_text", "text": truncate(label, 2000)},
        "element": element,
    }


def tracking_view(view: TrackingView, *, errors: dict[str, str] | None = None) -> dict[str, Any]:
    """The tracking modal (plain-text labels need no escaping; the mrkdwn sentences escape what they quote)."""
    errors = errors or {}
    company = escape(view.company_name or "Your QuickBooks company")
    if not view.tracks_anything:
        text = f"{company} tracks neither classes per line nor locations, so bills carry none."
        if view.class_tracking_per_txn:
            text = f"{company} assigns classes to whole transactions; the bot sets them per bill line."
        return modal(TITLE, [section(text), section(TURN_ON)], callback_id=TrackingIds.CALLBACK)
    blocks: list[dict[str, Any]] = [
        section(
            f"Bills in {company} can carry "
            + " and ".join(
                part
                for part, on in (("a class on each line", view.class_tracking), ("a location", view.track_departments))
                if on
            )
            + ". A worker's class wins over the concept's. Leave a field empty for none."
        )
    ]

    def add(block: dict[str, Any]) -> None:
        blocks.append(block)
        if block["block_id"] in errors:
            blocks.append(field_error(errors[block["block_id"]]))

    if view.class_tracking and view.concepts:
        blocks.append(header("Concepts"))
        for concept in view.concepts:
            chosen = (concept.class_id, concept.class_name)
            add(_select(concept_block_id(concept.concept), concept.label, TrackingIds.CLASS, chosen))
    per_worker = int(view.class_tracking) + int(view.track_departments)
    room = max(0, (VIEW_BLOCK_LIMIT - len(blocks) - 3) // max(per_worker, 1))
    if view.workers:
        blocks.append(header("Workers"))
    for row in view.workers[:room]:
        if view.class_tracking:
            label = f"{row.worker_name}: class"
            add(
                _select(
                    worker_class_block_id(row.agreement_id), label, TrackingIds.CLASS, (row.class_id, row.class_name)
                )
            )
        if view.track_departments:
            label = f"{row.worker_name}: location"
            location = (row.location_id, row.location_name)
            add(_select(worker_location_block_id(row.agreement_id), label, TrackingIds.LOCATION, location))
    if len(view.workers) > room:
        blocks.append(context(f"…and {len(view.workers) - room} more workers: save these, then open again."))
    if not view.workers:
        blocks.append(context("Workers appear here once they are QuickBooks suppliers (`/qbo vendors`)."))
    return modal(TITLE, blocks, callback_id=TrackingIds.CALLBACK, submit="Save")


def read_tracking(state: dict[str, Any]) -> TrackingChoice:
    """What the submitted modal chose: only the inputs it showed, an empty one as None (cleared)."""
    concepts: dict[str, str | None] = {}
    classes: dict[str, str | None] = {}
    locations: dict[str, str | None] = {}
    for block_id, value in state.items():
        chosen = str(value) if value else None
        for prefix, into in (
            (TrackingIds.CONCEPT_PREFIX.value, concepts),
            (TrackingIds.WORKER_CLASS_PREFIX.value, classes),
            (TrackingIds.WORKER_LOCATION_PREFIX.value, locations),
        ):
            if block_id.startswith(prefix):
                into[block_id[len(prefix) :]] = chosen
    return TrackingChoice(concept_classes=concepts, worker_classes=classes, worker_locations=locations)


def error_block_for(field: str) -> str:
    """The block under which a ServiceError about `field` ("concept-class:X", "worker-class:A", ...) shows."""
    kind, _, target = field.partition(":")
    return {
        "concept-class": concept_block_id,
        "worker-class": worker_class_block_id,
        "worker-location": worker_location_block_id,
    }.get(kind, concept_block_id)(target)


def tracking_saved_view(view: TrackingView) -> dict[str, Any]:
    """The result of saving: every class and location now set (names from QuickBooks and Ontop: escaped)."""
    details = [f"{escape(row.label)}: {escape(row.class_name)}" for row in view.concepts if row.class_name]
    for row in view.workers:
        chosen = [name for name in (row.class_name, row.location_name) if name]
        if chosen:
            details.append(f"{escape(row.worker_name)}: {escape(', '.join(chosen))}")
    text = ":white_check_mark: Saved. Bills from the next sync carry these."
    return result_view(TITLE, text, details=[bullet_list(details, limit=1900)] if details else None)
