"""The fake's HTTP side: Web API dispatch, response_url and upload_url endpoints, call recording, injected faults."""

from __future__ import annotations

import base64
import contextlib
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from devtools.fake_slack.checks import SlackMethodError
from devtools.fake_slack.files import UPLOAD_PATH, FileMethods
from devtools.fake_slack.response_urls import RESPONSE_PATH, ResponseUrls
from devtools.fake_slack.workspace import TokenHandler, Workspace

JSON_FIELDS = ("blocks", "view", "attachments", "metadata")
RESPONSE_URL = "response_url"  # the `method` of recorded posts to a response_url (and of their faults)
FILE_UPLOAD = "file_upload"  # the `method` of recorded POSTs to an upload_url (and of their faults)

# A method authenticated by the app's client credentials rather than a token (oauth.v2.access).
AppHandler = Callable[[dict[str, Any]], dict[str, Any]]


@dataclass(frozen=True)
class RecordedCall:
    """One request the fake received: Web API method (or "response_url"), merged params and the outcome."""

    method: str
    params: dict[str, Any]
    http_method: str
    at: float
    status: int
    error: str | None
    token: str | None = field(default=None, repr=False)


class CallRecorder:
    """Thread-safe log of every call; the server thread appends, tests read."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._calls: list[RecordedCall] = []

    def record(self, call: RecordedCall) -> None:
        with self._lock:
            self._calls.append(call)

    def calls(self, method: str | None = None) -> list[RecordedCall]:
        """Calls in arrival order, optionally only those to `method`."""
        with self._lock:
            return [c for c in self._calls if method is None or c.method == method]

    def last(self, method: str) -> RecordedCall | None:
        found = self.calls(method)
        return found[-1] if found else None

    def clear(self) -> None:
        with self._lock:
            self._calls.clear()

    def wait_for(self, method: str, count: int = 1, timeout_seconds: float = 15.0) -> list[RecordedCall]:
        """Poll until `count` calls to `method` arrived (work the app does after its ack); raise on timeout.

        The timeout only bounds a failure: a passing wait returns as soon as the calls are there, so it is generous
        (a 2 s default failed on a busy 2-core machine, where the app's work after the ack took longer)."""
        deadline = time.monotonic() + timeout_seconds
        while True:
            found = self.calls(method)
            if len(found) >= count:
                return found
            if time.monotonic() > deadline:
                raise TimeoutError(f"expected {count} call(s) to {method}, got {len(found)}")
            time.sleep(0.01)


@dataclass
class Fault:
    method: str
    status: int
    error: str
    retry_after: int | None
    remaining: int
    after_running: bool = False  # the method runs, then the answer is lost (a timeout or a proxy error)

    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after)} if self.retry_after is not None else {}


class FaultInjector:
    """Answers queued by a test for the next calls to a method, before the method runs."""

    def __init__(self) -> None:
        self._faults: list[Fault] = []

    def add(self, fault: Fault) -> None:
        self._faults.append(fault)

    def take(self, method: str) -> Fault | None:
        for fault in self._faults:
            if fault.method == method and fault.remaining > 0:
                fault.remaining -= 1
                return fault
        return None


