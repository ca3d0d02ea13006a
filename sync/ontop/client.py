"""The Ontop API client: one interface (`OntopSource`) the sync engine reads workers and invoices from.

`OntopClient` logs in with the company admin's email and password (A.2), caches the bearer token and renews it
before expiry or on a 401 (once, then retries), pages Spring `Page` responses to the end, retries 429/5xx/timeouts
with jittered back-off and reads every amount as Decimal. Part B (invoices, contracts, PDFs) comes from
`sync/ontop/assumed.py`; with `assumed_api=False` only the documented API is used and each successful payment is
read as a one-line USD invoice (B.1).
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from types import TracebackType
from typing import Any, Protocol

import httpx
import structlog

from sync.money import dumps, loads
from sync.ontop import assumed
from sync.ontop.models import (
    Concept,
    Invoice,
    InvoiceLine,
    InvoiceStatus,
    OntopAuthError,
    OntopDataError,
    OntopError,
    OntopNotFoundError,
    OntopRequestError,
    OntopUnavailableError,
    RecordReader,
    Worker,
    WorkerStatus,
    known_or_raw,
)
from sync.retry import Backoff, retry_after_seconds

logger = structlog.get_logger(__name__)

# Part A paths.
LOGIN_PATH = "/login/login/v2"
WORKERS_LIST_PATH = "/contract/workers/list"
WORKER_BY_EMAIL_PATH = "/contract/workers"
PAYMENTS_PATH = "/payment-agent/payments"

DEFAULT_TIMEOUT = httpx.Timeout(connect=5.0, read=30.0, write=30.0, pool=5.0)
RETRYABLE_STATUSES = frozenset({429, 500, 502, 503, 504})
RENEW_BEFORE_EXPIRY = timedelta(seconds=60)
BAD_CREDENTIALS_MESSAGE = (
    "Ontop did not accept this email and password. Check that they belong to an Ontop admin of the company "
    "and enter them again."
)


@dataclass(frozen=True)
class OntopCredentials:
    """An Ontop company admin's login; the repr never shows the password (nor the full email, which is PII)."""

    email: str
    password: str = field(repr=False)

    def __repr__(self) -> str:
        local, _, domain = self.email.partition("@")
        return f"OntopCredentials(email='{local[:1]}***@{domain}', password='***')"


class OntopSource(Protocol):
    """What the sync engine reads from Ontop."""

    def workers(self) -> AsyncIterator[Worker]:
        """Every agreement (worker contract) of the company, ended ones included."""
        ...

    def invoices_changed_since(self, since: datetime | None) -> AsyncIterator[list[Invoice]]:
        """Invoices updated at or after `since` (all when None), one page at a time, oldest change first."""
        ...

    async def count_changed_since(self, since: datetime | None) -> int | None:
        """How many invoices `invoices_changed_since` would read now; None when Ontop cannot say."""
        ...

    async def invoice(self, invoice_id: int) -> Invoice:
        """One invoice as it is now; raises OntopNotFoundError."""
        ...

    async def invoice_pdf(self, invoice: Invoice) -> bytes | None:
        """The invoice's PDF, or None when Ontop has none for it."""
        ...

    async def check_credentials(self) -> None:
        """Log in now; raises OntopAuthError with a message an admin can read."""
        ...


