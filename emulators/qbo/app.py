"""A local QuickBooks Online emulator (Starlette) reproducing the wire behaviour in the QBO reference (§16).

OAuth (`/connect/oauth2`, `/oauth2/v1/tokens/bearer`, `/v2/oauth2/tokens/revoke`), the Accounting API under
`/v3/company/{realm}/...`, and control endpoints under `/_emulator/` to seed, inject faults and inspect writes.
"""

from __future__ import annotations

import email.policy
from collections.abc import Awaitable, Callable, Iterable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from email.parser import BytesParser
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from emulators import wire
from emulators.qbo.accounts import create_account
from emulators.qbo.control import ControlRoutes
from emulators.qbo.entities import (
    NAME_KINDS,
    create_bill,
    create_name_entity,
    create_vendor_credit,
    delete_entity,
    read_entity,
    update_entity,
)
from emulators.qbo.faults import EmulatedFault, required, unsupported
from emulators.qbo.gateway import JSON_TYPE, Gateway, forbidden, json_bytes, unauthorized
from emulators.qbo.oauth import OAuthRoutes
from emulators.qbo.payments import create_bill_payment
from emulators.qbo.query import ENTITY_KINDS, Query, QueryError, parse_query, run_query
from emulators.qbo.state import (
    ACCOUNTING_SCOPE,
    DEFAULT_CLIENT_ID,
    DEFAULT_CLIENT_SECRET,
    DEFAULT_REALM,
    DOC_NUMBER_KINDS,
    Company,
    QboEmulatorState,
)
from emulators.qbo.tracking import TRACKING_KINDS, accounting_info_prefs

__all__ = ["QboEmulatorState", "create_qbo_emulator", "run_qbo_emulator"]

CDC_MAX_OBJECTS = 1000
WRITABLE_KINDS = {"Vendor", "Customer", "Employee", "Bill", "Attachable", "BillPayment", "VendorCredit", "Account",
                  *TRACKING_KINDS}  # fmt: skip
ALLOWED_FILE_TYPES = {"ai", "csv", "doc", "docx", "eps", "gif", "jpeg", "jpg", "ods", "pdf", "png", "rtf", "tif",
                      "txt", "xls", "xlsx", "xml"}  # fmt: skip
ATTACHABLE_ENTITY_TYPES = {"Bill", "Vendor", "Invoice", "Purchase", "JournalEntry", "Customer", "Estimate"}
MAX_UPLOAD_BYTES = 100 * 1024 * 1024


def create_qbo_emulator(state: QboEmulatorState | None = None) -> Starlette:
    """Build the emulator app. Without a state, one company and the default OAuth client are seeded."""
    if state is None:
        state = QboEmulatorState()
        state.register_client()
        state.seed_company()
    emulator = _Emulator(state)
    app = Starlette(routes=emulator.routes())
    app.state.qbo = state
    app.add_middleware(Gateway, state=state)
    return app


Handler = Callable[[Request], Awaitable[Response]]


