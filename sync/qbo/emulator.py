"""A local QuickBooks Online emulator (Starlette) reproducing the wire behaviour in the QBO reference (§16).

OAuth (`/connect/oauth2`, `/oauth2/v1/tokens/bearer`, `/v2/oauth2/tokens/revoke`), the Accounting API under
`/v3/company/{realm}/...`, and control endpoints under `/_emulator/` to seed, inject faults and inspect writes.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import email.policy
import hmac
import secrets
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from email.parser import BytesParser
from typing import Any
from urllib.parse import parse_qsl, urlencode

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from sync import money
from sync.qbo.emulator_entities import (
    NAME_KINDS,
    EmulatedFault,
    create_bill,
    create_name_entity,
    delete_entity,
    read_entity,
    required,
    update_entity,
)
from sync.qbo.emulator_query import QueryError, parse_query, run_query
from sync.qbo.emulator_state import (
    ACCOUNTING_SCOPE,
    DEFAULT_CLIENT_ID,
    DEFAULT_CLIENT_SECRET,
    DEFAULT_REALM,
    Company,
    QboEmulatorState,
)

__all__ = ["QboEmulatorState", "create_qbo_emulator", "run_qbo_emulator"]

JSON_TYPE = "application/json;charset=UTF-8"
ENTITY_KINDS = {"vendor": "Vendor", "customer": "Customer", "employee": "Employee", "bill": "Bill",
                "account": "Account", "attachable": "Attachable", "term": "Term", "class": "Class",
                "department": "Department"}  # fmt: skip
CDC_MAX_OBJECTS = 1000
WRITABLE_KINDS = {"Vendor", "Customer", "Employee", "Bill", "Attachable"}
ALLOWED_FILE_TYPES = {"ai", "csv", "doc", "docx", "eps", "gif", "jpeg", "jpg", "ods", "pdf", "png", "rtf", "tif",
                      "txt", "xls", "xlsx", "xml"}  # fmt: skip
ATTACHABLE_ENTITY_TYPES = {"Bill", "Vendor", "Invoice", "Purchase", "JournalEntry", "Customer", "Estimate"}
MAX_UPLOAD_BYTES = 100 * 1024 * 1024
THROTTLE_DETAIL = "The request limit was reached.  Try again later"


def new_intuit_tid() -> str:
    """A transaction id shaped like Intuit's: 1-<8 hex>-<24 hex>."""
    return f"1-{secrets.token_hex(4)}-{secrets.token_hex(12)}"


def gateway_fault(status: int, code: str, name: str, detail: str, fault_type: str) -> dict[str, Any]:
    """The lower-case gateway envelope of §13.2 (401, 403, 429); `time` is epoch milliseconds."""
    return {
        "warnings": None,
        "intuitObject": None,
        "fault": {
            "error": [
                {
                    "message": f"message={name}; errorCode={int(code):06d}; statusCode={status}",
                    "detail": detail,
                    "code": code,
                    "element": None,
                }
            ],
            "type": fault_type,
        },
        "report": None,
        "queryResponse": None,
        "batchItemResponse": [],
        "attachableResponse": [],
        "syncErrorResponse": None,
        "requestId": None,
        "time": int(time.time() * 1000),
        "status": None,
        "cdcresponse": [],
    }


def json_bytes(status: int, body: Any, headers: dict[str, str] | None = None) -> Response:
    return Response(money.dumps(body).encode(), status_code=status, media_type=JSON_TYPE, headers=headers)


def unauthorized(detail: str) -> Response:
    return json_bytes(
        401,
        gateway_fault(401, "3200", "AuthenticationFailed", detail, "AUTHENTICATION"),
        {"WWW-Authenticate": 'Bearer realm="Intuit", error="invalid_token"'},
    )


def forbidden(detail: str) -> Response:
    return json_bytes(403, gateway_fault(403, "3100", "ApplicationAuthorizationFailed", detail, "SERVICE"))


def throttled(state: QboEmulatorState) -> Response:
    headers = {"Retry-After": state.switches.retry_after} if state.switches.retry_after is not None else {}
    if state.switches.throttle_xml:
        xml = (
            f'<IntuitResponse time="{time.strftime("%Y-%m-%dT%H:%M:%S")}.000-08:00" '
            'xmlns="http://schema.intuit.com/finance/v3"><Fault type="SERVICE"><Error code="3001">'
            "<Message>message=ThrottleExceeded; errorCode=003001; statusCode=429</Message>"
            f"<Detail>{THROTTLE_DETAIL}</Detail></Error></Fault></IntuitResponse>"
        )
        return Response(xml, status_code=429, media_type="application/xml", headers=headers)
    return json_bytes(429, gateway_fault(429, "3001", "ThrottleExceeded", THROTTLE_DETAIL, "SERVICE"), headers)


