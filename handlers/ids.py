"""Block Kit ids (callback, block and action ids) the app sends and routes on: one place, kebab-case values."""

from __future__ import annotations

from enum import StrEnum


class CommandIds(StrEnum):
    COMMAND = "/qbo"


class ConnectIds(StrEnum):
    CALLBACK = "connect-submit"  # the modal's *Check*
    QBO_BUTTON = "connect-qbo-consent"  # a link to the bot's /qbo/start page
    ONTOP_BUTTON = "connect-ontop-login"  # a link to the bot's Ontop login page


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
    REVIEW_BLOCK = "settings-review"
    REVIEW = "settings-review-input"
    REVIEW_FIRST = "first"  # the review checkboxes' values
    REVIEW_LATER = "later"
    OVER_BILLS_BLOCK = "settings-review-over-bills"
    OVER_BILLS = "settings-review-over-bills-input"
    OVER_USD_BLOCK = "settings-review-over-usd"
    OVER_USD = "settings-review-over-usd-input"
    NAME_BLOCK = "settings-connection-name"
    NAME = "settings-connection-name-input"


class TrackingIds(StrEnum):
    """The tracking modal: a class per concept, a class and a location per worker (external selects)."""

    CALLBACK = "tracking-submit"
    CLASS = "tracking-class"  # the action id of every class select (their options come from one listener)
    LOCATION = "tracking-location"
    CONCEPT_PREFIX = "tracking-concept-"  # + concept: its class
    WORKER_CLASS_PREFIX = "tracking-worker-class-"  # + agreement id
    WORKER_LOCATION_PREFIX = "tracking-worker-location-"  # + agreement id


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
    TRACKING = "fix-tracking"  # opens the tracking modal (value: "class" or "location")
    MORE = "fix-more"  # "Fix the rest…": opens a modal with every fix the summary had no room for (value: run id)


class ReviewIds(StrEnum):
    """The approval gate: the review message's buttons, its details modal, and the preview's buttons."""

    APPROVE = "review-approve"  # value: the review id
    DETAILS = "review-details"
    SKIP = "review-skip"
    DETAILS_CALLBACK = "review-details-submit"
    PAGE = "review-page"  # + "-prev" / "-next"; value: the page
    ITEMS_BLOCK_PREFIX = "review-items-"  # + group number: a checkbox group of up to ten invoices
    EXCLUDE = "review-exclude"
    REQUEST = "review-request"  # the preview's "ask for approval in the channel"
    INCLUDE = "review-include"  # the preview's "include again"; value: the invoice id


class RunIds(StrEnum):
    """A run's drill-down: the button on every summary, the modal's paging and its CSV download."""

    DETAILS = "run-details"  # value: the run id
    PAGE = "run-page"  # + "-prev" / "-next"; value: the page
    CSV = "run-csv"  # value: the run id
    CALLBACK = "run-details-view"


class ChooseIds(StrEnum):
    """Which QuickBooks company: asked when a workspace has several and a command or button named none."""

    SELECT = "choose-connection"  # option values: connection ids; what continues is in the block id or metadata
    BLOCK = "choose-connection-block"
    CALLBACK = "choose-connection-view"


class MiscIds(StrEnum):
    RESULT = "result-view"
    LOADING = "loading-view"
