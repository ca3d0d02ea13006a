"""In-memory state of the QBO emulator: companies, OAuth grants, switches, faults, rate windows and the audit log."""

from __future__ import annotations

import random
import secrets
import threading
from collections import deque
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from fnmatch import fnmatch
from typing import Any

from emulators.qbo.currencies import name_of
from emulators.qbo.taxes import seed_tax_codes
from emulators.qbo.tracking import PREFERENCE_FLAGS, seed_tracking
from emulators.qbo.webhooks import WebhookEvent, WebhookOutbox

DEFAULT_REALM = "9130350000000000"
DEFAULT_CLIENT_ID = "emulator-client"
DEFAULT_CLIENT_SECRET = "emulator-secret"  # a fixed credential of the local emulator, not a secret
ACCOUNTING_SCOPE = "com.intuit.quickbooks.accounting"
FAULT_KINDS = {"500", "503", "429", "timeout", "reset", "expire_token"}
NAME_KINDS = ("Vendor", "Customer", "Employee")
DOC_NUMBER_KINDS = ("Bill", "VendorCredit")  # indexed by DocNumber: the duplicate check and the engine's look-ups
HOME_CURRENCY_BY_COUNTRY = {"USA": "USD", "GBR": "GBP", "CAN": "CAD", "AUS": "AUD", "IRL": "EUR", "FRA": "EUR",
                            "IND": "INR"}  # fmt: skip


def unique_key(text: str) -> str:
    """How QBO compares names and document numbers for uniqueness: trimmed, inner spaces collapsed, case-folded."""
    return " ".join(text.split()).casefold()


@dataclass
class EmulatorSwitches:
    """Per-test behaviour switches; defaults follow the reference's emulator checklist (§16)."""

    code_ttl_seconds: int = 600
    access_ttl_seconds: int = 3600
    refresh_ttl_seconds: int = 8726400
    hard_ttl_seconds: int = 5 * 365 * 86400
    rotate_after_hours: float = 24
    superseded_grace_seconds: int = 0
    deny_consent: bool = False
    names_case_insensitive: bool = True
    duplicate_docnumber_check: bool = True
    reject_missing_exchange_rate: bool = False
    requestid_cache_failures: bool = False
    requestid_answer_600: bool = False
    rate_limits_enabled: bool = True
    per_minute: int = 500
    per_second: int = 10
    batch_per_minute_app: int = 40
    batch_per_minute_realm: int = 120
    time_scale: float = 1.0  # multiplies every rate window: 0.01 makes a "minute" 0.6 s
    throttle_xml: bool = False
    retry_after: str | None = None  # a Retry-After header value on 429s (QBO sends none by default)
    unfilterable_properties: set[str] = field(default_factory=set)  # lower-case names refused in WHERE (4001)
    # QBO's precision for ExchangeRate is undocumented (§18.4): None keeps the rate as sent; N cuts the stored rate to
    # N decimals (see exchange_rate_rounding), so a test can show the product notices the home amounts moving.
    exchange_rate_decimals: int | None = None
    exchange_rate_rounding: str = "truncate"  # or "half_up"

    def update(self, values: dict[str, Any]) -> None:
        """Set switches by name; unknown names raise KeyError."""
        for key, value in values.items():
            if not hasattr(self, key):
                raise KeyError(key)
            setattr(self, key, value)


@dataclass
class OAuthClient:
    """A registered app."""

    client_id: str
    client_secret: str
    redirect_uris: set[str]


@dataclass
class AuthCode:
    """An issued authorization code."""

    code: str
    client_id: str
    redirect_uri: str
    realm_id: str
    scopes: list[str]
    expires_at: datetime
    used: bool = False
    grant_id: str | None = None


@dataclass
class Grant:
    """One authorisation: its refresh token, expiries and superseded tokens."""

    grant_id: str
    client_id: str
    realm_id: str
    scopes: list[str]
    refresh_token: str
    refresh_issued_at: datetime
    refresh_expires_at: datetime
    hard_expires_at: datetime
    revoked: bool = False
    superseded: dict[str, datetime] = field(default_factory=dict)  # old refresh token -> when it was replaced


@dataclass
class AccessToken:
    """An issued access token."""

    token: str
    grant_id: str
    expires_at: datetime