def system_fault(state: QboEmulatorState, company: Company | None) -> Response:
    fault = EmulatedFault(
        "10000",
        "An application error has occurred while processing your request",
        "System Failure Error: An unexpected error occurred while accessing or saving your data. "
        "Please wait a few minutes and try again. If the problem persists, contact customer support.",
        "SystemFailureError",
        status=500,
        fault_type="SystemFault",
    )
    return json_bytes(500, {"Fault": fault.fault(), "time": _envelope_time(state, company)})


def _envelope_time(state: QboEmulatorState, company: Company | None) -> str:
    if company is None:
        return state.now().isoformat(timespec="milliseconds")
    return state.local_time(company, millis=True)


class _Gateway:
    """Outer ASGI layer: intuit_tid on every response, per-realm rate limits, and injected faults."""

    def __init__(self, app: ASGIApp, state: QboEmulatorState) -> None:
        self.app = app
        self.state = state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        tid = new_intuit_tid().encode()

        async def send_with_tid(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), (b"intuit_tid", tid)]}
            await send(message)

        path: str = scope["path"]
        if not path.startswith("/v3/company/"):
            await self.app(scope, receive, send_with_tid)
            return
        realm_id = path.split("/")[3]
        if not self.state.admit(realm_id, path.rstrip("/").endswith("/batch"), time.monotonic()):
            await throttled(self.state)(scope, receive, send_with_tid)
            return
        rule = self.state.take_fault(path)
        if rule is not None:
            if rule.kind == "reset":
                # Start a response then abandon it: the client sees the connection close mid-message.
                await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"4096")]})
                await send({"type": "http.response.body", "body": b"{", "more_body": True})
                return
            if rule.kind == "timeout":
                await asyncio.sleep(rule.delay_seconds)
            else:
                await self._fault_response(rule.kind)(scope, receive, send_with_tid)
                return
        self.state.enter(realm_id)
        try:
            await self.app(scope, receive, send_with_tid)
        finally:
            self.state.leave(realm_id)

    def _fault_response(self, kind: str) -> Response:
        if kind == "429":
            return throttled(self.state)
        if kind == "503":
            return PlainTextResponse("Service Unavailable", status_code=503)
        if kind == "expire_token":
            return unauthorized("Token expired: eyJlbmMiOiJBMTI4...")
        return system_fault(self.state, None)


def create_qbo_emulator(state: QboEmulatorState | None = None) -> Starlette:
    """Build the emulator app. Without a state, one company and the default OAuth client are seeded."""
    if state is None:
        state = QboEmulatorState()
        state.register_client()
        state.seed_company()
    emulator = _Emulator(state)
    app = Starlette(routes=emulator.routes())
    app.state.qbo = state
    app.add_middleware(_Gateway, state=state)
    return app


Handler = Callable[[Request], Awaitable[Response]]


