"""The books part of the mapping modal: how invoices are booked (docs/accounting.md).

Pay-from account (or "create an Ontop wallet", or no payments), where Ontop's fees go, the currency of new
suppliers, the A/P account of each currency that has several, and the default tax code of a non-US company.
"""

from __future__ import annotations

from typing import Any

from handlers.blocks import context, divider, escape, header, truncate
from handlers.ids import BooksIds
from handlers.views.common import field_error
from sync.api import CREATE_WALLET, NO_PAYMENTS, AccountOption, BooksChoice, BooksView

OPTION_TEXT_LIMIT = 75
STATIC_OPTIONS_LIMIT = 100
MAX_AP_CURRENCIES = 5  # more than this is very rare; the rest keep QuickBooks' default A/P account
WALLET_NAME = "Ontop wallet"

SERVICE_FIELDS = {  # a ServiceError's field -> the block that shows it
    "pay_from": BooksIds.PAY_FROM_BLOCK.value,
    "supplier_currency": BooksIds.SUPPLIER_CURRENCY_BLOCK.value,
    "default_tax_code": BooksIds.TAX_DEFAULT_BLOCK.value,
}


def books_block_for(field: str) -> str | None:
    """The block that shows a books ServiceError's field, or None when the field is not a books one."""
    if field in SERVICE_FIELDS:
        return SERVICE_FIELDS[field]
    if field.startswith("ap:"):
        return ap_block_id(field[len("ap:") :])
    return None


def option(value: str, text: str) -> dict[str, Any]:
    return {"text": {"type": "plain_text", "text": truncate(text, OPTION_TEXT_LIMIT)}, "value": value}


def _options(accounts: list[AccountOption], room: int) -> list[dict[str, Any]]:
    return [option(account.account_id, account.name) for account in accounts[:room]]


def _has_wallet(books: BooksView) -> str | None:
    return next((o.account_id for o in books.pay_from_options if o.name.split(" (")[0] == WALLET_NAME), None)


def _pay_from_block(books: BooksView) -> dict[str, Any]:
    wallet = _has_wallet(books)
    specials = [option(NO_PAYMENTS, "Don't record payments (I match Ontop's debits in my bank feed)")]
    if wallet is None:
        specials.insert(0, option(CREATE_WALLET, f'Create an "{WALLET_NAME}" bank account (recommended)'))
    choices = _options(books.pay_from_options, STATIC_OPTIONS_LIMIT - len(specials)) + specials
    chosen = (books.pay_from_account_id or wallet or CREATE_WALLET) if books.payments_enabled else NO_PAYMENTS
    initial = next((o for o in choices if o["value"] == chosen), None)
    element: dict[str, Any] = {"type": "static_select", "action_id": BooksIds.PAY_FROM, "options": choices}
    if initial is not None:
        element["initial_option"] = initial
    return {
        "type": "input",
        "block_id": BooksIds.PAY_FROM_BLOCK,
        "label": {"type": "plain_text", "text": "Pay the bills from"},
        "hint": {
            "type": "plain_text",
            "text": "Each paid invoice's bills are paid from it. Record your Ontop top-ups as transfers into it.",
        },
        "element": element,
    }


def _radio_block(block_id: str, action_id: str, label: str, choices: list[dict[str, Any]], chosen: str) -> dict:
    element: dict[str, Any] = {"type": "radio_buttons", "action_id": action_id, "options": choices}
    initial = next((o for o in choices if o["value"] == chosen), None)
    if initial is not None:
        element["initial_option"] = initial
    return {
        "type": "input",
        "block_id": block_id,
        "label": {"type": "plain_text", "text": label},
        "element": element,
    }


def _select_block(block_id: str, action_id: str, label: str, accounts: list[AccountOption], chosen: str | None) -> dict:
    choices = _options(accounts, STATIC_OPTIONS_LIMIT)
    element: dict[str, Any] = {"type": "static_select", "action_id": action_id, "options": choices}
    initial = next((o for o in choices if o["value"] == chosen), None)
    if initial is not None:
        element["initial_option"] = initial
    return {
        "type": "input",
        "block_id": block_id,
        "label": {"type": "plain_text", "text": truncate(label, 2000)},
        "element": element,
    }


def ap_block_id(currency: str) -> str:
    return f"{BooksIds.AP_BLOCK_PREFIX}{currency}"