@dataclass
class FaultRule:
    """Make matching API calls fail: `pattern` is an fnmatch on the path (or '*'), `kind` a FAULT_KINDS value."""

    pattern: str
    kind: str
    remaining: int | None = 1  # None: until cleared
    probability: float = 1.0
    delay_seconds: float = 1.0


@dataclass
class AuditEntry:
    """One write the emulator accepted."""

    at: str
    realm_id: str
    operation: str
    entity: str
    entity_id: str
    request_id: str | None
    touched_preexisting: bool
    # Records the write changed as a consequence (a payment lowers its bills' balances): {"entity", "entity_id"}.
    also_changed: list[dict[str, str]] = field(default_factory=list)


@dataclass
class Company:
    """One realm's books."""

    realm_id: str
    company_name: str
    home_currency: str
    multicurrency_enabled: bool
    country: str
    utc_offset_minutes: int = -8 * 60
    # Preferences.AccountingInfoPrefs (§6.3): they gate a Bill's ClassRef and DepartmentRef (emulators/qbo/tracking.py)
    class_tracking_per_line: bool = False
    class_tracking_per_txn: bool = False
    track_departments: bool = False
    entities: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)  # "Vendor" -> Id -> object
    files: dict[str, bytes] = field(default_factory=dict)
    preexisting: set[tuple[str, str]] = field(default_factory=set)
    next_id: int = 1
    replay: dict[str, tuple[int, bytes]] = field(default_factory=dict)  # requestid -> (status, body)
    # Uniqueness indexes, so a create never scans every stored entity (§18.6 item 31). Keys are trimmed and
    # case-folded; entries can go stale when a test edits `entities` directly, so readers re-check the record.
    name_index: dict[str, dict[tuple[str, str], None]] = field(default_factory=dict)  # name -> {(kind, Id)}
    # (kind, DocNumber) -> {Id}, for the kinds in DOC_NUMBER_KINDS
    doc_number_index: dict[tuple[str, str], dict[str, None]] = field(default_factory=dict)
    next_opaque_id: int = 5000000000000010001  # long Ids like the ones QBO gives tax codes

    @property
    def tz(self) -> timezone:
        """The company's fixed UTC offset."""
        return timezone(timedelta(minutes=self.utc_offset_minutes))

    def new_id(self) -> str:
        """The next entity Id (digit string)."""
        value = str(self.next_id)
        self.next_id += 1
        return value

    def opaque_id(self) -> str:
        """A long opaque Id (digit string), for seeded reference data such as tax codes."""
        value = str(self.next_opaque_id)
        self.next_opaque_id += 1
        return value

    def of(self, kind: str) -> dict[str, dict[str, Any]]:
        """The Id -> entity map of one kind."""
        return self.entities.setdefault(kind, {})

    def store(self, kind: str, record: dict[str, Any]) -> None:
        """Put an entity in its map under its Id and keep the uniqueness indexes up to date."""
        self.of(kind)[record["Id"]] = record
        if kind in NAME_KINDS and isinstance(record.get("DisplayName"), str):
            self.name_index.setdefault(unique_key(record["DisplayName"]), {})[(kind, record["Id"])] = None
        elif kind in DOC_NUMBER_KINDS and isinstance(record.get("DocNumber"), str) and record.get("DocNumber"):
            self.doc_number_index.setdefault((kind, unique_key(record["DocNumber"])), {})[record["Id"]] = None

    def name_holders(self, name: str) -> list[tuple[str, dict[str, Any]]]:
        """(kind, record) of the Vendors, Customers and Employees whose DisplayName may equal `name` (index lookup)."""
        key = unique_key(name)
        found = []
        for kind, entity_id in list(self.name_index.get(key, {})):
            record = self.of(kind).get(entity_id)
            if record is None or unique_key(str(record.get("DisplayName", ""))) != key:
                del self.name_index[key][(kind, entity_id)]  # stale: removed or renamed behind the index's back
                continue
            found.append((kind, record))
        return found

    def bills_with_doc_number(self, doc_number: str) -> list[dict[str, Any]]:
        """Live Bills whose DocNumber equals `doc_number`, trimmed and case-insensitively (index lookup)."""
        return self.with_doc_number("Bill", doc_number)

    def with_doc_number(self, kind: str, doc_number: str) -> list[dict[str, Any]]:
        """Live records of a kind in DOC_NUMBER_KINDS whose DocNumber equals `doc_number`, trimmed and
        case-insensitively (index lookup)."""
        key = (kind, unique_key(doc_number))
        found = []
        for entity_id in list(self.doc_number_index.get(key, {})):
            record = self.of(kind).get(entity_id)
            if (
                record is None
                or record.get("status") == "Deleted"
                or unique_key(str(record.get("DocNumber"))) != key[1]
            ):
                del self.doc_number_index[key][entity_id]  # stale: deleted or renumbered behind the index's back
                continue
            found.append(record)
        return found


