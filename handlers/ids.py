"""Block Kit ids (callback, block and action ids) the app sends and routes on: one place, kebab-case values."""

from __future__ import annotations

from enum import StrEnum


class CommandIds(StrEnum):
    COMMAND = "/qbo"


class ConnectIds(StrEnum):
    CALLBACK = "connect-submit"
    QBO_BUTTON = "connect-qbo-consent"
    EMAIL_BLOCK = "connect-ontop-email"
    EMAIL = "connect-ontop-email-input"
    PASSWORD_BLOCK = "connect-ontop-password"
    PASSWORD = "connect-ontop-password-input"
    BACKFILL_BLOCK = "connect-backfill-from"
    BACKFILL = "connect-backfill-from-input"


class VendorIds(StrEnum):
    CALLBACK = "vendors-submit"
    PAGE = "vendors-page"


class MappingIds(StrEnum):
    CALLBACK = "mapping-submit"
    ACCOUNT = "mapping-account"
    BLOCK_PREFIX = "concept:"
    TAX_CODE = "mapping-tax-code"
    TAX_BLOCK_PREFIX = "tax:"  # + concept: that concept's tax code (non-US companies)


class BooksIds(StrEnum):
    """The books part of the mapping modal (docs/accounting.md)."""

    PAY_FROM_BLOCK = "books-pay-from"
    PAY_FROM = "books-pay-from-input"
    FEES_BLOCK = "books-fees"
    FEES = "books-fees-input"
    SUPPLIER_CURRENCY_BLOCK = "books-supplier-currency"
    SUPPLIER_CURRENCY = "books-supplier-currency-input"
    AP_BLOCK_PREFIX = "books-ap:"  # + currency
    AP = "books-ap-input"
    TAX_DEFAULT_BLOCK = "books-tax-default"
    TAX_DEFAULT = "books-tax-default-input"
    FEES_ON_ONTOP = "ontop"  # the fees radio's values
    FEES_ON_CONTRACTOR = "contractor"


class SettingsIds(StrEnum):
    CALLBACK = "settings-submit"
    CHANNEL_BLOCK = "settings-channel"
    CHANNEL = "settings-channel-input"
    HOUR_BLOCK = "settings-hour"
    HOUR = "settings-hour-input"
    TIMEZONE_BLOCK = "settings-timezone"
    TIMEZONE = "settings-timezone-input"
    ADMINS_BLOCK = "settings-admins"
    ADMINS = "settings-admins-input"
    AUTO_CREATE_BLOCK = "settings-auto-create"
    AUTO_CREATE = "settings-auto-create-input"
    AUTO_CREATE_ON = "on"


class DisconnectIds(StrEnum):
    CALLBACK = "disconnect-submit"


class HomeIds(StrEnum):
    CONNECT = "home-connect"
    SYNC = "home-sync"
    MAP = "home-map"
    VENDORS = "home-vendors"
    SETTINGS = "home-settings"
    DISCONNECT = "home-disconnect"


class FixIds(StrEnum):
    """Buttons under a run summary, one per way of fixing a failed invoice."""

    MAP = "fix-map-concept"
    CREATE_VENDOR = "fix-create-vendor"
    CREATE_VENDOR_IN_CURRENCY = "fix-create-vendor-currency"
    LINK_BILL = "fix-link-bill"
    SKIP_INVOICE = "fix-skip-invoice"
    BOOKS = "fix-books"
    RECONNECT = "fix-reconnect"
    RETRY = "fix-retry"
    MORE = "fix-more"  # "Fix the rest…": opens a modal with every fix the summary had no room for (value: run id)


class MiscIds(StrEnum):
    RESULT = "result-view"
    LOADING = "loading-view"