def books_blocks(books: BooksView, *, errors: dict[str, str] | None = None) -> list[dict[str, Any]]:
    """The books inputs, each with the current choice (or the sensible default) selected."""
    errors = errors or {}
    blocks: list[dict[str, Any]] = [divider(), header("How invoices are booked"), _pay_from_block(books)]
    blocks.append(
        _radio_block(
            BooksIds.FEES_BLOCK,
            BooksIds.FEES,
            "Ontop's fees",
            [
                option(BooksIds.FEES_ON_ONTOP, "On a bill to the Ontop supplier (recommended)"),
                option(BooksIds.FEES_ON_CONTRACTOR, "On the contractor's bill"),
            ],
            BooksIds.FEES_ON_CONTRACTOR if books.fees_on_contractor_bill else BooksIds.FEES_ON_ONTOP,
        )
    )
    if books.multicurrency_enabled:
        blocks.append(
            _radio_block(
                BooksIds.SUPPLIER_CURRENCY_BLOCK,
                BooksIds.SUPPLIER_CURRENCY,
                "Currency of new suppliers",
                [
                    option("contract", "The contract's currency"),
                    option("usd", "USD: the amounts Ontop charged, exactly"),
                ],
                books.supplier_currency,
            )
        )
    for currency, accounts in sorted(books.ap_choices.items())[:MAX_AP_CURRENCIES]:
        blocks.append(
            _select_block(
                ap_block_id(currency),
                BooksIds.AP,
                f"Accounts payable for {currency} bills",
                accounts,
                books.ap_chosen.get(currency),
            )
        )
    if books.tax_codes:
        blocks.append(
            _select_block(
                BooksIds.TAX_DEFAULT_BLOCK,
                BooksIds.TAX_DEFAULT,
                "Tax code for invoice lines",
                books.tax_codes,
                books.default_tax_code_id,
            )
        )
        blocks.append(context("Contractor invoices usually carry no VAT: a zero-rated or out-of-scope code."))
    for block_id, message in errors.items():
        index = next((i for i, block in enumerate(blocks) if block.get("block_id") == block_id), None)
        if index is not None:
            blocks.insert(index + 1, field_error(message))
    return blocks


def books_block_count(books: BooksView) -> int:
    """How many blocks the books part takes, with room for one error under an input."""
    return len(books_blocks(books)) + 1


def read_books(state: dict[str, Any]) -> tuple[BooksChoice | None, dict[str, str]]:
    """The books choice from a flattened submission; None when the modal predates its books part."""
    if BooksIds.PAY_FROM_BLOCK.value not in state:
        return None, {}
    pay_from = state.get(BooksIds.PAY_FROM_BLOCK)
    if not pay_from:
        return None, {BooksIds.PAY_FROM_BLOCK.value: "Choose where the bills are paid from"}
    prefix = BooksIds.AP_BLOCK_PREFIX.value
    ap_accounts = {
        block_id[len(prefix) :]: str(value)
        for block_id, value in state.items()
        if block_id.startswith(prefix) and value
    }
    supplier_currency = state.get(BooksIds.SUPPLIER_CURRENCY_BLOCK) or "contract"
    tax_default = state.get(BooksIds.TAX_DEFAULT_BLOCK)
    return (
        BooksChoice(
            pay_from=str(pay_from),
            fees_on_contractor_bill=state.get(BooksIds.FEES_BLOCK) == BooksIds.FEES_ON_CONTRACTOR,
            supplier_currency=str(supplier_currency),
            ap_accounts=ap_accounts,
            default_tax_code_id=str(tax_default) if tax_default else None,
        ),
        {},
    )


def books_summary(books: BooksView) -> list[str]:
    """The saved choices, one line each (mrkdwn: QuickBooks' account names escaped), for the result view."""
    names = {o.account_id: o.name for o in books.pay_from_options}
    pay_from = names.get(books.pay_from_account_id or "", books.pay_from_account_id or "?")
    lines = [
        f"Bills paid from {escape(pay_from)}"
        if books.payments_enabled
        else "Payments are not recorded: match Ontop's debits in your bank feed",
        "Ontop's fees on the contractor's bill"
        if books.fees_on_contractor_bill
        else "Ontop's fees on the Ontop supplier",
    ]
    if books.multicurrency_enabled:
        lines.append(
            f"New suppliers in {escape(books.home_currency)}"
            if books.supplier_currency == "usd"
            else "New suppliers in the contract's currency"
        )
    return lines
