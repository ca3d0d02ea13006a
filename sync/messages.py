"""Every sentence the domain says to people, in one place (Slack mrkdwn; no secrets, no internal codes).

Button labels and headings belong to handlers/ (handlers/labels.py); these are the reasons and the instructions.
"""

from __future__ import annotations

from sync.ontop.models import concept_label

# --- connection state -------------------------------------------------------------------------------------

CHOOSE_PAY_FROM = (
    "Bills are waiting to be paid: choose the account Ontop payments come from (or turn payments off) in `/qbo map`."
)
RECONNECT = "QuickBooks no longer accepts this connection. An admin needs to run `/qbo connect` again."
QBO_NOT_CONNECTED = "QuickBooks is not connected yet. An admin can run `/qbo connect`."
ONTOP_NOT_CONNECTED = "Ontop is not connected yet. An admin can finish with `/qbo connect`."
ONTOP_CREDENTIALS_REFUSED = "Ontop refused the stored credentials. An admin can run `/qbo connect` to enter them again."
CONNECT_QBO_FIRST = "Connect QuickBooks first: run `/qbo connect` and press *Connect QuickBooks*."
NOTHING_TO_DISCONNECT = "QuickBooks is not connected, so there is nothing to disconnect."
DISCONNECTED_DURING_RUN = "This connection was disconnected; nothing was synced."

# --- connecting -----------------------------------------------------------------------------------------------

QBO_ANSWER_INCOMPLETE = "The QuickBooks answer was incomplete. Run `/qbo connect` again."
QBO_LINK_EXPIRED = "This QuickBooks link has expired or was already used. Run `/qbo connect` again."
QBO_SIGN_IN_REFUSED = "QuickBooks did not accept the sign-in. Run `/qbo connect` again."
QBO_REALM_ELSEWHERE = (
    "This QuickBooks company is already connected to another Slack workspace. To move it here, an admin of that "
    "workspace runs `/qbo disconnect` there first; then run `/qbo connect` here again."
)
ONTOP_LINK_EXPIRED = "This Ontop login link has expired or was already used. Run `/qbo connect` in Slack again."
BACKFILL_IN_FUTURE = "Choose a day in the past (or today)."
ONTOP_EMAIL_INVALID = "Enter the email address of an Ontop admin."
ONTOP_PASSWORD_MISSING = "Enter the password."
ONTOP_LOGIN_REFUSED = "Ontop did not accept this email and password. Use the login of an Ontop admin of the company."
ONTOP_UNREACHABLE_AT_LOGIN = "Ontop could not be reached. Try again in a minute."

# --- settings and requests ------------------------------------------------------------------------------------

SYNC_HOUR_INVALID = "The sync hour must be between 0 and 23."
PERIOD_REVERSED = "The end of the period must come after its start."
INVOICE_NOT_OURS = "That invoice is not part of this workspace's connection."


def time_zone_invalid(name: str) -> str:
    return f"`{name}` is not a time zone name like America/Bogota."


def account_not_available(company_name: str) -> str:
    return f"That account is not an active expense account in {company_name}."


def unreachable_now(service: str) -> str:
    """A request a person made could not reach QuickBooks or Ontop."""
    return f"{service} could not be reached just now. Try again in a minute."


# --- runs -----------------------------------------------------------------------------------------------------


def unreachable_during_run(service: str, code: str | None = None) -> str:
    where = f" (code {code})" if code else ""
    return (
        f"{service} could not be reached{where} after several tries; nothing was lost and the next run picks up"
        " where this one stopped."
    )


def unexpected_error(kind: str) -> str:
    """The run stopped on a bug or an outage we did not foresee: plain words and the error's kind only."""
    return (
        f"The sync stopped on an unexpected error ({kind}). Nothing was lost: the next run picks up where this one"
        " stopped. The details are in the bot's logs."
    )


DATABASE_KEPT_DROPPING = (
    "The database connection kept dropping during the sync. Nothing was lost: the next run finishes it."
)
RUN_CANCELLED = "The run was cancelled."


# --- one invoice ----------------------------------------------------------------------------------------------


def not_mapped(concept: str, others: list[str]) -> str:
    more = f" (and {', '.join(concept_label(other) for other in others)})" if others else ""
    return f"{concept_label(concept)}{more} is not mapped to a QuickBooks account"