class SlackHttp:
    """The Starlette app serving the Web API under /api/, response_urls and upload_urls; the caller serves it."""

    def __init__(
        self,
        workspace: Workspace,
        recorder: CallRecorder,
        faults: FaultInjector,
        *,
        token_methods: dict[str, TokenHandler],
        app_methods: dict[str, AppHandler],
        responses: ResponseUrls,
        files: FileMethods,
    ) -> None:
        self._workspace = workspace
        self._recorder = recorder
        self._faults = faults
        self._token_methods = token_methods
        self._app_methods = app_methods
        self._responses = responses
        self._files = files
        self.app = Starlette(
            routes=[
                Route("/api/{method}", self._api_endpoint, methods=["GET", "POST"]),
                Route(RESPONSE_PATH + "{response_id}", self._response_url_endpoint, methods=["POST"]),
                Route(UPLOAD_PATH + "{key}", self._upload_endpoint, methods=["POST"]),
            ]
        )

    def _record(self, method: str, params: dict[str, Any], http_method: str, status: int, error: str | None) -> None:
        self._recorder.record(RecordedCall(method, params, http_method, self._workspace.clock(), status, error))

    async def _api_endpoint(self, request: Request) -> Response:
        method = request.path_params["method"]
        try:
            params = parse_params(dict(request.query_params), await request.body(), request.headers.get("content-type"))
        except (json.JSONDecodeError, UnicodeDecodeError):
            self._record(method, {}, request.method, 200, "invalid_json")
            return JSONResponse({"ok": False, "error": "invalid_json"})
        token = bearer(request.headers.get("authorization")) or params.pop("token", None)
        credentials = basic(request.headers.get("authorization"))
        if credentials is not None:
            params["client_id"], params["client_secret"] = credentials
        with self._workspace.lock:
            status, body, headers = self._dispatch(method, params, token)
        safe_params = {k: v for k, v in params.items() if k != "client_secret"}  # never keep secrets around
        error = None if body.get("ok") else str(body.get("error"))
        call = RecordedCall(method, safe_params, request.method, self._workspace.clock(), status, error, token)
        self._recorder.record(call)
        return JSONResponse(body, status_code=status, headers=headers)

    def _dispatch(
        self, method: str, params: dict[str, Any], token: str | None
    ) -> tuple[int, dict[str, Any], dict[str, str]]:
        fault = self._faults.take(method)
        if fault is not None and not fault.after_running:
            return fault.status, {"ok": False, "error": fault.error}, fault.headers()
        answer = self._run(method, params, token)
        if fault is not None:  # it happened, but the caller never learns so
            return fault.status, {"ok": False, "error": fault.error}, fault.headers()
        return answer

    def _run(
        self, method: str, params: dict[str, Any], token: str | None
    ) -> tuple[int, dict[str, Any], dict[str, str]]:
        try:
            if method in self._app_methods:
                result = self._app_methods[method](params)
            elif method in self._token_methods:
                result = self._token_methods[method](params, self._workspace.authenticate(token, method))
            else:
                return 200, {"ok": False, "error": "unknown_method", "req_method": method}, {}
        except SlackMethodError as refused:
            return 200, {"ok": False, "error": refused.error, **refused.extra}, {}
        return 200, {"ok": True, **result}, {}

    async def _response_url_endpoint(self, request: Request) -> Response:
        response_id = request.path_params["response_id"]
        raw = await request.body()
        try:
            body = json.loads(raw) if raw else {}
        except json.JSONDecodeError:
            body = dict(parse_qsl(raw.decode()))
        with self._workspace.lock:
            fault = self._faults.take(RESPONSE_URL)
            if fault is not None:
                status, answer = fault.status, fault.error
            else:
                status, answer = self._responses.respond(response_id, decode_json_fields(body))
        error = None if status == 200 else answer
        self._record(RESPONSE_URL, {**body, "response_id": response_id}, "POST", status, error)
        return PlainTextResponse(answer, status_code=status)

    async def _upload_endpoint(self, request: Request) -> Response:
        """The bytes of a file, POSTed raw (as slack_sdk does) to the upload_url files.getUploadURLExternal gave."""
        key = request.path_params["key"]
        body = await request.body()
        with self._workspace.lock:
            fault = self._faults.take(FILE_UPLOAD)
            if fault is not None:
                status, answer = fault.status, fault.error
            elif (request.headers.get("content-type") or "").startswith("multipart/"):
                status, answer = 400, "this fake takes the file as raw bytes, not multipart"
            else:
                status, answer = self._files.receive_upload(key, body)
            file_id = self._files.file_id_for_key(key)
        params = {"file_id": file_id, "length": len(body)}
        self._record(FILE_UPLOAD, params, "POST", status, None if status == 200 else answer)
        return PlainTextResponse(answer, status_code=status, headers=fault.headers() if fault else None)


# --- parsing (pure) ----------------------------------------------------------------------------------------------


def parse_params(query: dict[str, str], body: bytes, content_type: str | None) -> dict[str, Any]:
    """Query string, then a JSON or form body, merged the way Slack reads them."""
    params: dict[str, Any] = dict(query)
    if body.strip():
        if (content_type or "").startswith("application/json") or body.lstrip().startswith(b"{"):
            decoded = json.loads(body)
            if isinstance(decoded, dict):
                params.update(decoded)
        else:
            params.update(parse_qsl(body.decode(), keep_blank_values=True))
    return decode_json_fields(params)


def decode_json_fields(params: dict[str, Any]) -> dict[str, Any]:
    """Form-encoded calls send blocks/view as JSON strings; read them as Slack does."""
    for key in JSON_FIELDS:
        value = params.get(key)
        if isinstance(value, str) and value:
            # Invalid JSON stays a string: the method's validation reports it as Slack would.
            with contextlib.suppress(json.JSONDecodeError):
                params[key] = json.loads(value)
    for key in ("replace_original", "delete_original"):
        if isinstance(params.get(key), str):
            params[key] = params[key] == "true"
    return params


def bearer(authorization: str | None) -> str | None:
    if authorization and authorization.lower().startswith("bearer "):
        return authorization[7:].strip() or None
    return None


def basic(authorization: str | None) -> tuple[str, str] | None:
    if not authorization or not authorization.lower().startswith("basic "):
        return None
    try:
        client_id, _, client_secret = base64.b64decode(authorization[6:]).decode().partition(":")
    except ValueError:
        return None
    return client_id, client_secret
