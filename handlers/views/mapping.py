"""The mapping modal: one account picker (external select from the cached chart of accounts) per Ontop concept."""

from __future__ import annotations

from typing import Any

from handlers.blocks import VIEW_BLOCK_LIMIT, bullet_list, context, escape, section, truncate
from handlers.ids import MappingIds
from handlers.labels import counted
from handlers.views.books import books_block_count, books_block_for, books_blocks, books_summary, option
from handlers.views.common import field_error, modal, result_view
from sync.api import AccountOption, BooksView, MappingRow

OPTION_TEXT_LIMIT = 75
OPTION_VALUE_LIMIT = 150
OPTIONS_LIMIT = 100


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


def tax_block_id(concept: str) -> str:
    return f"{MappingIds.TAX_BLOCK_PREFIX}{concept}"


def _tax_input(row: MappingRow, books: BooksView) -> dict[str, Any]:
    choices = [option(code.account_id, code.name) for code in books.tax_codes[:OPTIONS_LIMIT]]
    element: dict[str, Any] = {
        "type": "static_select",
        "action_id": MappingIds.TAX_CODE,
        "options": choices,
        "placeholder": {"type": "plain_text", "text": "The default tax code"},
    }
    initial = next((choice for choice in choices if choice["value"] == row.tax_code_id), None)
    if initial is not None:
        element["initial_option"] = initial
    return {
        "type": "input",
        "block_id": tax_block_id(row.concept),
        "optional": True,
        "label": {"type": "plain_text", "text": truncate(f"Tax code: {row.label}", 2000)},
        "element": element,
    }


def mapping_view(
    rows: list[MappingRow],
    books: BooksView | None = None,
    *,
    focus: str | None = None,
    errors: dict[str, str] | None = None,
) -> dict[str, Any]:
    """One input per concept, the current mapping pre-selected; `focus` (from a Map button) comes first.

    With `books`, the modal also asks how invoices are booked (pay-from account, fees, supplier currency, A/P,
    tax codes); a non-US company gets a tax code input under each concept.
    """
    errors = errors or {}
    ordered = sorted(rows, key=lambda row: (row.concept != focus, row.account_id is not None, row.label.lower()))
    taxed = books is not None and bool(books.tax_codes)
    room = VIEW_BLOCK_LIMIT - 3 - (books_block_count(books) if books is not None else 0)
    shown = min(len(ordered), room // (3 if taxed else 2))
    blocks: list[dict[str, Any]] = [
        section("Pick the QuickBooks account for each kind of Ontop invoice line. Type to search."),
    ]
    for row in ordered[:shown]:
        element: dict[str, Any] = {
            "type": "external_select",
            "action_id": MappingIds.ACCOUNT,
            "min_query_length": 0,
            "placeholder": {"type": "plain_text", "text": "Choose an account"},
        }
        if row.account_id is not None:
            element["initial_option"] = account_option(row.account_id, row.account_name or row.account_id)
        concept_input: dict[str, Any] = {
            "type": "input",
            "block_id": concept_block_id(row.concept),
            "label": {"type": "plain_text", "text": truncate(row.label, 2000)},
            "element": element,
        }
        if row.invoices_seen:  # the invoices this mapping holds back; a concept that books fine needs no hint
            concept_input["hint"] = {"type": "plain_text", "text": waiting_hint(row.invoices_seen)}
        blocks.append(concept_input)
        if concept_block_id(row.concept) in errors:
            blocks.append(field_error(errors[concept_block_id(row.concept)]))
        if taxed and books is not None:
            blocks.append(_tax_input(row, books))
    if len(ordered) > shown:
        blocks.append(context(f"…and {len(ordered) - shown} more concepts: save these, then open again."))
    if not rows:
        blocks.append(section("No invoice concepts known yet."))
    if books is not None:
        blocks.extend(books_blocks(books, errors=errors))
    if not rows and books is None:
        return modal("Map accounts", blocks, callback_id=MappingIds.CALLBACK)
    return modal("Map accounts", blocks, callback_id=MappingIds.CALLBACK, submit="Save")


def mapping_saved_view(rows: list[MappingRow], books: BooksView | None) -> dict[str, Any]:
    """The result of saving the mapping modal: how many concepts are mapped, to which accounts, and the books.

    Concept labels (an unknown concept's is its code) and account names come from Ontop and QuickBooks: escaped.
    """
    mapped = sum(1 for row in rows if row.account_id)
    details = [
        f"{escape(row.label)} → {escape(row.account_name or row.account_id or '')}" for row in rows if row.account_id
    ]
    if books is not None:
        details = books_summary(books) + details
    text = f":white_check_mark: Saved. {mapped} of {counted(len(rows), 'concept')} mapped."
    return result_view("Map accounts", text, details=[bullet_list(details, limit=1900)] if details else None)


def waiting_hint(invoices: int) -> str:
    """`MappingRow.invoices_seen` counts the invoices blocked by the concept, not every invoice that used it."""
    return f"{counted(invoices, 'invoice')} waiting for this mapping"


def error_block_for(field: str) -> str:
    """The block under which a ServiceError about `field` shows: a books input, a concept's tax code or account."""
    books_block = books_block_for(field)
    if books_block is not None:
        return books_block
    if field.startswith(MappingIds.TAX_BLOCK_PREFIX.value):
        return field
    return concept_block_id(field)


def read_mapping(state: dict[str, Any]) -> tuple[dict[str, str], dict[str, str]]:
    """(concept -> account id, errors by block id) from the flattened submission."""
    mapping: dict[str, str] = {}
    errors: dict[str, str] = {}
    for block_id, value in state.items():
        concept = concept_of(block_id)
        if concept is None:
            continue
        if not value:
            errors[block_id] = "Pick an account"
        else:
            mapping[concept] = str(value)
    return mapping, errors


def read_tax_codes(state: dict[str, Any]) -> dict[str, str]:
    """Concept -> the tax code picked under it (non-US companies); concepts left on the default are absent."""
    prefix = MappingIds.TAX_BLOCK_PREFIX.value
    return {
        block_id[len(prefix) :]: str(value)
        for block_id, value in state.items()
        if block_id.startswith(prefix) and value
    }