def not_a_supplier(name: str) -> str:
    return f"{name} is not a supplier in QuickBooks"


def name_taken(name: str) -> str:
    return f"the name {name} is taken in QuickBooks"


def unknown_contract(agreement_id: str) -> str:
    return f"contract {agreement_id} is not among the company's Ontop workers"


def worker_not_ready(note: str | None) -> str:
    return f"the worker has {note}"


def service_did_not_answer(service: str) -> str:
    return f"{service} did not answer while preparing this bill; the next run will try again"


def qbo_refused_bill(message: str, detail: str | None, element: str | None, code: str) -> str:
    where = f" (field {element})" if element else ""
    more = f": {detail}" if detail else ""
    return f"QuickBooks refused the bill{where}: {message}{more} [code {code}]"


def tracking_not_available(kind: str) -> str:
    return f"That {kind} is no longer active in QuickBooks: choose another one."


def tracking_refused(kind: str, ref_id: str) -> str:
    """QuickBooks refused a bill's class or location (2500/610): it was made inactive or deleted there."""
    return (
        f"QuickBooks refused the bill's {kind} (id {ref_id}): it is inactive or deleted in QuickBooks."
        f" Choose another {kind} with /qbo tracking"
    )


QBO_DID_NOT_ANSWER = "QuickBooks did not answer; the next run will check and finish it"
NO_LINES = "the invoice has no lines"


def cannot_book_currency(currency: str, reason: str) -> str:
    return f"cannot book a {currency} invoice: {reason}"


def no_rate_between(currency: str, home: str) -> str:
    return f"no {currency}→{home} rate is known (Ontop gives rates against USD only)"


NO_EXCHANGE_RATE_YET = "Ontop has no exchange rate for it yet"
NO_USD_EQUIVALENT_YET = "Ontop has no USD equivalent for it yet"


def supplier_in_other_currency(name: str, vendor_currency: str, invoice_currency: str) -> str:
    return (
        f"the supplier {name} is in {vendor_currency} and this invoice is in {invoice_currency}: QuickBooks keeps"
        f" a supplier's currency, so the worker needs a supplier in {invoice_currency}"
    )


def supplier_not_in_home(name: str, vendor_currency: str, home: str) -> str:
    return f"the supplier {name} is in {vendor_currency} and the company's home currency is {home}"


def no_tax_code(concept: str) -> str:
    return f"concept {concept} has no tax code: this company's bills need one on every line"


def usd_lines_off(invoice_number: str) -> str:
    return (
        f"the USD amounts of invoice {invoice_number}'s lines are more than a cent per line away from its USD total:"
        " ask Ontop to check the invoice"
    )


def not_our_bill(kind: str, doc_number: str) -> str:
    return (
        f"a {kind} numbered {doc_number} already exists in QuickBooks and this bot did not make it (another supplier,"
        " another amount, or entered by hand): link it if it is this invoice, or skip the invoice"
    )


def partly_paid_elsewhere(bill_number: str) -> str:
    return (
        f"bill {bill_number} was partly paid in QuickBooks by someone else: pay the rest by hand (the bot never pays"
        " a bill twice)"
    )


def qbo_refused_payment(message: str, detail: str | None, code: str) -> str:
    more = f": {detail}" if detail else ""
    return f"QuickBooks refused the payment: {message}{more} [code {code}]"


TAX_CODE_UNKNOWN = "That tax code is not active in QuickBooks any more. Pick another one."
SUPPLIER_CURRENCY_INVALID = "Choose the contract's currency or US dollars for new suppliers."


def no_single_bill(doc_number: str, found: int) -> str:
    if found == 0:
        return f"There is no bill numbered {doc_number} in QuickBooks any more: press Retry instead."
    return f"{found} bills are numbered {doc_number} in QuickBooks: link the right one by hand, then press Retry."


def skipped_by(user_id: str) -> str:
    # Plain words: the reason is shown escaped; who skipped it is in the audit log.
    return "skipped by an admin in Slack: it will not be booked"


PAY_FROM_MISSING = "no account is chosen to pay Ontop's bills from: choose one in `/qbo map` (or turn payments off)"


