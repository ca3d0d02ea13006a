"""Async QuickBooks Online Accounting API client: typed methods, Decimal money, 401 refresh, retries, throttling."""

from __future__ import annotations

import asyncio
import base64
import random
import re
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any, Protocol, TypeVar, cast

import httpx
import structlog

from sync import money
from sync.money import to_decimal
from sync.qbo.auth import QboOAuth, QboTokens
from sync.qbo.errors import (
    QboAuthError,
    QboError,
    QboNotFound,
    QboServiceError,
    QboThrottled,
    QboValidationError,
    error_from_entries,
    fault_entries,
    read_response,
)
from sync.qbo.limiter import RealmLimiter
from sync.qbo.models import (
    Account,
    Attachable,
    Bill,
    BillDraft,
    BillPayment,
    BillPaymentDraft,
    CompanyInfo,
    NameKind,
    NewVendor,
    Preferences,
    TaxCode,
    TrackingRef,
    Vendor,
    VendorCredit,
    VendorCreditDraft,
)
from sync.retry import Backoff, retry_after_seconds

log = structlog.get_logger(__name__)

PRODUCTION_API_BASE_URL = "https://quickbooks.api.intuit.com"
SANDBOX_API_BASE_URL = "https://sandbox-quickbooks.api.intuit.com"
MAX_BATCH_ITEMS = 30
MAX_PAGE_SIZE = 1000
_BATCH_NAMESPACE = uuid.UUID("6b9a4c1e-3f0d-4d5e-9a7b-2c8e1f4a5b6d")
_PAGING_WORDS = re.compile(r"\b(startposition|maxresults)\b", re.IGNORECASE)
_ORDER_WORDS = re.compile(r"\border\s*by\b", re.IGNORECASE)
_QUERY_KEYS = {"startPosition", "maxResults", "totalCount"}
_Draft = TypeVar("_Draft", BillDraft, BillPaymentDraft, VendorCreditDraft, NewVendor)
_Created = TypeVar("_Created", Bill, BillPayment, VendorCredit, Vendor)


class TokenSource(Protocol):
    """Where the client gets access tokens; the storage layer implements it under a row lock."""

    async def access_token(self) -> str:
        """A currently valid access token (refreshed shortly before expiry)."""
        ...

    async def refresh_after_unauthorized(self, rejected_token: str) -> str:
        """A token newer than `rejected_token`, refreshing unless someone already did."""
        ...


class MemoryTokenSource:
    """A TokenSource holding tokens in memory (tests and the emulator-backed demo)."""

    def __init__(
        self,
        tokens: QboTokens,
        oauth: QboOAuth,
        *,
        refresh_margin_seconds: float = 300.0,
        clock: Callable[[], datetime] | None = None,
        on_refresh: Callable[[QboTokens], Awaitable[None]] | None = None,
    ) -> None:
        self.tokens = tokens
        self._oauth = oauth
        self._margin = refresh_margin_seconds
        self._clock = clock or (lambda: datetime.now(UTC))
        self._on_refresh = on_refresh
        self._lock = asyncio.Lock()
        self.refresh_count = 0

    def __repr__(self) -> str:
        return f"MemoryTokenSource(tokens={self.tokens!r})"

    async def access_token(self) -> str:
        """A valid access token, refreshed first when it expires within the margin."""
        async with self._lock:
            if self.tokens.access_expires_within(self._margin, self._clock()):
                await self._refresh()
            return self.tokens.access_token

    async def refresh_after_unauthorized(self, rejected_token: str) -> str:
        """Refresh unless another caller already replaced the rejected token."""
        async with self._lock:
            if self.tokens.access_token == rejected_token:
                await self._refresh()
            return self.tokens.access_token

    async def _refresh(self) -> None:
        tokens = await self._oauth.refresh(self.tokens.refresh_token)
        self.tokens = tokens  # the newest refresh token always wins
        self.refresh_count += 1
        if self._on_refresh is not None:
            await self._on_refresh(tokens)


def quote(value: str) -> str:
    r"""A QBO query string literal: backslashes doubled first, then quotes escaped (`O'Brien` -> `'O\'Brien'`)."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def batch_request_id(item_request_ids: list[str]) -> str:
    """A deterministic 32-char requestid for a batch, derived from its items' requestids (same items -> same id)."""
    return uuid.uuid5(_BATCH_NAMESPACE, "\n".join(item_request_ids)).hex