class _Emulator:
    def __init__(self, state: QboEmulatorState) -> None:
        self.state = state

    def routes(self) -> list[Route]:
        api = "/v3/company/{realm_id}"
        return [
            Route("/.well-known/openid_configuration/", self.discovery, methods=["GET"]),
            Route("/.well-known/openid_configuration", self.discovery, methods=["GET"]),
            Route("/.well-known/openid_sandbox_configuration/", self.discovery, methods=["GET"]),
            Route("/.well-known/openid_sandbox_configuration", self.discovery, methods=["GET"]),
            Route("/connect/oauth2", self.authorize, methods=["GET"]),
            Route("/oauth2/v1/tokens/bearer", self.token, methods=["POST"]),
            Route("/v2/oauth2/tokens/revoke", self.revoke, methods=["POST"]),
            Route(f"{api}/companyinfo/{{company_id}}", self.api(self.company_info), methods=["GET"]),
            Route(f"{api}/preferences", self.api(self.preferences), methods=["GET"]),
            Route(f"{api}/query", self.api(self.query), methods=["GET", "POST"]),
            Route(f"{api}/batch", self.api(self.batch, write=True), methods=["POST"]),
            Route(f"{api}/upload", self.api(self.upload, write=True), methods=["POST"]),
            Route(f"{api}/download/{{entity_id}}", self.api(self.download), methods=["GET"]),
            Route(f"{api}/cdc", self.api(self.cdc), methods=["GET"]),
            Route(f"{api}/exchangerate", self.api(self.exchange_rate), methods=["GET"]),
            Route(f"{api}/{{entity}}", self.api(self.write_entity, write=True), methods=["POST"]),
            Route(f"{api}/{{entity}}/{{entity_id}}", self.api(self.read), methods=["GET"]),
            Route("/_emulator/seed", self.control_seed, methods=["POST"]),
            Route("/_emulator/faults", self.control_faults, methods=["POST", "DELETE", "GET"]),
            Route("/_emulator/switches", self.control_switches, methods=["POST", "GET"]),
            Route("/_emulator/entities/{kind}", self.control_entities, methods=["GET"]),
            Route("/_emulator/audit", self.control_audit, methods=["GET"]),
            Route("/_emulator/stats", self.control_stats, methods=["GET"]),
            Route("/_emulator/tokens", self.control_tokens, methods=["POST"]),
            Route("/_emulator/clock", self.control_clock, methods=["POST"]),
            Route("/_emulator/reset", self.control_reset, methods=["POST"]),
        ]

    # ---- OAuth -------------------------------------------------------------------------------------------------
    async def discovery(self, request: Request) -> Response:
        base = str(request.base_url).rstrip("/")
        sandbox = "sandbox" in request.url.path
        return JSONResponse(
            {
                "issuer": f"{base}/op/v1",
                "authorization_endpoint": f"{base}/connect/oauth2",
                "token_endpoint": f"{base}/oauth2/v1/tokens/bearer",
                "userinfo_endpoint": f"{base}/v1/openid_connect/userinfo" + ("?env=sandbox" if sandbox else ""),
                "revocation_endpoint": f"{base}/v2/oauth2/tokens/revoke",
                "jwks_uri": f"{base}/op/v1/jwks",
                "response_types_supported": ["code"],
                "scopes_supported": ["openid", "email", "profile", "address", "phone"],
                "token_endpoint_auth_methods_supported": ["client_secret_post", "client_secret_basic"],
                "claims_supported": ["aud", "exp", "iat", "iss", "realmid", "sub"],
            }
        )

    async def authorize(self, request: Request) -> Response:
        params = request.query_params
        client = self.state.clients.get(params.get("client_id", ""))
        redirect_uri = params.get("redirect_uri", "")
        if client is None:
            return PlainTextResponse("invalid client_id", status_code=400)
        if client.redirect_uris and redirect_uri not in client.redirect_uris:
            return PlainTextResponse("redirect_uri is not registered for this app", status_code=400)
        if not redirect_uri.startswith(("http://", "https://")):
            return PlainTextResponse("invalid redirect_uri", status_code=400)
        state_param = params.get("state", "")
        scopes = params.get("scope", "").split()
        if params.get("response_type") != "code":
            return _redirect(redirect_uri, {"error": "unsupported_response_type", "state": state_param})
        if ACCOUNTING_SCOPE not in scopes:
            return _redirect(redirect_uri, {"error": "invalid_scope", "state": state_param})
        if self.state.switches.deny_consent:
            return _redirect(redirect_uri, {"error": "access_denied", "state": state_param})
        realm_id = params.get("realmId") or next(iter(self.state.companies), DEFAULT_REALM)
        code = self.state.issue_code(client.client_id, redirect_uri, realm_id, scopes)
        return _redirect(redirect_uri, {"code": code, "state": state_param, "realmId": realm_id})

    def _client_from_basic(self, request: Request) -> str | None:
        header = request.headers.get("authorization", "")
        if not header.lower().startswith("basic "):
            return None
        try:
            client_id, _, secret = base64.b64decode(header[6:].strip()).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return None
        client = self.state.clients.get(client_id)
        if client is None or not hmac.compare_digest(client.client_secret, secret):
            return None
        return client_id

    async def token(self, request: Request) -> Response:
        client_id = self._client_from_basic(request)
        if client_id is None:
            return JSONResponse({"error": "invalid_client"}, status_code=401)
        form = dict(_parse_form(await request.body()))
        include_hard = request.headers.get("x-include-refresh-token-hard-expires-in", "").lower() == "true"
        with self.state.lock:
            if form.get("grant_type") == "authorization_code":
                return self._exchange_code(client_id, form, include_hard)
            if form.get("grant_type") == "refresh_token":
                return self._refresh(client_id, form, include_hard)
        return JSONResponse({"error": "unsupported_grant_type"}, status_code=400)

    def _exchange_code(self, client_id: str, form: dict[str, str], include_hard: bool) -> Response:
        code = self.state.codes.get(form.get("code", ""))
        if code is None or code.client_id != client_id:
            return JSONResponse({"error": "invalid_grant"}, status_code=400)
        if code.used:
            # A second exchange of the same code kills what the first produced (oauth-jsclient #173).
            if code.grant_id and code.grant_id in self.state.grants:
                self.state.grants[code.grant_id].revoked = True
            return JSONResponse({"error": "invalid_grant"}, status_code=400)
        if self.state.now() >= code.expires_at or form.get("redirect_uri") != code.redirect_uri:
            return JSONResponse({"error": "invalid_grant"}, status_code=400)
        code.used = True
        grant = self.state.new_grant(client_id, code.realm_id, code.scopes)
        code.grant_id = grant.grant_id
        access = self.state.new_access_token(grant)
        return JSONResponse(self.state.token_response(grant, access, include_hard=include_hard))

    def _refresh(self, client_id: str, form: dict[str, str], include_hard: bool) -> Response:
        grant = self.state.grant_for_refresh_token(form.get("refresh_token", ""))
        if grant is None or grant.client_id != client_id:
            return JSONResponse(
                {"error_description": "Incorrect or invalid refresh token", "error": "invalid_grant"}, status_code=400
            )
        now = self.state.now()
        rotate_after = self.state.switches.rotate_after_hours * 3600
        if rotate_after <= 0 or (now - grant.refresh_issued_at).total_seconds() >= rotate_after:
            grant.superseded[grant.refresh_token] = now
            grant.refresh_token = "AB117" + secrets.token_urlsafe(36)
            grant.refresh_issued_at = now
        rolling = now + self._seconds(self.state.switches.refresh_ttl_seconds)
        grant.refresh_expires_at = min(rolling, grant.hard_expires_at)
        access = self.state.new_access_token(grant)
        return JSONResponse(self.state.token_response(grant, access, include_hard=include_hard))

    @staticmethod
    def _seconds(value: int) -> timedelta:
        return timedelta(seconds=value)

    async def revoke(self, request: Request) -> Response:
        if self._client_from_basic(request) is None:
            return JSONResponse({"error": "invalid_client"}, status_code=401)
        try:
            body = money.loads(await request.body())
        except ValueError:
            return JSONResponse({"error": "invalid_request"}, status_code=400)
        token = body.get("token") if isinstance(body, dict) else None
        if not token:
            return JSONResponse({"error": "invalid_request"}, status_code=400)
        self.state.revoke_token(str(token))
        return Response(b"", status_code=200)

    # ---- API plumbing --------------------------------------------------------------------------------------------
    def api(self, handler: Callable[[Request, Company], Awaitable[Any]], *, write: bool = False) -> Handler:
        """Wrap an API handler: bearer check, realm check, requestid replay, fault envelopes."""

        async def endpoint(request: Request) -> Response:
            realm_id = request.path_params["realm_id"]
            rejection, company = self._authenticate(request, realm_id)
            if rejection is not None or company is None:
                return rejection or forbidden("company not found")
            await request.body()  # read (and cache) the body before taking the state lock
            request_id = request.query_params.get("requestid") if write else None
            limit = 36 if request.url.path.endswith("/batch") else 50
            if request_id is not None and len(request_id) > limit:
                return self._fault_response(
                    company,
                    EmulatedFault("2050", "String length is either shorter or longer than supported by specification",
                                  f"requestid is longer than {limit} characters", "requestid"),
                )  # fmt: skip
            if request_id:
                with self.state.lock:
                    cached = company.replay.get(request_id)
                if cached is not None:
                    if self.state.switches.requestid_answer_600:
                        return self._fault_response(
                            company, EmulatedFault("600", "Duplicate Request ID", "Duplicate Request ID", "requestid")
                        )
                    return Response(cached[1], status_code=cached[0], media_type=JSON_TYPE)
            try:
                with self.state.lock:
                    result = await handler(request, company)
            except EmulatedFault as fault:
                response = self._fault_response(company, fault)
                if request_id and self.state.switches.requestid_cache_failures:
                    with self.state.lock:
                        company.replay[request_id] = (response.status_code, bytes(response.body))
                return response
            except QueryError as error:
                return self._fault_response(company, EmulatedFault(error.code, error.message, error.detail))
            if isinstance(result, Response):
                return result
            body = money.dumps({**result, "time": self.state.local_time(company, millis=True)}).encode()
            if request_id:
                with self.state.lock:
                    company.replay[request_id] = (200, body)
            return Response(body, status_code=200, media_type=JSON_TYPE)

        return endpoint

    def _authenticate(self, request: Request, realm_id: str) -> tuple[Response | None, Company | None]:
        header = request.headers.get("authorization", "")
        if not header.lower().startswith("bearer ") or len(header) < 20:
            return unauthorized("Malformed bearer token: too short or too long"), None
        token_text = header[7:].strip()
        with self.state.lock:
            token = self.state.access_tokens.get(token_text)
            grant = self.state.grants.get(token.grant_id) if token is not None else None
            if token is None or grant is None:
                return unauthorized("Token invalid: " + token_text[:10] + "..."), None
            if grant.revoked:
                return unauthorized("Token revoked: " + token_text[:10] + "..."), None
            if self.state.now() >= token.expires_at:
                return unauthorized("Token expired: " + token_text[:10] + "..."), None
            if grant.realm_id != realm_id or realm_id not in self.state.companies:
                return forbidden("The access token is not valid for this company"), None
            if ACCOUNTING_SCOPE not in grant.scopes:
                return forbidden("The access token does not have sufficient scope"), None
            return None, self.state.companies[realm_id]

    def _fault_response(self, company: Company, fault: EmulatedFault) -> Response:
        return json_bytes(fault.status, {"Fault": fault.fault(), "time": self.state.local_time(company, millis=True)})

    # ---- API handlers --------------------------------------------------------------------------------------------
    async def company_info(self, request: Request, company: Company) -> dict[str, Any]:
        if request.path_params["company_id"] != company.realm_id:
            raise EmulatedFault("610", "Object Not Found", "Object Not Found : CompanyInfo")
        address = {"Id": "1", "Line1": "100 Market St", "City": "San Francisco", "CountrySubDivisionCode": "CA",
                   "PostalCode": "94105", "Country": company.country}  # fmt: skip
        return {
            "CompanyInfo": {
                "Id": company.realm_id,
                "SyncToken": "0",
                "domain": "QBO",
                "sparse": False,
                "CompanyName": company.company_name,
                "LegalName": company.company_name,
                "CompanyAddr": address,
                "LegalAddr": address,
                "CustomerCommunicationAddr": address,
                "Country": company.country,
                "FiscalYearStartMonth": "January",
                "CompanyStartDate": "2020-01-01",
                "SupportedLanguages": "en",
                "DefaultTimeZone": "America/Los_Angeles",
                "NameValue": [{"Name": "NeoEnabled", "Value": "true"}],
                "MetaData": self.state.meta(company),
            }
        }

    async def preferences(self, request: Request, company: Company) -> dict[str, Any]:
        return {
            "Preferences": {
                "Id": "1",
                "SyncToken": "0",
                "domain": "QBO",
                "sparse": False,
                "CurrencyPrefs": {
                    "MultiCurrencyEnabled": company.multicurrency_enabled,
                    "HomeCurrency": {"value": company.home_currency},
                },
                "AccountingInfoPrefs": {
                    "ClassTrackingPerLine": company.class_tracking_per_line,
                    "ClassTrackingPerTxn": False,
                    "TrackDepartments": False,
                },
                "VendorAndPurchasesPrefs": {
                    "EnableBills": True,
                    "TrackingByCustomer": False,
                    "BillableExpenseTracking": False,
                    "DefaultMarkup": 0,
                },
                "TaxPrefs": {"UsingSalesTax": False},
                "OtherPrefs": {"NameValue": []},
                "MetaData": self.state.meta(company),
            }
        }

    async def query(self, request: Request, company: Company) -> dict[str, Any]:
        if request.method == "POST":
            statement = (await request.body()).decode("utf-8")
        else:
            statement = request.query_params.get("query", "")
        return {"QueryResponse": self._run_query(company, statement)}

    def _run_query(self, company: Company, statement: str) -> dict[str, Any]:
        if not statement.strip():
            raise EmulatedFault("4000", "Error parsing query", "QueryParserError: empty query")
        parsed = parse_query(statement)
        kind = ENTITY_KINDS.get(parsed.entity)
        if kind is None:
            raise EmulatedFault("4001", "Invalid query", f"QueryValidationError: Invalid entity {parsed.entity}")
        rows = [row for row in company.of(kind).values() if row.get("status") != "Deleted"]
        return run_query(parsed, rows)

    async def cdc(self, request: Request, company: Company) -> dict[str, Any]:
        """Change data capture: updates, deactivations and Deleted stubs since `changedSince` (≤30 days back)."""
        entities = [name.strip() for name in request.query_params.get("entities", "").split(",") if name.strip()]
        since_text = request.query_params.get("changedSince", "")
        if not entities:
            raise required("entities")
        try:
            since = datetime.fromisoformat(since_text)
        except ValueError as exc:
            raise required("changedSince") from exc
        if since.tzinfo is None:
            since = since.replace(tzinfo=company.tz)
        if self.state.now() - since > timedelta(days=30):
            raise EmulatedFault("4001", "Invalid query", "QueryValidationError: changedSince is more than 30 days ago")
        responses: list[dict[str, Any]] = []
        budget = CDC_MAX_OBJECTS
        for name in entities:
            kind = ENTITY_KINDS.get(name.lower())
            if kind is None:
                raise EmulatedFault("4001", "Invalid query", f"QueryValidationError: CDC not supported for {name}")
            changed = [record for record in company.of(kind).values() if _last_updated(record) >= since][:budget]
            budget -= len(changed)
            if changed:
                responses.append({kind: changed, "startPosition": 1, "maxResults": len(changed)})
        return {"CDCResponse": [{"QueryResponse": responses or [{}]}]}

    async def exchange_rate(self, request: Request, company: Company) -> dict[str, Any]:
        source = request.query_params.get("sourcecurrencycode", "").upper()
        as_of = request.query_params.get("asofdate") or self.state.now().astimezone(company.tz).date().isoformat()
        if source == company.home_currency:
            rate = Decimal("1")
        elif source in self.state.exchange_rates:
            rate = self.state.exchange_rates[source]
        else:
            raise EmulatedFault("610", "Object Not Found", f"Object Not Found : no exchange rate for {source}")
        return {
            "ExchangeRate": {
                "SourceCurrencyCode": source,
                "TargetCurrencyCode": company.home_currency,
                "Rate": rate,
                "AsOfDate": as_of,
            }
        }

    async def read(self, request: Request, company: Company) -> dict[str, Any]:
        kind = self._kind(request.path_params["entity"])
        return {kind: read_entity(company, kind, request.path_params["entity_id"])}

    async def download(self, request: Request, company: Company) -> Response:
        entity_id = request.path_params["entity_id"]
        read_entity(company, "Attachable", entity_id)
        url = f"{str(request.base_url).rstrip('/')}/_emulator/files/{company.realm_id}/{entity_id}?Expires=900"
        return PlainTextResponse(url)

    def _kind(self, segment: str) -> str:
        kind = ENTITY_KINDS.get(segment)  # entity path segments are lower case and case-sensitive
        if kind is None:
            raise EmulatedFault("2010", "Request has invalid or unsupported property", f"Unsupported entity {segment}")
        return kind

    async def write_entity(self, request: Request, company: Company) -> dict[str, Any]:
        kind = self._kind(request.path_params["entity"])
        try:
            body = money.loads(await request.body())
        except ValueError as exc:
            raise EmulatedFault("2010", "Request has invalid or unsupported property", "Malformed JSON") from exc
        if not isinstance(body, dict):
            raise EmulatedFault("2010", "Request has invalid or unsupported property", "Body must be an object")
        operation = request.query_params.get("operation") or ("update" if body.get("Id") else "create")
        include = request.query_params.get("include", "").lower()
        request_id = request.query_params.get("requestid")
        return {kind: self.perform(company, kind, operation, body, include, request_id)}

    def perform(
        self, company: Company, kind: str, operation: str, body: dict[str, Any], include: str, request_id: str | None
    ) -> dict[str, Any]:
        """One create/update/delete, shared by the entity endpoints and batch items."""
        if kind not in WRITABLE_KINDS:
            raise EmulatedFault("2010", "Request has invalid or unsupported property", f"{kind} is read-only here")
        if operation == "delete":
            result = delete_entity(self.state, company, kind, body)
        elif operation == "update":
            result = update_entity(self.state, company, kind, body)
        elif operation == "create":
            if kind in NAME_KINDS:
                result = create_name_entity(self.state, company, kind, body)
            elif kind == "Bill":
                allow = "allowduplicatedocnum" in include
                result = create_bill(self.state, company, body, allow_duplicate_docnumber=allow)
            else:
                if not str(body.get("Note") or "").strip():
                    raise required("Note")
                result = self.state.add_entity(company, "Attachable", {**body, "MetaData": self.state.meta(company)})
        else:
            raise EmulatedFault("2010", "Request has invalid or unsupported property", f"operation {operation}")
        self.state.record_write(company, operation, kind, result["Id"], request_id)
        return result

    async def batch(self, request: Request, company: Company) -> dict[str, Any]:
        try:
            body = money.loads(await request.body() or b"{}")
        except ValueError:
            body = {}
        items = body.get("BatchItemRequest") if isinstance(body, dict) else None
        if not items:
            raise EmulatedFault("400", "MalformedRequest", "Batch Request is Empty")
        if len(items) > 30:
            raise EmulatedFault("1040", "Batch size exceeds allowed limit", "Batch size exceeds allowed limit: 30")
        request_id = request.query_params.get("requestid")
        responses = []
        for item in items:
            bid = str(item.get("bId", ""))
            try:
                if request_id and len(bid) > 10:
                    raise EmulatedFault("2050", "String length is either shorter or longer than supported by "
                                        "specification", "bId is longer than 10 characters", "bId")  # fmt: skip
                responses.append({"bId": bid, **self._batch_item(company, item, request_id)})
            except EmulatedFault as fault:
                responses.append({"bId": bid, "Fault": fault.fault()})
            except QueryError as error:
                responses.append({"bId": bid, "Fault": EmulatedFault(error.code, error.message, error.detail).fault()})
        return {"BatchItemResponse": responses}

    def _batch_item(self, company: Company, item: dict[str, Any], request_id: str | None) -> dict[str, Any]:
        if "Query" in item:
            return {"QueryResponse": self._run_query(company, str(item["Query"]))}
        kinds = [key for key in item if key in ENTITY_KINDS.values()]
        if len(kinds) != 1:
            raise EmulatedFault("2010", "Request has invalid or unsupported property", "one entity per batch item")
        kind = kinds[0]
        options = str(item.get("optionsData") or "").lower()
        operation = str(item.get("operation") or "create")
        return {kind: self.perform(company, kind, operation, dict(item[kind]), options, request_id)}

    async def upload(self, request: Request, company: Company) -> dict[str, Any]:
        content_type = request.headers.get("content-type", "")
        raw = await request.body()
        if not content_type.startswith("multipart/form-data"):
            raise EmulatedFault("6040", "Invalid attachable", "Upload must be multipart/form-data")
        if len(raw) > MAX_UPLOAD_BYTES:
            raise EmulatedFault("6030", "Upload too large", "The upload exceeds 100 MB")
        parts = _multipart_parts(content_type, raw)
        metadata: dict[str, dict[str, Any]] = {}
        contents: dict[str, tuple[str | None, str, bytes]] = {}
        for name, filename, part_type, payload in parts:
            if name.startswith("file_metadata_"):
                try:
                    parsed = money.loads(payload)
                except ValueError as exc:
                    raise EmulatedFault("6040", "Invalid attachable", "file metadata is not JSON") from exc
                metadata[name.removeprefix("file_metadata_")] = parsed if isinstance(parsed, dict) else {}
            elif name.startswith("file_content_"):
                contents[name.removeprefix("file_content_")] = (filename, part_type, payload)
        if not contents:
            raise EmulatedFault("6040", "Invalid attachable", "No file_content part")
        request_id = request.query_params.get("requestid")
        results = []
        for index in sorted(contents):
            filename, part_type, payload = contents[index]
            meta = metadata.get(index, {})
            try:
                attachable = self._attach(company, meta, filename, part_type, payload, request_id)
                results.append({"Attachable": attachable})
            except EmulatedFault as fault:
                results.append({"Fault": fault.fault()})
        return {"AttachableResponse": results}

    def _attach(
        self,
        company: Company,
        meta: dict[str, Any],
        filename: str | None,
        part_type: str,
        payload: bytes,
        request_id: str | None,
    ) -> dict[str, Any]:
        file_name = str(meta.get("FileName") or filename or "attachment")
        extension = file_name.rsplit(".", 1)[-1].lower() if "." in file_name else ""
        if extension not in ALLOWED_FILE_TYPES:
            raise EmulatedFault("6041", "Invalid file", f"File type {extension or part_type} is not supported")
        if len(file_name) > 1000:
            raise EmulatedFault("2050", "String length is either shorter or longer than supported by specification",
                                f"String length specified does not match the supported length. Min:0 Max:1000 "
                                f"supported. Supplied length:{len(file_name)}", "FileName")  # fmt: skip
        refs = meta.get("AttachableRef") or []
        for ref in refs:
            entity = ref.get("EntityRef") or {}
            kind = str(entity.get("type", ""))
            kind = next((name for name in ATTACHABLE_ENTITY_TYPES if name.lower() == kind.lower()), kind)
            if kind not in ATTACHABLE_ENTITY_TYPES:
                raise EmulatedFault("6050", "Entity type not supported", f"Entity type {kind} is not supported")
            target = company.of(kind).get(str(entity.get("value")))
            if target is None or target.get("status") == "Deleted":
                raise EmulatedFault("6050", "Invalid entity reference", f"{kind} {entity.get('value')} not found")
        record = self.state.add_entity(
            company,
            "Attachable",
            {
                "FileName": file_name,
                "ContentType": meta.get("ContentType") or part_type,
                "Size": len(payload),
                "Note": meta.get("Note"),
                "AttachableRef": refs,
                "MetaData": self.state.meta(company),
            },
        )
        record["FileAccessUri"] = f"/v3/company/{company.realm_id}/download/{record['Id']}"
        record["TempDownloadUri"] = f"/_emulator/files/{company.realm_id}/{record['Id']}?Expires=900"
        company.files[record["Id"]] = payload
        self.state.record_write(company, "create", "Attachable", record["Id"], request_id)
        return record

    # ---- control endpoints ----------------------------------------------------------------------------------------
    async def control_seed(self, request: Request) -> Response:
        options = await _json_body(request)
        company = self.state.seed_company(**options)
        return JSONResponse({"realm_id": company.realm_id})

    async def control_faults(self, request: Request) -> Response:
        if request.method == "DELETE":
            self.state.clear_faults()
            return JSONResponse({"faults": []})
        if request.method == "POST":
            options = await _json_body(request)
            try:
                self.state.inject(
                    str(options.get("pattern", "*")),
                    options["kind"],
                    options.get("count", 1),
                    probability=float(options.get("probability", 1.0)),
                    delay_seconds=float(options.get("delay_seconds", 1.0)),
                )
            except (KeyError, ValueError) as exc:
                return JSONResponse({"error": str(exc)}, status_code=400)
        with self.state.lock:
            faults = [vars(rule).copy() for rule in self.state.faults]
        return JSONResponse({"faults": faults})

    async def control_switches(self, request: Request) -> Response:
        if request.method == "POST":
            try:
                with self.state.lock:
                    self.state.switches.update(await _json_body(request))
            except KeyError as exc:
                return JSONResponse({"error": f"unknown switch {exc}"}, status_code=400)
        return JSONResponse(vars(self.state.switches))

    async def control_entities(self, request: Request) -> Response:
        realm_id = request.query_params.get("realm_id", DEFAULT_REALM)
        if realm_id not in self.state.companies:
            return JSONResponse({"error": "unknown realm"}, status_code=404)
        kind = ENTITY_KINDS.get(request.path_params["kind"].lower(), request.path_params["kind"])
        return json_bytes(200, {"entities": self.state.entities(kind, realm_id)})

    async def control_audit(self, request: Request) -> Response:
        return JSONResponse({"audit": self.state.audit_log()})

    async def control_stats(self, request: Request) -> Response:
        with self.state.lock:
            return JSONResponse(
                {
                    "requests": dict(self.state.request_counts),
                    "throttled": self.state.throttled,
                    "max_in_flight": dict(self.state.max_in_flight),
                }
            )

    async def control_tokens(self, request: Request) -> Response:
        options = await _json_body(request)
        realm_id = str(options.get("realm_id", DEFAULT_REALM))
        client_id = str(options.get("client_id", DEFAULT_CLIENT_ID))
        return JSONResponse(self.state.issue_tokens(realm_id, client_id))

    async def control_clock(self, request: Request) -> Response:
        options = await _json_body(request)
        self.state.advance_clock(float(options.get("advance_seconds", 0)))
        if options.get("expire_access_tokens"):
            self.state.expire_access_tokens()
        return JSONResponse({"now": self.state.now().isoformat()})

    async def control_reset(self, request: Request) -> Response:
        self.state.reset()
        return JSONResponse({"reset": True})