class OntopClient:
    """`OntopSource` over Ontop's HTTP API. Use as an async context manager (closes the HTTP client it created)."""

    def __init__(
        self,
        base_url: str,
        credentials: OntopCredentials,
        *,
        http: httpx.AsyncClient | None = None,
        backoff: Backoff = Backoff(),
        timeout: httpx.Timeout = DEFAULT_TIMEOUT,
        page_size: int = 100,
        max_pages: int = 100_000,
        assumed_api: bool = True,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        rng: random.Random | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._base_url = base_url.rstrip("/")
        self._credentials = credentials
        self._owns_http = http is None
        self._http = http or httpx.AsyncClient(timeout=timeout)
        self._backoff = backoff
        self._timeout = timeout
        self._page_size = page_size
        self._max_pages = max_pages
        self._assumed_api = assumed_api
        self._sleep = sleep
        self._rng = rng or random.Random()
        self._clock = clock
        self._token: str | None = None
        self._token_renew_at = 0.0
        self._login_lock = asyncio.Lock()
        self.logins = 0  # how many times we logged in (observability and tests)

    def __repr__(self) -> str:
        return f"OntopClient(base_url={self._base_url!r}, assumed_api={self._assumed_api})"

    async def __aenter__(self) -> OntopClient:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        if self._owns_http:
            await self._http.aclose()

    # ---- OntopSource ----

    async def check_credentials(self) -> None:
        """Log in now (even with a cached token); raises OntopAuthError on bad credentials."""
        async with self._login_lock:
            await self._login()

    async def workers(self) -> AsyncIterator[Worker]:
        """Every agreement, with contract terms (currency, type, dates) when the assumed API is on."""
        terms: dict[int, assumed.ContractTerms] = {}
        if self._assumed_api:
            # Workers are few (not invoices): holding the contract terms while streaming the rows is fine.
            async for page in self._pages(assumed.AGREEMENTS_PATH, {}):
                for row in page:
                    contract = assumed.parse_contract(row)
                    terms[contract.agreement_id] = contract
        async for page in self._pages(WORKERS_LIST_PATH, {}):
            for row in page:
                worker = parse_worker(row)
                terms_of_worker = terms.get(worker.agreement_id)
                yield _with_terms(worker, terms_of_worker) if terms_of_worker else worker

    async def worker_by_email(self, email: str) -> Worker | None:
        """The onboarded worker with this email, or None when Ontop says there is none (A.4)."""
        try:
            body = await self._get_json(WORKER_BY_EMAIL_PATH, {"email": email})
        except OntopNotFoundError:
            return None
        return parse_worker(body)

    async def invoices_changed_since(
        self, since: datetime | None, until: datetime | None = None
    ) -> AsyncIterator[list[Invoice]]:
        """Invoices with updateDate in [since, until), page by page, sorted by update time then id.

        Pages are anchored on the last update time seen rather than on a page number, so an invoice that changes
        while we read (and jumps to the end of the ordering) never makes us skip another one.
        """
        if not self._assumed_api:
            async for invoices in self._invoices_from_payments(since, until):
                yield invoices
            return
        cursor = since
        seen_at_cursor: set[int] = set()
        page = 0
        for _ in range(self._max_pages):
            body = await self._get_json(
                assumed.INVOICES_PATH, assumed.invoices_query(cursor, until, page, self._page_size)
            )
            rows = _page_content(body, assumed.INVOICES_PATH)
            invoices = [assumed.parse_invoice(row) for row in rows]
            fresh = [inv for inv in invoices if not (inv.updated_at == cursor and inv.id in seen_at_cursor)]
            if fresh:
                yield fresh
            if not _has_more(body, len(rows), self._page_size):
                return
            newest = invoices[-1].updated_at
            if newest == cursor:
                page += 1  # a whole page shares one timestamp: step through it by page number
            else:
                cursor, page, seen_at_cursor = newest, 0, set()
            seen_at_cursor.update(inv.id for inv in invoices if inv.updated_at == cursor)
        raise OntopError(f"Ontop invoices did not end after {self._max_pages} pages")

    async def count_changed_since(self, since: datetime | None) -> int | None:
        """The page wrapper's totalElements for a one-row page (documented-only: unknown, payments are not invoices)."""
        if not self._assumed_api:
            return None
        body = await self._get_json(assumed.INVOICES_PATH, assumed.invoices_query(since, None, 0, 1))
        total = body.get("totalElements") if isinstance(body, Mapping) else None
        return total if isinstance(total, int) and not isinstance(total, bool) and total >= 0 else None

    async def invoice(self, invoice_id: int) -> Invoice:
        if not self._assumed_api:
            return invoice_from_payment(await self._get_json(f"{PAYMENTS_PATH}/{invoice_id}"))
        return assumed.parse_invoice(await self._get_json(assumed.invoice_path(invoice_id)))

    async def register_webhook(self, url: str, secret: str) -> bool:
        """Point Ontop's webhook at `url`, signed with `secret` (assumed API B.6); False when not supported."""
        if not self._assumed_api:
            return False
        body = assumed.webhook_config_body(url, secret)
        await self._send("POST", assumed.WEBHOOKS_PATH, content=body)
        return True

    async def invoice_pdf(self, invoice: Invoice) -> bytes | None:
        if not self._assumed_api or not invoice.pdf_available:
            return None
        try:
            response = await self._send("GET", assumed.invoice_pdf_path(invoice.id))
        except OntopNotFoundError:
            return None
        if not response.content.startswith(assumed.PDF_MAGIC):
            raise OntopDataError("invoice", invoice.id, "pdf", "is not a PDF file")
        return response.content

    # ---- documented-only invoices (B.1) ----

    async def _invoices_from_payments(
        self, since: datetime | None, until: datetime | None
    ) -> AsyncIterator[list[Invoice]]:
        params: dict[str, Any] = {}
        if since is not None:
            params["startDate"] = assumed.instant(since)
        if until is not None:
            params["endDate"] = assumed.instant(until)
        async for page in self._pages(PAYMENTS_PATH, params):
            invoices = [invoice_from_payment(row) for row in page if isinstance(row, Mapping)]
            paid = [invoice for invoice in invoices if invoice.status == InvoiceStatus.PAID]
            if paid:
                yield paid

    # ---- HTTP ----

    async def _pages(self, path: str, params: Mapping[str, Any]) -> AsyncIterator[list[Any]]:
        """Spring pages from page 0 until `last` (or a short/empty page when `last` is absent)."""
        for page in range(self._max_pages):
            body = await self._get_json(path, {**params, "page": page, "size": self._page_size})
            content = _page_content(body, path)
            if content:
                yield content
            if not _has_more(body, len(content), self._page_size):
                return
        raise OntopError(f"Ontop {path} did not end after {self._max_pages} pages")

    async def _get_json(self, path: str, params: Mapping[str, Any] | None = None) -> Any:
        response = await self._send("GET", path, params=params)
        return _json(response, path)

    async def _send(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        content: bytes | None = None,
        authenticated: bool = True,
    ) -> httpx.Response:
        """One call with back-off on 429/5xx/timeouts and one re-login on 401; raises for any other failure."""
        delays = self._backoff.delays(self._rng)
        renewed = False
        attempt = 0
        while True:
            attempt += 1
            headers = {"Content-Type": "application/json"} if content is not None else {}
            token = None
            if authenticated:
                token = await self._valid_token()
                headers["Authorization"] = f"Bearer {token}"
            try:
                response = await self._http.request(
                    method,
                    self._base_url + path,
                    params=params,
                    content=content,
                    headers=headers,
                    timeout=self._timeout,
                )
            except httpx.TransportError as exc:
                delay = next(delays, None)
                logger.warning(
                    "ontop_transport_error", method=method, path=path, attempt=attempt, error=type(exc).__name__
                )
                if delay is None:
                    raise OntopUnavailableError(f"Ontop did not answer {method} {path}: {type(exc).__name__}") from None
                await self._sleep(delay)
                continue
            if response.status_code == 401 and authenticated:
                logger.info("ontop_token_rejected", path=path, renewed_already=renewed)
                if renewed:
                    raise OntopAuthError("Ontop rejected our session right after logging in again; try again later.")
                renewed = True
                self._forget_token(token)
                continue
            if response.status_code in RETRYABLE_STATUSES:
                delay = next(delays, None)
                logger.warning(
                    "ontop_retryable_status", method=method, path=path, status=response.status_code, attempt=attempt
                )
                if delay is None:
                    raise OntopUnavailableError(f"Ontop kept answering {response.status_code} to {method} {path}")
                retry_after = retry_after_seconds(response.headers.get("Retry-After"))
                await self._sleep(min(retry_after, self._backoff.max_seconds) if retry_after is not None else delay)
                continue
            if response.status_code == 404:
                raise OntopNotFoundError(_error_text(response, f"{path} not found"))
            if response.status_code >= 400:
                raise OntopRequestError(response.status_code, _error_text(response, response.reason_phrase))
            return response

    async def _valid_token(self) -> str:
        if self._token and self._clock() < self._token_renew_at:
            return self._token
        async with self._login_lock:  # one login in flight; the others wait for its token
            if not self._token or self._clock() >= self._token_renew_at:
                await self._login()
            assert self._token is not None
            return self._token

    def _forget_token(self, token: str | None) -> None:
        if token is not None and token == self._token:
            self._token = None

    async def _login(self) -> None:
        """POST the documented login body; a refused login is never retried (it would only lock the account)."""
        email = self._credentials.email
        body = {
            "email": email,
            "password": self._credentials.password,
            "rememberMe": False,
            "recaptchaToken": "",
            "user": email,
            "webDeviceInfo": "Backend",
        }
        try:
            response = await self._send("POST", LOGIN_PATH, content=dumps(body).encode(), authenticated=False)
        except OntopRequestError as exc:
            if exc.status_code in (400, 401, 403):
                logger.warning("ontop_login_refused", status=exc.status_code)
                raise OntopAuthError(BAD_CREDENTIALS_MESSAGE) from None
            raise
        except OntopNotFoundError:
            raise OntopAuthError("Ontop's login address was not found; check the Ontop API URL.") from None
        token = assumed.token_from_login(_json(response, LOGIN_PATH))
        if token is None:
            raise OntopAuthError("Ontop's login answer held no token; the Ontop API may have changed.")
        expires = assumed.token_expiry(token)
        now = self._clock()
        expires_at = expires.timestamp() if expires else now + assumed.DEFAULT_TOKEN_SECONDS
        self._token = token
        self._token_renew_at = max(now, expires_at - RENEW_BEFORE_EXPIRY.total_seconds())
        self.logins += 1
        logger.info("ontop_logged_in", expires_in=int(expires_at - now))


def _json(response: httpx.Response, path: str) -> Any:
    try:
        return loads(response.content)
    except ValueError:
        raise OntopError(f"Ontop answered {path} with something that is not JSON") from None


def _error_text(response: httpx.Response, fallback: str) -> str:
    try:
        body: Any = loads(response.content)
    except ValueError:
        body = response.text[:200] or None
    return assumed.error_message(body, body if isinstance(body, str) else fallback)


def _page_content(body: Any, path: str) -> list[Any]:
    content = body.get("content") if isinstance(body, Mapping) else None
    if not isinstance(content, list):
        raise OntopDataError("page", path, "content")
    return content


def _has_more(body: Mapping[str, Any], count: int, size: int) -> bool:
    last = body.get("last")
    if isinstance(last, bool):
        return not last and count > 0
    return count >= size


def parse_worker(data: Any) -> Worker:
    """One A.4 worker row (list element or `?email=` answer)."""
    if not isinstance(data, Mapping):
        raise OntopDataError("worker", "(unknown)", "(record)", "is not a JSON object")
    record = RecordReader("worker", data, data.get("agreementId") or "(no id)")
    return Worker(
        agreement_id=record.required_int("agreementId"),
        email=record.optional_str("email"),
        status=known_or_raw(WorkerStatus, record.required_str("status")),
        first_name=record.optional_str("firstName"),
        last_name=record.optional_str("lastName"),
        legal_name=record.optional_str("legalName"),
        job_title=record.optional_str("jobTitle"),
        country=record.optional_str("country"),
        external_id=record.optional_str("externalId"),
        created_at=record.optional_datetime("workerCreationDate"),
    )


def _with_terms(worker: Worker, contract: assumed.ContractTerms) -> Worker:
    return replace(
        worker,
        worker_type=contract.worker_type,
        country_iso=contract.country_iso,
        currency=contract.currency,
        contract_type=contract.contract_type,
        start_date=contract.start_date,
        end_date=contract.end_date,
    )


def invoice_from_payment(data: Any) -> Invoice:
    """Documented-only mode (B.1): a paylist payment read as a one-line USD invoice; SUCCESS means PAID."""
    if not isinstance(data, Mapping):
        raise OntopDataError("payment", "(unknown)", "(record)", "is not a JSON object")
    record = RecordReader("payment", data, data.get("id") or "(no id)")
    payment_id = record.required_int("id")
    amount = record.required_decimal("amount")
    status = record.required_str("status")
    updated = record.optional_datetime("update_date") or record.required_datetime("creation_date")
    description = record.optional_str("description") or f"Ontop payment {payment_id}"
    return Invoice(
        id=payment_id,
        number=f"ONTOP-PAY-{payment_id}",
        agreement_id=None,
        worker_email=record.optional_str("worker_email"),
        status=InvoiceStatus.PAID if status == "SUCCESS" else status,
        currency="USD",
        total=amount,
        lines=[InvoiceLine(concept=Concept.COMPENSATION, description=description, amount=amount, amount_usd=amount)],
        updated_at=updated,
        created_at=record.optional_datetime("creation_date"),
        issue_date=updated.astimezone(UTC).date(),
        exchange_rate=None,
        usd_equivalent=amount,
    )