class QboClient:
    """One realm's API client. Every create takes a caller-chosen deterministic `request_id`."""

    def __init__(
        self,
        realm_id: str,
        tokens: TokenSource,
        *,
        api_base_url: str = PRODUCTION_API_BASE_URL,
        minorversion: int = 75,
        limiter: RealmLimiter | None = None,
        http: httpx.AsyncClient | None = None,
        backoff: Backoff | None = None,
        throttle_wait_seconds: float = 60.0,
        max_throttle_wait_seconds: float = 600.0,
        timeout: httpx.Timeout | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        rng: random.Random | None = None,
    ) -> None:
        self.realm_id = realm_id
        self._tokens = tokens
        self._base = f"{api_base_url.rstrip('/')}/v3/company/{realm_id}"
        self._minorversion = str(minorversion)
        self._limiter = limiter
        # QBO may take up to 120 s on a request; the read/write timeouts stay above that.
        self._http = http or httpx.AsyncClient(timeout=timeout or httpx.Timeout(130.0, connect=10.0))
        self._owns_http = http is None
        self._backoff = backoff or Backoff(attempts=3, base_seconds=0.5, max_seconds=10.0)
        self._throttle_wait = throttle_wait_seconds
        self._max_throttle_wait = max_throttle_wait_seconds
        self._sleep = sleep
        self._rng = rng or random.Random()
        self.requests_sent = 0  # every HTTP request, retries included (run summaries report it)

    def __repr__(self) -> str:
        return f"QboClient(realm_id={self.realm_id!r}, base={self._base!r})"

    async def aclose(self) -> None:
        """Close the HTTP client if this client created it."""
        if self._owns_http:
            await self._http.aclose()

    async def __aenter__(self) -> QboClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    # ---- transport -------------------------------------------------------------------------------------------------
    async def _request(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, str] | None = None,
        content: bytes | str | None = None,
        files: list[tuple[str, tuple[str, bytes, str, dict[str, str]]]] | None = None,
        content_type: str | None = "application/json",
        request_id: str | None = None,
        batch: bool = False,
        background: bool = False,
    ) -> Any:
        """Send one logical request: throttle, 401 refresh-once, retry transient failures, parse faults."""
        query = {"minorversion": self._minorversion, **(params or {})}
        if request_id is not None:
            query["requestid"] = request_id
        delays = self._backoff.delays(self._rng)
        throttled_times = 0
        refreshed = False
        token = await self._tokens.access_token()
        while True:
            headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
            if content_type and files is None:
                headers["Content-Type"] = content_type
            started = time.monotonic()
            error: QboError | None = None
            response: httpx.Response | None = None
            try:
                if self._limiter is not None:
                    async with self._limiter.slot(self.realm_id, batch=batch, background=background):
                        response = await self._send(method, path, query, headers, content, files)
                else:
                    response = await self._send(method, path, query, headers, content, files)
            except httpx.TransportError as exc:  # timeouts, resets, refused connections, truncated bodies
                error = QboServiceError("network", "QBO unreachable", type(exc).__name__)
                log.warning("qbo.request.failed", method=method, path=path, requestid=request_id,
                            error=type(exc).__name__, duration_ms=_ms(started))  # fmt: skip
            if response is not None:
                tid = response.headers.get("intuit_tid")
                if response.status_code == 401 and not refreshed:
                    self._log(method, path, response, request_id, started, ["3200"])
                    refreshed = True
                    token = await self._tokens.refresh_after_unauthorized(token)
                    continue
                text = response.text
                body, error = read_response(response.status_code, text, tid, response.headers.get("retry-after"))
                self._log(method, path, response, request_id, started, [e.code for e in error.errors] if error else [])
                if error is None:
                    return body
            assert error is not None
            if not error.is_transient:
                raise error
            if isinstance(error, QboThrottled):
                delay = self._throttle_delay(error, throttled_times)
                throttled_times += 1
                if throttled_times >= self._backoff.attempts:
                    raise error
            else:
                next_delay = next(delays, None)
                if next_delay is None:
                    raise error
                delay = next_delay
            log.info("qbo.request.retry", method=method, path=path, requestid=request_id, code=error.code,
                     delay_seconds=round(delay, 3))  # fmt: skip
            await self._sleep(delay)

    async def _send(
        self,
        method: str,
        path: str,
        query: dict[str, str],
        headers: dict[str, str],
        content: bytes | str | None,
        files: list[tuple[str, tuple[str, bytes, str, dict[str, str]]]] | None,
    ) -> httpx.Response:
        self.requests_sent += 1
        return await self._http.request(
            method, f"{self._base}/{path}", params=query, headers=headers, content=content, files=files
        )

    def _throttle_delay(self, error: QboError, previous: int) -> float:
        header = retry_after_seconds(error.retry_after)
        if header is not None:
            return min(header, self._max_throttle_wait)
        # Intuit says wait 60 s; later throttles back off exponentially with jitter, capped.
        ceiling = min(self._max_throttle_wait, self._throttle_wait * (2**previous))
        return self._rng.uniform(max(self._throttle_wait, ceiling / 2), max(self._throttle_wait, ceiling))

    def _log(
        self, method: str, path: str, response: httpx.Response, request_id: str | None, started: float, codes: list[str]
    ) -> None:
        log.info(
            "qbo.request",
            method=method,
            path=path,
            status=response.status_code,
            intuit_tid=response.headers.get("intuit_tid"),
            requestid=request_id,
            fault_codes=codes or None,
            duration_ms=_ms(started),
        )

    async def _get(self, path: str) -> dict[str, Any]:
        return cast(dict[str, Any], await self._request("GET", path, content_type=None))

    async def _create(self, entity: str, body: dict[str, Any], request_id: str, **params: str) -> dict[str, Any]:
        result = await self._request("POST", entity, params=params, content=money.dumps(body), request_id=request_id)
        return cast(dict[str, Any], result)

    # ---- queries ----------------------------------------------------------------------------------------------------
    async def iter_query(self, statement: str, *, page_size: int = MAX_PAGE_SIZE) -> AsyncIterator[dict[str, Any]]:
        """Yield every row of a query, page by page (ORDERBY Id unless the statement orders itself)."""
        if _PAGING_WORDS.search(statement):
            raise ValueError("the client pages itself: leave STARTPOSITION/MAXRESULTS out of the statement")
        if not 1 <= page_size <= MAX_PAGE_SIZE:
            raise ValueError(f"page_size must be 1..{MAX_PAGE_SIZE}")
        base = statement.strip().rstrip(";")
        if not _ORDER_WORDS.search(base) and "orderby" not in base.lower() and "count(" not in base.lower():
            base += " ORDERBY Id"
        start = 1
        while True:
            paged = f"{base} STARTPOSITION {start} MAXRESULTS {page_size}"
            body = await self._request("POST", "query", content=paged.encode("utf-8"), content_type="application/text")
            response = body.get("QueryResponse") or {}
            keys = [key for key in response if key not in _QUERY_KEYS]
            if not keys:
                return
            rows = response[keys[0]]
            for row in rows:
                yield row
            if len(rows) < page_size:
                return
            start += len(rows)

    async def query(self, statement: str, *, page_size: int = MAX_PAGE_SIZE) -> list[dict[str, Any]]:
        """Every row of a query, with automatic paging. Build literals with quote()."""
        return [row async for row in self.iter_query(statement, page_size=page_size)]

    async def count(self, entity: str, where: str = "") -> int:
        """SELECT COUNT(*) for an entity (with an optional WHERE clause)."""
        statement = f"SELECT COUNT(*) FROM {entity}" + (f" WHERE {where}" if where else "")
        body = await self._request("POST", "query", content=statement.encode(), content_type="application/text")
        return int((body.get("QueryResponse") or {}).get("totalCount", 0))

    # ---- company ----------------------------------------------------------------------------------------------------
    async def preferences(self) -> Preferences:
        """Home currency, multicurrency and tracking flags."""
        body = await self._get("preferences")
        return Preferences.from_wire(body.get("Preferences") or {})

    async def company_info(self) -> CompanyInfo:
        """Company name and country, with the home currency and multicurrency setting from preferences."""
        body = await self._get(f"companyinfo/{self.realm_id}")
        info = body.get("CompanyInfo") or {}
        prefs = await self.preferences()
        return CompanyInfo(
            realm_id=str(info.get("Id") or self.realm_id),
            company_name=str(info.get("CompanyName", "")),
            home_currency=prefs.home_currency,
            multicurrency_enabled=prefs.multicurrency_enabled,
            country=info.get("Country"),
        )

    async def expense_accounts(self) -> list[Account]:
        """Active accounts a Bill expense line may use: Expense, Other Expense, Cost of Goods Sold."""
        rows = await self.query("SELECT * FROM Account WHERE Classification = 'Expense' AND Active = true")
        return [account for account in map(Account.from_wire, rows) if account.is_expense and account.active]

    async def accounts_payable(self) -> list[Account]:
        """Active Accounts Payable accounts (send one as the Bill's APAccountRef)."""
        rows = await self.query("SELECT * FROM Account WHERE AccountType = 'Accounts Payable' AND Active = true")
        return [Account.from_wire(row) for row in rows]

    async def accounts(self, types: Iterable[str], *, active_only: bool = True) -> list[Account]:
        """Accounts of the given AccountTypes (e.g. "Accounts Payable", "Bank", "Credit Card"), with their currency.

        With `active_only=False` inactive ones come too: an account name stays taken while inactive.
        """
        wanted = sorted(set(types))
        if not wanted:
            return []
        active = "Active = true" if active_only else "Active IN (true, false)"
        literals = ", ".join(quote(name) for name in wanted)
        rows = await self.query(f"SELECT * FROM Account WHERE AccountType IN ({literals}) AND {active}")
        return [Account.from_wire(row) for row in rows]

    async def create_account(
        self, name: str, account_type: str, account_sub_type: str, currency: str | None, request_id: str
    ) -> Account:
        """Create an account (e.g. a Bank account "Ontop wallet"); QboDuplicateName (6240) when the name is taken."""
        body: dict[str, Any] = {"Name": name, "AccountType": account_type, "AccountSubType": account_sub_type}
        if currency:
            body["CurrencyRef"] = {"value": currency}
        created = await self._create("account", body, request_id)
        return Account.from_wire(created["Account"])

    async def classes(self) -> list[TrackingRef]:
        """Active classes, every page (a bill line's ClassRef, reference §6.2)."""
        return [TrackingRef.from_wire(row) for row in await self.query("SELECT * FROM Class WHERE Active = true")]

    async def departments(self) -> list[TrackingRef]:
        """Active departments (QuickBooks' locations), every page (a bill's DepartmentRef, reference §6.2)."""
        return [TrackingRef.from_wire(row) for row in await self.query("SELECT * FROM Department WHERE Active = true")]

    async def tax_codes(self) -> list[TaxCode]:
        """Every tax code, inactive included, with its purchase rate when QBO's TaxRate list gives it.

        US companies answer with none: they only know the pseudo-codes TAX and NON.
        """
        rows = await self.query("SELECT * FROM TaxCode WHERE Active IN (true, false)")
        if not rows:
            return []
        rates = {
            str(row["Id"]): to_decimal(row["RateValue"])
            for row in await self.query("SELECT * FROM TaxRate WHERE Active IN (true, false)")
            if row.get("RateValue") is not None
        }
        return [TaxCode.from_wire(row, rates) for row in rows]

    async def exchange_rate(self, currency: str, as_of: date) -> Decimal:
        """Home-currency units per one unit of `currency` on a date (QBO's own rate table)."""
        body = await self._request(
            "GET",
            "exchangerate",
            params={"sourcecurrencycode": currency, "asofdate": as_of.isoformat()},
            content_type=None,
        )
        return to_decimal((body.get("ExchangeRate") or {})["Rate"])

    # ---- vendors ----------------------------------------------------------------------------------------------------
    async def find_vendors_by_email(self, email: str) -> list[Vendor]:
        """Vendors (inactive included) whose primary email matches, case-insensitively."""
        try:
            rows = await self.query(
                f"SELECT * FROM Vendor WHERE PrimaryEmailAddr = {quote(email.strip())} AND Active IN (true, false)"
            )
        except QboValidationError as exc:
            if exc.code != "4001":
                raise
            # Where the email is not filterable, scan every vendor (paged) and match here.
            rows = await self.query("SELECT * FROM Vendor WHERE Active IN (true, false)")
        wanted = email.strip().casefold()
        return [vendor for vendor in map(Vendor.from_wire, rows) if (vendor.email or "").casefold() == wanted]

    async def find_vendor_by_display_name(self, name: str) -> Vendor | None:
        """The vendor holding a DisplayName, inactive included (QBO reserves inactive names too)."""
        rows = await self.query(
            f"SELECT * FROM Vendor WHERE DisplayName = {quote(_normal_name(name))} AND Active IN (true, false)"
        )
        return Vendor.from_wire(rows[0]) if rows else None

    async def name_taken_by(self, display_name: str) -> NameKind | None:
        """Which kind of name-list entity holds a DisplayName (Vendor, Customer, Employee), if any."""
        literal = quote(_normal_name(display_name))
        kinds: tuple[NameKind, ...] = ("Vendor", "Customer", "Employee")
        for kind in kinds:
            rows = await self.query(f"SELECT Id FROM {kind} WHERE DisplayName = {literal} AND Active IN (true, false)")
            if rows:
                return kind
        return None

    async def get_vendor(self, vendor_id: str) -> Vendor:
        """Read one vendor by Id (QboNotFound when it does not exist)."""
        body = await self._get(f"vendor/{vendor_id}")
        return Vendor.from_wire(body["Vendor"])

    async def create_vendor(self, vendor: NewVendor, request_id: str) -> Vendor:
        """Create a vendor; QboDuplicateName (6240) when any Vendor/Customer/Employee holds the name."""
        body = await self._create("vendor", vendor.to_wire(), request_id)
        return Vendor.from_wire(body["Vendor"])

    async def create_vendors_batch(self, items: list[tuple[str, NewVendor, str]]) -> dict[str, Vendor | QboError]:
        """Create up to 30 vendors in one call, each item with its own result (a taken name is that item's
        QboDuplicateName); see create_bills_batch."""
        return await self._create_batch("Vendor", items, Vendor.from_wire)

    # ---- bills ------------------------------------------------------------------------------------------------------
    async def create_bill(self, draft: BillDraft, request_id: str, *, allow_duplicate_doc_number: bool = False) -> Bill:
        """Create a Bill; the same request_id returns the original Bill instead of a second one."""
        params = {"include": "allowduplicatedocnum"} if allow_duplicate_doc_number else {}
        body = await self._create("bill", draft.to_wire(), request_id, **params)
        return Bill.from_wire(body["Bill"])

    async def get_bill(self, bill_id: str) -> Bill | None:
        """Read one Bill by Id (its balance and payments included); None when it does not exist (610)."""
        try:
            body = await self._get(f"bill/{bill_id}")
        except QboNotFound:
            return None
        return Bill.from_wire(body["Bill"])

    async def get_bills(self, bill_ids: Sequence[str]) -> list[Bill]:
        """Bills by Id, one query per thousand (balances and payments included); unknown ids are left out."""
        bills: list[Bill] = []
        for start in range(0, len(bill_ids), MAX_PAGE_SIZE):
            chunk = ", ".join(quote(bill_id) for bill_id in bill_ids[start : start + MAX_PAGE_SIZE])
            if chunk:
                bills.extend(
                    Bill.from_wire(row) for row in await self.query(f"SELECT * FROM Bill WHERE Id IN ({chunk})")
                )
        return bills

    async def find_bills(self, doc_number: str, vendor_id: str | None = None) -> list[Bill]:
        """Bills with a DocNumber (and vendor): the dedupe check before creating after a crash."""
        statement = f"SELECT * FROM Bill WHERE DocNumber = {quote(doc_number)}"
        if vendor_id is not None:
            statement += f" AND VendorRef = {quote(vendor_id)}"
        return [Bill.from_wire(row) for row in await self.query(statement)]

    async def create_bills_batch(self, items: list[tuple[str, BillDraft, str]]) -> dict[str, Bill | QboError]:
        """Create up to 30 Bills in one call: (bId, draft, request_id) in, bId -> Bill or its own QboError out.

        The batch's requestid is derived from the items' request ids, so retrying the same items is idempotent.
        """
        return await self._create_batch("Bill", items, Bill.from_wire)

    # ---- payments and vendor credits -------------------------------------------------------------------------------
    async def create_bill_payment(self, draft: BillPaymentDraft, request_id: str) -> BillPayment:
        """Pay bills (and apply vendor credits); the same request_id returns the original payment."""
        body = await self._create("billpayment", draft.to_wire(), request_id)
        return BillPayment.from_wire(body["BillPayment"])

    async def create_bill_payments_batch(
        self, items: list[tuple[str, BillPaymentDraft, str]]
    ) -> dict[str, BillPayment | QboError]:
        """Create up to 30 BillPayments in one call, each item with its own result (see create_bills_batch)."""
        return await self._create_batch("BillPayment", items, BillPayment.from_wire)

    async def get_bill_payment(self, payment_id: str) -> BillPayment | None:
        """Read one BillPayment by Id; None when it does not exist (610)."""
        try:
            body = await self._get(f"billpayment/{payment_id}")
        except QboNotFound:
            return None
        return BillPayment.from_wire(body["BillPayment"])

    async def create_vendor_credit(self, draft: VendorCreditDraft, request_id: str) -> VendorCredit:
        """Create a VendorCredit (a negative invoice); the same request_id returns the original."""
        body = await self._create("vendorcredit", draft.to_wire(), request_id)
        return VendorCredit.from_wire(body["VendorCredit"])

    async def create_vendor_credits_batch(
        self, items: list[tuple[str, VendorCreditDraft, str]]
    ) -> dict[str, VendorCredit | QboError]:
        """Create up to 30 VendorCredits in one call, each item with its own result (see create_bills_batch)."""
        return await self._create_batch("VendorCredit", items, VendorCredit.from_wire)

    async def get_vendor_credit(self, credit_id: str) -> VendorCredit | None:
        """Read one VendorCredit by Id; None when it does not exist (610)."""
        try:
            body = await self._get(f"vendorcredit/{credit_id}")
        except QboNotFound:
            return None
        return VendorCredit.from_wire(body["VendorCredit"])

    async def find_vendor_credits(self, doc_number: str, vendor_id: str | None = None) -> list[VendorCredit]:
        """VendorCredits with a DocNumber (and vendor): the dedupe check before creating one."""
        statement = f"SELECT * FROM VendorCredit WHERE DocNumber = {quote(doc_number)}"
        if vendor_id is not None:
            statement += f" AND VendorRef = {quote(vendor_id)}"
        return [VendorCredit.from_wire(row) for row in await self.query(statement)]

    async def _create_batch(
        self,
        entity: str,
        items: list[tuple[str, _Draft, str]],
        parse: Callable[[dict[str, Any]], _Created],
    ) -> dict[str, _Created | QboError]:
        """Create up to 30 entities of one kind in a batch: bId -> the created entity or its own QboError."""
        if len(items) > MAX_BATCH_ITEMS:
            raise ValueError(f"a batch holds at most {MAX_BATCH_ITEMS} items, got {len(items)}")
        if not items:
            return {}
        bids = [bid for bid, _, _ in items]
        if len(set(bids)) != len(bids) or any(not bid or len(bid) > 10 for bid in bids):
            raise ValueError("bIds must be unique and 1-10 characters")
        payload = {
            "BatchItemRequest": [
                {"bId": bid, "operation": "create", entity: draft.to_wire()} for bid, draft, _ in items
            ]
        }
        request_id = batch_request_id([request_id for _, _, request_id in items])
        body = await self._request("POST", "batch", content=money.dumps(payload), request_id=request_id, batch=True)
        results: dict[str, _Created | QboError] = {}
        for item in body.get("BatchItemResponse") or []:
            bid = str(item.get("bId", ""))
            parsed = fault_entries(item)
            if parsed is not None:
                results[bid] = error_from_entries(parsed[0], 200, None)
            elif isinstance(item.get(entity), dict):
                results[bid] = parse(item[entity])
        for bid in bids:
            results.setdefault(bid, QboServiceError("missing", "no answer for this batch item", bid))
        return results

    # ---- attachments ------------------------------------------------------------------------------------------------
    async def upload_attachment(
        self, bill_id: str, filename: str, pdf_bytes: bytes, request_id: str, *, background: bool = False
    ) -> Attachable:
        """Upload a PDF and link it to a Bill (multipart, base64 content, one file per request).

        background: the upload yields to batch calls in the rate limiter (sent while bills or payments go out).
        """
        metadata = {
            "AttachableRef": [{"EntityRef": {"type": "Bill", "value": bill_id}, "IncludeOnSend": False}],
            "FileName": filename,
            "ContentType": "application/pdf",
        }
        files = [
            ("file_metadata_01", ("attachment.json", money.dumps(metadata).encode(), "application/json", {})),
            (
                "file_content_01",
                (filename, base64.b64encode(pdf_bytes), "application/pdf", {"Content-Transfer-Encoding": "base64"}),
            ),
        ]
        body = await self._request(
            "POST", "upload", files=files, content_type=None, request_id=request_id, background=background
        )
        first = (body.get("AttachableResponse") or [{}])[0]
        parsed = fault_entries(first)
        if parsed is not None:
            raise error_from_entries(parsed[0], 200, None)
        return Attachable.from_wire(first["Attachable"])


def _normal_name(name: str) -> str:
    return " ".join(name.split())


def _ms(started: float) -> int:
    return int((time.monotonic() - started) * 1000)


__all__ = [
    "MemoryTokenSource",
    "QboAuthError",
    "QboClient",
    "TokenSource",
    "batch_request_id",
    "quote",
]