class _Emulator:
    def __init__(self, state: QboEmulatorState) -> None:
        self.state = state

    def routes(self) -> list[Route]:
        """The Starlette routes this part of the emulator serves."""
        api = "/v3/company/{realm_id}"
        return [
            *OAuthRoutes(self.state).routes(),
            *ControlRoutes(self.state).routes(),
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
        ]

    # ---- API plumbing --------------------------------------------------------------------------------------------
    def api(self, handler: Callable[[Request, Company], Awaitable[Any]], *, write: bool = False) -> Handler:
        """Wrap an API handler: bearer check, realm check, requestid replay, fault envelopes."""

        async def endpoint(request: Request) -> Response:
            """The wrapped API endpoint."""
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
            body = wire.dumps({**result, "time": self.state.local_time(company, millis=True)}).encode()
            if request_id:
                with self.state.lock:
                    company.replay[request_id] = (200, body)
            # Webhooks go out after the response, as Intuit's notifications trail the write.
            background = BackgroundTask(self.state.webhooks.flush) if write else None
            return Response(body, status_code=200, media_type=JSON_TYPE, background=background)

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
        """GET /companyinfo/{realm}."""
        if request.path_params["company_id"] != company.realm_id:
            raise EmulatedFault("610", "Object Not Found", "Object Not Found : CompanyInfo")
        if company.country == "USA":
            address = {"Id": "1", "Line1": "100 Market St", "City": "San Francisco", "CountrySubDivisionCode": "CA",
                       "PostalCode": "94105", "Country": company.country}  # fmt: skip
        else:
            address = {"Id": "1", "Line1": "1 Long Acre", "City": "London", "PostalCode": "WC2E 9LH",
                       "Country": company.country}  # fmt: skip
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
        """GET /preferences: currency and tracking settings that gate Bill validation."""
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
                "AccountingInfoPrefs": accounting_info_prefs(company),
                "VendorAndPurchasesPrefs": {
                    "EnableBills": True,
                    "TrackingByCustomer": False,
                    "BillableExpenseTracking": False,
                    "DefaultMarkup": 0,
                },
                # Non-US companies charge VAT/GST on purchases, which is why their lines need tax codes (§18.3).
                "TaxPrefs": {"UsingSalesTax": company.country != "USA"},
                "OtherPrefs": {"NameValue": []},
                "MetaData": self.state.meta(company),
            }
        }

    async def query(self, request: Request, company: Company) -> dict[str, Any]:
        """GET or POST /query."""
        if request.method == "POST":
            statement = (await request.body()).decode("utf-8")
        else:
            statement = request.query_params.get("query", "")
        return {"QueryResponse": self._run_query(company, statement)}

    def _run_query(self, company: Company, statement: str) -> dict[str, Any]:
        if not statement.strip():
            raise EmulatedFault("4000", "Error parsing query", "QueryParserError: empty query")
        parsed = parse_query(statement)
        for condition in parsed.conditions:
            if condition.prop.lower() in self.state.switches.unfilterable_properties:
                detail = f"QueryValidationError: property '{condition.prop}' is not queryable"
                raise EmulatedFault("4001", "Invalid query", detail)
        kind = ENTITY_KINDS.get(parsed.entity)
        if kind is None:
            raise EmulatedFault("4001", "Invalid query", f"QueryValidationError: Invalid entity {parsed.entity}")
        rows = [row for row in _candidates(company, kind, parsed) if row.get("status") != "Deleted"]
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
        """GET /exchangerate?sourcecurrencycode=&asofdate=."""
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
        """GET /{entity}/{id}; 610 when unknown or deleted."""
        kind = self._kind(request.path_params["entity"])
        return {kind: read_entity(company, kind, request.path_params["entity_id"])}

    async def download(self, request: Request, company: Company) -> Response:
        """GET /download/{id}: a plain-text temporary URL."""
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
        """POST /{entity}: create, update (with Id) or ?operation=delete."""
        kind = self._kind(request.path_params["entity"])
        try:
            body = wire.loads(await request.body())
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
            raise unsupported(f"{kind} is read-only here")
        also_changed: list[tuple[str, str]] = []
        if operation == "delete":
            result = delete_entity(self.state, company, kind, body)
        elif operation == "update":
            result = update_entity(self.state, company, kind, body)
        elif operation == "create":
            if kind in TRACKING_KINDS:
                raise unsupported(f"The reference documents no {kind} create; seed it with /_emulator/tracking")
            if kind in NAME_KINDS:
                result = create_name_entity(self.state, company, kind, body)
            elif kind == "Bill":
                allow = "allowduplicatedocnum" in include
                result = create_bill(self.state, company, body, allow_duplicate_docnumber=allow)
            elif kind == "VendorCredit":
                result = create_vendor_credit(self.state, company, body)
            elif kind == "BillPayment":
                # The bills a payment settles change too; the audit names them so a pre-existing one is noticed.
                result, also_changed = create_bill_payment(self.state, company, body)
            elif kind == "Account":
                result = create_account(self.state, company, body)
            else:
                if not str(body.get("Note") or "").strip():
                    raise required("Note")
                result = self.state.add_entity(company, "Attachable", {**body, "MetaData": self.state.meta(company)})
        else:
            raise unsupported(f"operation {operation}")
        self.state.record_write(company, operation, kind, result["Id"], request_id, also_changed)
        return result

    async def batch(self, request: Request, company: Company) -> dict[str, Any]:
        """POST /batch: up to 30 independent items, each with its own Fault."""
        try:
            body = wire.loads(await request.body() or b"{}")
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
        """POST /upload: multipart file_metadata_NN/file_content_NN parts, per-file Faults."""
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
                    parsed = wire.loads(payload)
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


def _candidates(company: Company, kind: str, query: Query) -> list[dict[str, Any]]:
    """The rows a query must look at: from an index when one of its conditions is an equality on Id, DocNumber or
    DisplayName (a superset of the matches, which run_query then filters exactly), else every row of the kind.

    The engine looks bills up by DocNumber and suppliers by name in books of 100,000 bills; a scan per look-up made
    each one cost in proportion to the books.
    """
    for condition in query.conditions:
        if condition.op not in ("=", "in"):
            continue
        prop, texts = condition.prop.lower(), [_literal_text(value) for value in condition.values]
        if prop == "id":
            rows = company.of(kind)
            found = (rows.get(text) for text in dict.fromkeys(texts))
            return [row for row in found if row is not None]
        if prop == "docnumber" and kind in DOC_NUMBER_KINDS:
            return _unique(row for text in texts for row in company.with_doc_number(kind, text))
        if prop == "displayname" and kind in NAME_KINDS:
            return _unique(row for text in texts for holder, row in company.name_holders(text) if holder == kind)
    return list(company.of(kind).values())


def _literal_text(value: Any) -> str:
    """A query literal as the text a stored Id or name would be (run_query compares a number as `format(x, 'f')`)."""
    return format(value, "f") if isinstance(value, Decimal) else str(value)


def _unique(rows: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    return list({row["Id"]: row for row in rows}.values())


def _last_updated(record: dict[str, Any]) -> datetime:
    stamp = (record.get("MetaData") or {}).get("LastUpdatedTime")
    return datetime.fromisoformat(stamp) if stamp else datetime.min.replace(tzinfo=UTC)


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
    home_currency: str | None = None,
    multicurrency_enabled: bool = False,
    country: str = "USA",
    exchange_rate_decimals: int | None = None,
    seed: int = 0,
) -> None:
    """Serve a seeded emulator until interrupted (blocking); for `qbo-bot emulator qbo --port N`.

    Args:
        home_currency: the company's home currency; defaults to the country's (USD for USA, GBP for GBR).
        country: ISO-3 CompanyInfo.Country; not USA makes a VAT company whose bill lines need tax codes.
        exchange_rate_decimals: cut stored exchange rates to this many decimals (default: keep them as sent).
    """
    state = QboEmulatorState(seed=seed)
    state.switches.exchange_rate_decimals = exchange_rate_decimals
    state.register_client(client_id, client_secret)
    state.seed_company(
        realm_id, home_currency=home_currency, multicurrency_enabled=multicurrency_enabled, country=country
    )
    uvicorn.run(create_qbo_emulator(state), host=host, port=port, log_level="info")