def _last_updated(record: dict[str, Any]) -> datetime:
    stamp = (record.get("MetaData") or {}).get("LastUpdatedTime")
    return datetime.fromisoformat(stamp) if stamp else datetime.min.replace(tzinfo=UTC)


def _redirect(uri: str, params: dict[str, str]) -> Response:
    separator = "&" if "?" in uri else "?"
    return RedirectResponse(f"{uri}{separator}{urlencode(params)}", status_code=302)


def _parse_form(body: bytes) -> list[tuple[str, str]]:
    return parse_qsl(body.decode("utf-8"), keep_blank_values=True)


async def _json_body(request: Request) -> dict[str, Any]:
    raw = await request.body()
    if not raw:
        return {}
    parsed = money.loads(raw)
    return parsed if isinstance(parsed, dict) else {}


def _multipart_parts(content_type: str, raw: bytes) -> list[tuple[str, str | None, str, bytes]]:
    """(name, filename, content type, decoded payload) per part; base64 parts are decoded."""
    message = BytesParser(policy=email.policy.HTTP).parsebytes(
        b"Content-Type: " + content_type.encode("latin-1") + b"\r\nMIME-Version: 1.0\r\n\r\n" + raw
    )
    parts = []
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition") or ""
        filename = part.get_param("filename", header="content-disposition")
        decoded = part.get_payload(decode=True)
        payload = decoded if isinstance(decoded, bytes) else b""
        parts.append((str(name), str(filename) if filename else None, part.get_content_type(), payload))
    return parts


def run_qbo_emulator(
    host: str = "127.0.0.1",
    port: int = 8765,
    *,
    realm_id: str = DEFAULT_REALM,
    client_id: str = DEFAULT_CLIENT_ID,
    client_secret: str = DEFAULT_CLIENT_SECRET,
    home_currency: str = "USD",
    multicurrency_enabled: bool = False,
    seed: int = 0,
) -> None:
    """Serve a seeded emulator until interrupted (blocking); for `qbo-bot emulator qbo --port N`."""
    state = QboEmulatorState(seed=seed)
    state.register_client(client_id, client_secret)
    state.seed_company(realm_id, home_currency=home_currency, multicurrency_enabled=multicurrency_enabled)
    uvicorn.run(create_qbo_emulator(state), host=host, port=port, log_level="info")
