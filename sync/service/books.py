"""How invoices are booked: the pay-from account ("Ontop wallet"), fees, supplier currency, A/P and tax codes."""

from __future__ import annotations

import structlog

from storage.db import transaction
from storage.models import SupplierCurrency
from storage.records import AccountRecord, ConnectionRecord
from storage.repos.accounts import AccountRepo
from storage.repos.audit import AuditRepo
from storage.repos.connections import ConnectionRepo
from storage.repos.tax_codes import TaxCodeRepo
from sync import messages
from sync.api import CREATE_WALLET, NO_PAYMENTS, AccountOption, BooksChoice, BooksView, ServiceError, TeamRef
from sync.bills import request_id_for
from sync.books import AP_TYPE, PAY_FROM_TYPES, company_of, refresh_caches
from sync.qbo.errors import QboDuplicateName, QboError
from sync.service.base import ServiceContext, unavailable

log = structlog.get_logger(__name__)

WALLET_NAME = "Ontop wallet"


def _option(account: AccountRecord) -> AccountOption:
    return AccountOption(account.qbo_id, f"{account.fully_qualified_name} ({account.account_type})")


class BooksSettings:
    def __init__(self, context: ServiceContext) -> None:
        self._context = context

    async def books_view(self, team: TeamRef) -> BooksView:
        connection = await self._context.connection(team)
        return await self._view(connection)

    async def _view(self, connection: ConnectionRecord) -> BooksView:
        async with self._context.sessions() as session:
            accounts = AccountRepo(session)
            pay_from = await accounts.list_active(connection.id, types=PAY_FROM_TYPES)
            payables = await accounts.list_active(connection.id, types=[AP_TYPE])
            codes = await TaxCodeRepo(session).list_active(connection.id)
        by_currency: dict[str, list[AccountOption]] = {}
        for account in payables:
            by_currency.setdefault(account.currency or connection.home_currency, []).append(_option(account))
        return BooksView(
            payments_enabled=connection.payments_enabled,
            pay_from_account_id=connection.pay_from_account_id,
            pay_from_options=[_option(account) for account in pay_from],
            fees_on_contractor_bill=connection.fees_on_contractor_bill,
            supplier_currency=connection.supplier_currency,
            multicurrency_enabled=connection.multicurrency_enabled,
            home_currency=connection.home_currency,
            ap_choices={currency: options for currency, options in by_currency.items() if len(options) > 1},
            ap_chosen=dict(connection.ap_account_ids),
            tax_codes=[AccountOption(code.qbo_id, code.name) for code in codes],
            default_tax_code_id=connection.default_tax_code_id,
        )

    async def save_books(self, team: TeamRef, user_id: str, choice: BooksChoice) -> BooksView:
        connection = await self._context.connection(team)
        if choice.supplier_currency not in (SupplierCurrency.CONTRACT, SupplierCurrency.USD):
            raise ServiceError(messages.SUPPLIER_CURRENCY_INVALID, field="supplier_currency")
        view = await self._view(connection)
        for currency, account_id in choice.ap_accounts.items():
            offered = view.ap_choices.get(currency, [])
            if account_id and account_id not in {option.account_id for option in offered}:
                raise ServiceError(messages.account_not_available(connection.company_name), field=f"ap:{currency}")
        if choice.default_tax_code_id is not None and choice.default_tax_code_id not in {
            code.account_id for code in view.tax_codes
        }:
            raise ServiceError(messages.TAX_CODE_UNKNOWN, field="default_tax_code")
        known = {option.account_id for option in view.pay_from_options}
        if choice.pay_from == NO_PAYMENTS:
            pay_from, payments = connection.pay_from_account_id, False
        elif choice.pay_from == CREATE_WALLET:
            pay_from, payments = await self._wallet(connection, view), True
        elif choice.pay_from in known:
            pay_from, payments = choice.pay_from, True
        else:
            raise ServiceError(messages.account_not_available(connection.company_name), field="pay_from")
        async with transaction(self._context.sessions) as session:
            await ConnectionRepo(session).save_books(
                connection.id,
                payments_enabled=payments,
                pay_from_account_id=pay_from,
                fees_on_contractor_bill=choice.fees_on_contractor_bill,
                supplier_currency=choice.supplier_currency,
                ap_account_ids={currency: account for currency, account in choice.ap_accounts.items() if account},
                default_tax_code_id=choice.default_tax_code_id,
            )
            AuditRepo(session).record(
                connection.workspace_id, user_id, "books", connection.id, payments=payments, pay_from=pay_from
            )
        updated = await self._context.connection(team)
        return await self._view(updated)

    async def _wallet(self, connection: ConnectionRecord, view: BooksView) -> str:
        """The "Ontop wallet" bank account: the one that exists, else a new one (creating an account only adds)."""
        for option in view.pay_from_options:
            if option.name.split(" (")[0] == WALLET_NAME:
                return option.account_id
        qbo = self._context.clients.qbo_client(connection.id, connection.realm_id)
        currency = "USD" if connection.multicurrency_enabled else None
        try:
            try:
                account = await qbo.create_account(
                    WALLET_NAME,
                    "Bank",
                    "Checking",
                    currency,
                    request_id_for(connection.realm_id, "wallet", "account", 0),
                )
            except QboDuplicateName:
                account = await qbo.create_account(
                    f"{WALLET_NAME} (Ontop)",
                    "Bank",
                    "Checking",
                    currency,
                    request_id_for(connection.realm_id, "wallet", "account", 1),
                )
            await refresh_caches(self._context.sessions, qbo, connection.id, company_of(connection))
        except QboError as exc:
            raise unavailable(exc) from None
        log.info("books.wallet_created", connection_id=connection.id, account_id=account.id)
        return account.id