def cancelled_after_bill(bill_id: str | None) -> str:
    return (
        f"cancelled in Ontop after bill {bill_id} was created in QuickBooks: void that bill in QuickBooks if it"
        " should not be paid (the bot never edits or deletes bills)"
    )


def correction_of_billed(invoice_number: str, bill_id: str | None) -> str:
    return (
        f"corrects invoice {invoice_number}, already bill {bill_id} in QuickBooks: review both before booking the"
        " difference by hand"
    )


CANCELLED_IN_ONTOP = "cancelled in Ontop"


def waiting_for_payment(status: str) -> str:
    return f"{status.lower()} in Ontop; billed once paid"


# --- suppliers ------------------------------------------------------------------------------------------------


def several_suppliers_with_email(names: str) -> str:
    return f"several QuickBooks suppliers have this email: {names}"


def inactive_supplier_with_email(name: str) -> str:
    return f"the inactive QuickBooks supplier {name} has this email: reactivate it in QuickBooks and run again"


def inactive_supplier_with_name(name: str) -> str:
    return f"the inactive QuickBooks supplier {name} has this name: reactivate it in QuickBooks and run again"


def namesake_supplier(name: str) -> str:
    return f"another supplier is already called {name}"


def name_held_by(kind: str | None, name: str) -> str:
    return f"a {kind} is already called {name}"


NAME_TAKEN_MEANWHILE = "the name was taken in QuickBooks meanwhile; run `/qbo vendors` again"


def qbo_refused_supplier(message: str) -> str:
    return f"QuickBooks refused it: {message}"


# --- authorization ending -------------------------------------------------------------------------------------


def authorization_ends(deadline_day: str) -> str:
    return f"The QuickBooks authorization ends on {deadline_day}; reconnect before then to keep syncing."


def notification_reached_nobody() -> str:
    return (
        "The last summary reached nobody: the finance channel refused it and no admin could be messaged. "
        "Pick a finance channel in `/qbo settings` and invite the bot there."
    )


def notification_fell_back(reason: str) -> str:
    return (
        f"Summaries can't reach the finance channel ({reason}), so they go to an admin by direct message. "
        "Invite the bot to the channel or pick another one in `/qbo settings`."
    )


# --- the approval gate (sync/review.py) ------------------------------------------------------------------------

REVIEW_NOT_FOUND = "I can't find that review any more. `/qbo sync preview` shows what the next sync would post."
REVIEW_NEEDS_CONNECTION = "Connect QuickBooks first: the approval settings belong to the connection."
REVIEW_THRESHOLD_INVALID = "Enter a whole number of bills, or leave it empty."
REVIEW_AMOUNT_INVALID = "Enter an amount in USD, like 25000, or leave it empty."
NOTHING_TO_REVIEW = "Nothing would be posted now, so there is nothing to review."
INVOICE_NOT_EXCLUDED = "That invoice is not one left out of a review."
APPROVED_REVIEW_POSTING = "An approved review is being posted right now. Ask again once its sync has finished."
EXCLUDED_IN_REVIEW = "left out of a review by an admin: it will not be booked unless included again"


REVIEW_ALREADY_WAITING = "A review is already waiting for approval in the finance channel; decide it first."


def review_pending(review_id: int) -> str:
    return f"Review #{review_id} is already waiting for approval in the finance channel; decide it first."


def review_decided(state: str) -> str:
    """Someone pressed a button of a review that is no longer waiting."""
    return f"This review was already {state}; nothing changed."


def review_expired() -> str:
    return "This review expired after 7 days: nothing of it was posted. The next sync asks again."


# --- several QuickBooks companies in one workspace --------------------------------------------------------------

CHOOSE_CONNECTION = "This workspace has several QuickBooks companies connected. Which one?"
CONNECTION_NOT_HERE = "That QuickBooks company is not connected to this workspace."
CONNECTION_NAME_INVALID = "Use lower-case letters, digits and dashes (up to 24), like `acme-us`."


def unknown_connection(name: str, names: list[str]) -> str:
    known = ", ".join(f"`{known}`" for known in names) or "none yet"
    return f"No QuickBooks company here is called `{name}`. The companies connected: {known}."


def connection_name_taken(name: str) -> str:
    return f"Another company in this workspace is already called `{name}`."