_ACCOUNTS: list[tuple[str, str, str, str, bool]] = [
    # name, AccountType, AccountSubType, Classification, active
    ("Checking", "Bank", "Checking", "Asset", True),
    ("Accounts Receivable (A/R)", "Accounts Receivable", "AccountsReceivable", "Asset", True),
    ("Undeposited Funds", "Other Current Asset", "UndepositedFunds", "Asset", True),
    ("Accounts Payable (A/P)", "Accounts Payable", "AccountsPayable", "Liability", True),
    ("Visa Business", "Credit Card", "CreditCard", "Liability", True),
    ("Opening Balance Equity", "Equity", "OpeningBalanceEquity", "Equity", True),
    ("Services", "Income", "ServiceFeeIncome", "Revenue", True),
    ("Advertising", "Expense", "AdvertisingPromotional", "Expense", True),
    ("Contractors", "Expense", "OtherMiscellaneousServiceCost", "Expense", True),
    ("Legal & Professional Fees", "Expense", "LegalProfessionalFees", "Expense", True),
    ("Office Supplies & Software", "Expense", "OfficeGeneralAdministrativeExpenses", "Expense", True),
    ("Travel", "Expense", "Travel", "Expense", True),
    ("Meals and Entertainment", "Expense", "EntertainmentMeals", "Expense", True),
    ("Bank Charges & Fees", "Expense", "BankCharges", "Expense", True),
    ("Employee Benefits", "Expense", "OtherMiscellaneousServiceCost", "Expense", True),
    ("Cost of Labor", "Cost of Goods Sold", "CostOfLaborCos", "Expense", True),
    ("Subcontractors - COS", "Cost of Goods Sold", "OtherCostsOfServiceCos", "Expense", True),
    ("Exchange Gain or Loss", "Other Expense", "ExchangeGainOrLoss", "Expense", True),
    ("Old Freelancers (do not use)", "Expense", "OtherMiscellaneousServiceCost", "Expense", False),
]


