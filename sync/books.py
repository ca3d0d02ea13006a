"""A connection's books as the run and the preview plan with them: mapping, accounts, tax codes, pay-from account.

Also the caches the Slack surfaces answer from (accounts, tax codes), refreshed from QuickBooks.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from storage.db import transaction
from storage.records import AccountRecord, ConnectionRecord, TaxCodeRecord, TrackingOptionRecord, VendorLinkRecord
from storage.repos.accounts import AccountRepo
from storage.repos.mappings import MappingRepo
from storage.repos.tax_codes import TaxCodeRepo
from storage.repos.tracking import TrackingRepo
from storage.repos.vendor_links import VendorLinkRepo
from storage.repos.workspaces import WorkspaceRepo
from sync.bills import Books, Company
from sync.payments import PayFrom
from sync.plan import PlanContext
from sync.qbo.client import QboClient
from sync.qbo.models import Preferences, TrackingRef

# What a bill line may use (reference §6.1): expenses, and the balance-sheet accounts a deduction may need.
LINE_ACCOUNT_TYPES = (
    "Expense",
    "Other Expense",
    "Cost of Goods Sold",
    "Other Current Asset",
    "Other Asset",
    "Fixed Asset",
    "Other Current Liability",
    "Long Term Liability",
)
PAY_FROM_TYPES = ("Bank", "Credit Card")
AP_TYPE = "Accounts Payable"
CACHED_TYPES = (*LINE_ACCOUNT_TYPES, *PAY_FROM_TYPES, AP_TYPE)


def company_of(connection: ConnectionRecord) -> Company:
    return Company(
        connection.realm_id,
        connection.home_currency,
        connection.multicurrency_enabled,
        connection.company_country,
        class_tracking=connection.class_tracking,
        track_departments=connection.track_departments,
    )


def with_preferences(company: Company, preferences: Preferences) -> Company:
    """The company as QuickBooks' preferences say it is now (an admin may change any of them at any time).

    Classes go on bill lines only with ClassTrackingPerLine (reference §5); ClassTrackingPerTxn alone is not enough.
    """
    return dataclasses.replace(
        company,
        home_currency=preferences.home_currency,
        multicurrency_enabled=preferences.multicurrency_enabled,
        class_tracking=preferences.class_tracking_per_line,
        track_departments=preferences.department_tracking,
    )


@dataclass(frozen=True)
class ConnectionBooks:
    """Everything planning needs from the database, read once per run or preview."""

    context: PlanContext
    links: dict[str, list[VendorLinkRecord]]
    auto_create: bool
    currency_policy: str
    payments_enabled: bool
    pay_from: PayFrom | None
    ontop_vendor_id: str | None


def pay_from_of(accounts: Sequence[AccountRecord], account_id: str | None) -> PayFrom | None:
    """The chosen pay-from account, if it is still an active Bank or Credit Card account."""
    for account in accounts:
        if account.qbo_id == account_id and account.account_type in PAY_FROM_TYPES:
            return PayFrom(account.qbo_id, "Check" if account.account_type == "Bank" else "CreditCard")
    return None


def ap_accounts_of(accounts: Sequence[AccountRecord], chosen: dict[str, str], home: str) -> dict[str, str]:
    """The A/P account to send per currency: the admin's choice, else the only one in that currency."""
    by_currency: dict[str, list[str]] = {}
    for account in accounts:
        if account.account_type == AP_TYPE:
            by_currency.setdefault(account.currency or home, []).append(account.qbo_id)
    picked = {currency: ids[0] for currency, ids in by_currency.items() if len(ids) == 1}
    picked.update({currency: account_id for currency, account_id in chosen.items() if account_id})
    return picked


async def load_books(session: AsyncSession, connection: ConnectionRecord, company: Company) -> ConnectionBooks:
    workspace = await WorkspaceRepo(session).get(connection.workspace_id)
    mappings = await MappingRepo(session).get_all(connection.id)
    accounts = await AccountRepo(session).list_active(connection.id, types=CACHED_TYPES)
    links = await VendorLinkRepo(session).get_all(connection.id)
    workers = await TrackingRepo(session).get_workers(connection.id)
    books = Books(
        fees_on_contractor_bill=connection.fees_on_contractor_bill,
        ap_accounts=ap_accounts_of(accounts, dict(connection.ap_account_ids), company.home_currency),
        tax_codes={concept: row.tax_code_id for concept, row in mappings.items() if row.tax_code_id},
        default_tax_code=connection.default_tax_code_id,
        concept_classes={concept: row.class_id for concept, row in mappings.items() if row.class_id},
        worker_classes={worker: row.class_id for worker, row in workers.items() if row.class_id},
        worker_locations={worker: row.department_id for worker, row in workers.items() if row.department_id},
    )
    mapping = {concept: row.qbo_account_id for concept, row in mappings.items()}
    return ConnectionBooks(
        context=PlanContext(company, mapping, connection.default_account_id, books),
        links=links,
        auto_create=workspace.auto_create_vendors if workspace else True,
        currency_policy=connection.supplier_currency,
        payments_enabled=connection.payments_enabled,
        pay_from=pay_from_of(accounts, connection.pay_from_account_id),
        ontop_vendor_id=connection.ontop_vendor_id,
    )


async def refresh_caches(
    sessions: async_sessionmaker[AsyncSession], qbo: QboClient, connection_id: int, company: Company
) -> int:
    """Read the accounts (and a non-US company's tax codes, and the classes and locations of a company that tracks
    them) the Slack surfaces offer into their caches."""
    accounts = await qbo.accounts(CACHED_TYPES)
    codes = await qbo.tax_codes() if company.needs_tax_codes else []
    await refresh_tracking(sessions, qbo, connection_id, company)
    async with transaction(sessions) as session:
        await AccountRepo(session).replace(
            connection_id,
            [
                AccountRecord(
                    qbo_id=account.id,
                    name=account.name,
                    fully_qualified_name=account.fully_qualified_name,
                    account_type=account.account_type,
                    currency=account.currency,
                    active=account.active,
                )
                for account in accounts
            ],
        )
        await TaxCodeRepo(session).replace(
            connection_id, [TaxCodeRecord(code.id, code.name, code.active, code.rate) for code in codes]
        )
    return len(accounts)


async def refresh_tracking(
    sessions: async_sessionmaker[AsyncSession], qbo: QboClient, connection_id: int, company: Company
) -> None:
    """Store the company's tracking flags and read its classes and locations into their caches (only the lists
    its preferences turn on: a company that tracks nothing costs no call)."""
    classes = await qbo.classes() if company.class_tracking else []
    locations = await qbo.departments() if company.track_departments else []
    async with transaction(sessions) as session:
        tracking = TrackingRepo(session)
        await tracking.save_flags(
            connection_id, class_tracking=company.class_tracking, track_departments=company.track_departments
        )
        await tracking.replace(connection_id, "class", [_option(ref) for ref in classes])
        await tracking.replace(connection_id, "location", [_option(ref) for ref in locations])


def _option(ref: TrackingRef) -> TrackingOptionRecord:
    return TrackingOptionRecord(ref.id, ref.name, ref.fully_qualified_name, ref.active)
