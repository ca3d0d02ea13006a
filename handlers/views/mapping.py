"""The mapping modal: one account picker (external select from the cached chart of accounts) per Ontop concept."""

from __future__ import annotations

from typing import Any

from handlers.blocks import context, section, truncate
from handlers.ids import MappingIds
from handlers.views.common import field_error, modal
from sync.api import AccountOption, MappingRow

OPTION_TEXT_LIMIT = 75
OPTION_VALUE_LIMIT = 150
OPTIONS_LIMIT = 100
MAX_CONCEPTS = 45  # two blocks each at most (input + error) inside the 100-block modal


def concept_block_id(concept: str) -> str:
    return f"{MappingIds.BLOCK_PREFIX}{concept}"


def concept_of(block_id: str) -> str | None:
    prefix = MappingIds.BLOCK_PREFIX.value
    return block_id[len(prefix) :] if block_id.startswith(prefix) else None


def account_option(account_id: str, name: str) -> dict[str, Any]:
    return {
        "text": {"type": "plain_text", "text": truncate(name, OPTION_TEXT_LIMIT)},
        "value": account_id[:OPTION_VALUE_LIMIT],
    }


def account_options(accounts: list[AccountOption]) -> list[dict[str, Any]]:
    """The answer to a block_suggestion: at most 100 options."""
    return [account_option(a.account_id, a.name) for a in accounts[:OPTIONS_LIMIT]]


def mapping_view(
    rows: list[MappingRow], *, focus: str | None = None, errors: dict[str, str] | None = None
) -> dict[str, Any]:
    """One input per concept, the current mapping pre-selected; `focus` (from a Map button) comes first."""
    errors = errors or {}
    ordered = sorted(rows, key=lambda row: (row.concept != focus, row.account_id is not None, row.label.lower()))
    blocks: list[dict[str, Any]] = [
        section("Pick the QuickBooks expense account for each kind of Ontop invoice line. Type to search."),
    ]
    for row in ordered[:MAX_CONCEPTS]:
        element: dict[str, Any] = {
            "type": "external_select",
            "action_id": MappingIds.ACCOUNT,
            "min_query_length": 0,
            "placeholder": {"type": "plain_text", "text": "Choose an expense account"},
        }
        if row.account_id is not None:
            element["initial_option"] = account_option(row.account_id, row.account_name or row.account_id)
        seen = f"{row.invoices_seen} invoice(s) so far" if row.invoices_seen else "no invoices yet"
        blocks.append(
            {
                "type": "input",
                "block_id": concept_block_id(row.concept),
                "label": {"type": "plain_text", "text": truncate(row.label, 2000)},
                "hint": {"type": "plain_text", "text": seen},
                "element": element,
            }
        )
        if concept_block_id(row.concept) in errors:
            blocks.append(field_error(errors[concept_block_id(row.concept)]))
    if len(ordered) > MAX_CONCEPTS:
        blocks.append(context(f"…and {len(ordered) - MAX_CONCEPTS} more concepts: save these, then open again."))
    if not rows:
        blocks.append(section("No invoice concepts known yet."))
        return modal("Map accounts", blocks, callback_id=MappingIds.CALLBACK)
    return modal("Map accounts", blocks, callback_id=MappingIds.CALLBACK, submit="Save")


def read_mapping(state: dict[str, Any]) -> tuple[dict[str, str], dict[str, str]]:
    """(concept -> account id, errors by block id) from the flattened submission."""
    mapping: dict[str, str] = {}
    errors: dict[str, str] = {}
    for block_id, value in state.items():
        concept = concept_of(block_id)
        if concept is None:
            continue
        if not value:
            errors[block_id] = "Pick an expense account"
        else:
            mapping[concept] = str(value)
    return mapping, errors