class QboEmulatorState:
    """Everything the QBO emulator holds, guarded by one lock (safe enough for uvicorn in a thread)."""

    def __init__(self, *, switches: EmulatorSwitches | None = None, seed: int = 0) -> None:
        self.lock = threading.RLock()
        self.switches = switches or EmulatorSwitches()
        self.rng = random.Random(seed)
        self.clock_offset = timedelta(0)
        self.clients: dict[str, OAuthClient] = {}
        self.companies: dict[str, Company] = {}
        self.codes: dict[str, AuthCode] = {}
        self.grants: dict[str, Grant] = {}
        self.access_tokens: dict[str, AccessToken] = {}
        self.faults: list[FaultRule] = []
        self.audit: list[AuditEntry] = []
        self.api_requests: dict[str, deque[tuple[float, bool]]] = {}  # realm -> (monotonic time, is_batch)
        self.request_counts: dict[str, int] = {}  # "realm" -> all API requests served or refused
        self.throttled: int = 0
        self.max_in_flight: dict[str, int] = {}
        self.in_flight: dict[str, int] = {}
        self.webhooks = WebhookOutbox()
        # Units of the home currency per unit of each foreign currency (GET /exchangerate).
        self.exchange_rates: dict[str, Decimal] = {
            code: Decimal(rate)
            for code, rate in {"EUR": "1.0842", "GBP": "1.2710", "CAD": "0.7315", "BRL": "0.2010",
                               "MXN": "0.0580", "ARS": "0.0011", "COP": "0.00025", "INR": "0.0120"}.items()
        }  # fmt: skip

    # ---- clock -------------------------------------------------------------------------------------------------
    def now(self) -> datetime:
        """The emulator's wall clock (aware, UTC), shiftable with advance_clock."""
        return datetime.now(UTC) + self.clock_offset

    def advance_clock(self, seconds: float) -> None:
        """Move the emulator's clock forward, e.g. past a token's expiry."""
        with self.lock:
            self.clock_offset += timedelta(seconds=seconds)

    # ---- setup -------------------------------------------------------------------------------------------------
    def register_client(
        self,
        client_id: str = DEFAULT_CLIENT_ID,
        client_secret: str = DEFAULT_CLIENT_SECRET,
        redirect_uris: list[str] | None = None,
    ) -> OAuthClient:
        """Register an app; an empty redirect list accepts any http(s) redirect (handy for the demo)."""
        with self.lock:
            client = OAuthClient(client_id, client_secret, set(redirect_uris or []))
            self.clients[client_id] = client
            return client

    def seed_company(
        self,
        realm_id: str = DEFAULT_REALM,
        *,
        company_name: str = "Northwind Design Studio",
        home_currency: str | None = None,
        multicurrency_enabled: bool = False,
        country: str = "USA",
        utc_offset_minutes: int = -8 * 60,
        with_defaults: bool = True,
        extra_names: list[dict[str, Any]] | None = None,
        class_tracking_per_line: bool = False,
        class_tracking_per_txn: bool = False,
        track_departments: bool = False,
        classes: list[dict[str, Any]] | None = None,
        departments: list[dict[str, Any]] | None = None,
    ) -> Company:
        """Create a company with a realistic chart of accounts, terms and pre-existing names likely to collide.

        Args:
            home_currency: defaults to the country's currency (USD for USA, GBP for GBR, ...).
            country: ISO-3 `CompanyInfo.Country`; anything but USA is a VAT company with real tax codes (§18.3).
            extra_names: more pre-existing names, e.g. an Ontop worker's name held by a Customer:
                [{"kind": "Customer", "display_name": "José Pérez", "email": None, "active": True}].
            class_tracking_per_line, class_tracking_per_txn, track_departments: the AccountingInfoPrefs flags.
            classes, departments: [{"name", "parent"?, "active"?}]; None seeds a few of each (one inactive) when
                `with_defaults`, none otherwise.
        """
        country = country.upper()
        with self.lock:
            company = Company(
                realm_id,
                company_name,
                (home_currency or HOME_CURRENCY_BY_COUNTRY.get(country, "USD")).upper(),
                multicurrency_enabled,
                country,
                utc_offset_minutes=utc_offset_minutes,
                class_tracking_per_line=class_tracking_per_line,
                class_tracking_per_txn=class_tracking_per_txn,
                track_departments=track_departments,
            )
            self.companies[realm_id] = company
            if with_defaults:
                self._seed_defaults(company)
            if country != "USA":
                seed_tax_codes(self, company)
            for extra in extra_names or []:
                kind = str(extra.get("kind", "Vendor"))
                if kind not in ("Vendor", "Customer", "Employee"):
                    raise ValueError(f"extra name kind must be Vendor, Customer or Employee, not {kind!r}")
                record = self.name_record(
                    company, str(extra["display_name"]), extra.get("email"), bool(extra.get("active", True))
                )
                self.add_entity(company, kind, record)
            # Last, with opaque Ids: the Ids of everything seeded above stay what they were before classes existed.
            if with_defaults or classes or departments:
                seed_tracking(self, company, classes, departments)
            company.preexisting = {(kind, entity_id) for kind, rows in company.entities.items() for entity_id in rows}
            return company

    def set_preferences(self, realm_id: str, flags: dict[str, bool]) -> Company:
        """Turn AccountingInfoPrefs flags on or off in a seeded company, as an admin would in QBO's settings."""
        with self.lock:
            company = self.companies[realm_id]
            for name, value in flags.items():
                if name not in PREFERENCE_FLAGS:
                    raise KeyError(name)
                setattr(company, name, bool(value))
            return company

    def _seed_defaults(self, company: Company) -> None:
        stamp = self.meta(company)
        for name, account_type, sub_type, classification, active in _ACCOUNTS:
            self.add_entity(
                company,
                "Account",
                {
                    "Name": name,
                    "FullyQualifiedName": name,
                    "AccountType": account_type,
                    "AccountSubType": sub_type,
                    "Classification": classification,
                    "Active": active,
                    "SubAccount": False,
                    "CurrentBalance": Decimal("0"),
                    "CurrentBalanceWithSubAccounts": Decimal("0"),
                    "CurrencyRef": self.currency_ref(company.home_currency),
                    "MetaData": stamp,
                },
            )
        contractors = self.find_by(company, "Account", "Name", "Contractors")
        if contractors is not None:
            self.add_entity(
                company,
                "Account",
                {
                    "Name": "Design",
                    "FullyQualifiedName": "Contractors:Design",
                    "AccountType": "Expense",
                    "AccountSubType": "OtherMiscellaneousServiceCost",
                    "Classification": "Expense",
                    "Active": True,
                    "SubAccount": True,
                    "ParentRef": {"value": contractors["Id"]},
                    "CurrentBalance": Decimal("0"),
                    "CurrentBalanceWithSubAccounts": Decimal("0"),
                    "CurrencyRef": self.currency_ref(company.home_currency),
                    "MetaData": stamp,
                },
            )
        for name, days in (("Due on receipt", 0), ("Net 15", 15), ("Net 30", 30)):
            self.add_entity(company, "Term", {"Name": name, "Type": "STANDARD", "DueDays": days, "Active": True})
        vendors = [
            ("Acme Office Supply", "orders@acme-office.example", True),
            ("Amazon Web Services", "billing@aws.example", True),
            ("Lucía Fernández", "lucia.fernandez@example.com", False),  # inactive, still holds the name
            ("Sean O'Brien", "sean.obrien@example.com", True),
        ]
        for display_name, email, active in vendors:
            self.add_entity(company, "Vendor", self.name_record(company, display_name, email, active))
        self.add_entity(company, "Customer", self.name_record(company, "María Silva", "maria@client.example", True))
        self.add_entity(company, "Employee", self.name_record(company, "John Smith", "john.smith@example.com", True))
        self.add_entity(company, "Employee", self.name_record(company, "Ana Souza", "ana.souza@example.com", False))

    def name_record(self, company: Company, display_name: str, email: str | None, active: bool) -> dict[str, Any]:
        """A Vendor/Customer/Employee body as QBO returns it."""
        given, _, family = display_name.partition(" ")
        record: dict[str, Any] = {
            "DisplayName": display_name,
            "PrintOnCheckName": display_name,
            "GivenName": given,
            "FamilyName": family,
            "Active": active,
            "Balance": Decimal("0"),
            "CurrencyRef": self.currency_ref(company.home_currency),
            "MetaData": self.meta(company),
        }
        if email:
            record["PrimaryEmailAddr"] = {"Address": email}
        return record

    def add_entity(
        self, company: Company, kind: str, body: dict[str, Any], entity_id: str | None = None
    ) -> dict[str, Any]:
        """Store an entity with a fresh Id (unless given) and the common fields."""
        record = {"Id": entity_id or company.new_id(), "SyncToken": "0", "domain": "QBO", "sparse": False, **body}
        record.setdefault("MetaData", self.meta(company))
        company.store(kind, record)
        return record

    def find_by(self, company: Company, kind: str, prop: str, value: str) -> dict[str, Any] | None:
        """The first entity of a kind whose property equals a value."""
        for record in company.of(kind).values():
            if record.get(prop) == value:
                return record
        return None

    def currency_ref(self, code: str) -> dict[str, str]:
        """A CurrencyRef with the name QBO fills in."""
        return {"value": code, "name": name_of(code)}

    def meta(self, company: Company) -> dict[str, str]:
        """MetaData with both times set to now."""
        stamp = self.local_time(company)
        return {"CreateTime": stamp, "LastUpdatedTime": stamp}

    def local_time(self, company: Company, *, millis: bool = False) -> str:
        """Now in the company's offset, ISO-8601."""
        local = self.now().astimezone(company.tz)
        if millis:
            return local.isoformat(timespec="milliseconds")
        return local.isoformat(timespec="seconds")

    # ---- OAuth ---------------------------------------------------------------------------------------------------
    def issue_code(self, client_id: str, redirect_uri: str, realm_id: str, scopes: list[str]) -> str:
        """Issue a single-use authorization code."""
        with self.lock:
            code = "AB117" + secrets.token_urlsafe(48)
            expires = self.now() + timedelta(seconds=self.switches.code_ttl_seconds)
            self.codes[code] = AuthCode(code, client_id, redirect_uri, realm_id, scopes, expires)
            return code

    def new_grant(self, client_id: str, realm_id: str, scopes: list[str]) -> Grant:
        """Start a grant with a fresh refresh token."""
        with self.lock:
            now = self.now()
            grant = Grant(
                grant_id=secrets.token_hex(8),
                client_id=client_id,
                realm_id=realm_id,
                scopes=scopes,
                refresh_token="AB117" + secrets.token_urlsafe(36),
                refresh_issued_at=now,
                refresh_expires_at=now + timedelta(seconds=self.switches.refresh_ttl_seconds),
                hard_expires_at=now + timedelta(seconds=self.switches.hard_ttl_seconds),
            )
            self.grants[grant.grant_id] = grant
            return grant

    def new_access_token(self, grant: Grant) -> AccessToken:
        """Issue an access token for a grant."""
        with self.lock:
            token = AccessToken(
                "eyJlbmMiOiJBMTI4Q0JDLUhTMjU2IiwiYWxnIjoiZGlyIn0.." + secrets.token_urlsafe(64),
                grant.grant_id,
                self.now() + timedelta(seconds=self.switches.access_ttl_seconds),
            )
            self.access_tokens[token.token] = token
            return token

    def issue_tokens(
        self, realm_id: str = DEFAULT_REALM, client_id: str = DEFAULT_CLIENT_ID, scopes: list[str] | None = None
    ) -> dict[str, Any]:
        """Grant tokens directly (skipping the consent screen), in the token endpoint's response shape."""
        grant = self.new_grant(client_id, realm_id, scopes or [ACCOUNTING_SCOPE])
        access = self.new_access_token(grant)
        return self.token_response(grant, access, include_hard=True)

    def token_response(self, grant: Grant, access: AccessToken, *, include_hard: bool) -> dict[str, Any]:
        """The token endpoint's JSON body for a grant."""
        now = self.now()
        body: dict[str, Any] = {
            "token_type": "bearer",
            "access_token": access.token,
            "refresh_token": grant.refresh_token,
            "expires_in": int((access.expires_at - now).total_seconds()),
            "x_refresh_token_expires_in": int((grant.refresh_expires_at - now).total_seconds()),
        }
        if include_hard:
            body["x_refresh_token_hard_expires_in"] = int((grant.hard_expires_at - now).total_seconds())
        if "openid" in grant.scopes:
            body["id_token"] = "eyJraWQiOiJlbXVsYXRvciJ9." + secrets.token_urlsafe(32) + ".unsigned"
        return body

    def grant_for_refresh_token(self, token: str) -> Grant | None:
        """The live grant a refresh token belongs to (superseded tokens only within the grace period)."""
        now = self.now()
        for grant in self.grants.values():
            if grant.revoked:
                continue
            if grant.refresh_token == token:
                pass
            elif token in grant.superseded:
                grace = timedelta(seconds=self.switches.superseded_grace_seconds)
                if now > grant.superseded[token] + grace:
                    return None
            else:
                continue
            if now >= grant.refresh_expires_at or now >= grant.hard_expires_at:
                return None
            return grant
        return None

    def revoke_token(self, token: str) -> bool:
        """Kill the whole grant a refresh or access token belongs to."""
        with self.lock:
            access = self.access_tokens.get(token)
            for grant in self.grants.values():
                if (
                    grant.refresh_token == token
                    or token in grant.superseded
                    or (access is not None and access.grant_id == grant.grant_id)
                ):
                    grant.revoked = True
                    return True
            return False

    def expire_access_tokens(self) -> None:
        """Expire every issued access token now (the next API call gets a 401)."""
        with self.lock:
            for token in self.access_tokens.values():
                token.expires_at = self.now() - timedelta(seconds=1)

    # ---- faults and rate limits ------------------------------------------------------------------------------
    def inject(
        self,
        pattern: str,
        kind: str | int,
        count: int | None = 1,
        *,
        probability: float = 1.0,
        delay_seconds: float = 1.0,
    ) -> FaultRule:
        """Make the next `count` API calls whose path matches `pattern` fail with `kind`.

        Args:
            pattern: fnmatch on the request path, e.g. "*/bill" or "*" for every API call.
            kind: 500, 503, 429, "timeout" (answer after delay_seconds), "reset" (drop the connection) or
                "expire_token" (401 as if the access token had expired).
            count: how many matching calls fail; None for all until clear_faults().
            probability: fail only this fraction of matching calls (seeded, deterministic).
        """
        kind_text = str(kind)
        if kind_text not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {kind!r}; use one of {sorted(FAULT_KINDS)}")
        rule = FaultRule(pattern, kind_text, count, probability, delay_seconds)
        with self.lock:
            self.faults.append(rule)
        return rule

    def clear_faults(self) -> None:
        """Remove every fault rule."""
        with self.lock:
            self.faults.clear()

    def take_fault(self, path: str) -> FaultRule | None:
        """The fault to apply to this call, consuming one use of it."""
        with self.lock:
            for rule in self.faults:
                if rule.remaining is not None and rule.remaining <= 0:
                    continue
                if not (rule.pattern == "*" or fnmatch(path, rule.pattern) or fnmatch(path.lower(), rule.pattern)):
                    continue
                if rule.probability < 1.0 and self.rng.random() >= rule.probability:
                    continue
                if rule.remaining is not None:
                    rule.remaining -= 1
                return rule
            return None

    def admit(self, realm_id: str, is_batch: bool, monotonic_now: float) -> bool:
        """Record an API request and say whether it is within the realm's rate limits."""
        with self.lock:
            self.request_counts[realm_id] = self.request_counts.get(realm_id, 0) + 1
            log = self.api_requests.setdefault(realm_id, deque())
            switches = self.switches
            minute = 60.0 * switches.time_scale
            second = 1.0 * switches.time_scale
            while log and log[0][0] <= monotonic_now - minute:
                log.popleft()
            if switches.rate_limits_enabled:
                in_second = sum(1 for at, _ in log if at > monotonic_now - second)
                batches = sum(1 for _, batch in log if batch)
                over = (
                    len(log) >= switches.per_minute
                    or in_second >= switches.per_second
                    or (is_batch and batches >= min(switches.batch_per_minute_app, switches.batch_per_minute_realm))
                )
                if over:
                    self.throttled += 1
                    return False
            log.append((monotonic_now, is_batch))
            return True

    def enter(self, realm_id: str) -> None:
        """Count a request in flight (for concurrency inspection)."""
        with self.lock:
            self.in_flight[realm_id] = self.in_flight.get(realm_id, 0) + 1
            self.max_in_flight[realm_id] = max(self.max_in_flight.get(realm_id, 0), self.in_flight[realm_id])

    def leave(self, realm_id: str) -> None:
        """Count a request as finished."""
        with self.lock:
            self.in_flight[realm_id] = self.in_flight.get(realm_id, 1) - 1

    # ---- audit -------------------------------------------------------------------------------------------------
    def record_write(
        self,
        company: Company,
        operation: str,
        kind: str,
        entity_id: str,
        request_id: str | None,
        also_changed: list[tuple[str, str]] | None = None,
    ) -> None:
        """Append a write to the audit log and queue its webhook events.

        `also_changed` lists (kind, Id) of records the write changed as a consequence, e.g. the bills a payment
        paid. The entry counts as touching pre-existing data when the written record or any of those was seeded.
        """
        changed = also_changed or []
        touched = (kind, entity_id) in company.preexisting or any(pair in company.preexisting for pair in changed)
        with self.lock:
            self.audit.append(
                AuditEntry(
                    at=self.local_time(company),
                    realm_id=company.realm_id,
                    operation=operation,
                    entity=kind,
                    entity_id=entity_id,
                    request_id=request_id,
                    touched_preexisting=touched,
                    also_changed=[{"entity": other, "entity_id": other_id} for other, other_id in changed],
                )
            )
        operation_name = {"create": "Create", "update": "Update", "delete": "Delete"}.get(operation)
        if operation_name is not None:
            self.webhooks.record(WebhookEvent(company.realm_id, kind, entity_id, operation_name, self.now()))
        for other, other_id in changed:
            self.webhooks.record(WebhookEvent(company.realm_id, other, other_id, "Update", self.now()))

    def audit_log(self) -> list[dict[str, Any]]:
        """The audit log as plain dicts."""
        with self.lock:
            return [asdict(entry) for entry in self.audit]

    def entities(self, kind: str, realm_id: str = DEFAULT_REALM) -> list[dict[str, Any]]:
        """A copy of every stored entity of a kind, inactive and deleted included."""
        with self.lock:
            company = self.companies[realm_id]
            return [dict(record) for record in company.of(kind).values()]

    def reset(self) -> None:
        """Forget everything except the registered OAuth clients and switches."""
        with self.lock:
            self.companies.clear()
            self.codes.clear()
            self.grants.clear()
            self.access_tokens.clear()
            self.faults.clear()
            self.audit.clear()
            self.api_requests.clear()
            self.request_counts.clear()
            self.throttled = 0
