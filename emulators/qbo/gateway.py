"""The emulator's HTTP edge: intuit_tid headers, QBO's gateway error envelopes, rate limits and injected faults."""

from __future__ import annotations

import asyncio
import secrets
import time
from typing import Any

from starlette.responses import PlainTextResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from emulators import wire
from emulators.qbo.faults import EmulatedFault
from emulators.qbo.state import Company, QboEmulatorState

JSON_TYPE = "application/json;charset=UTF-8"
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
    """A JSON response with money written as exact numbers and QBO's content type."""
    return Response(wire.dumps(body).encode(), status_code=status, media_type=JSON_TYPE, headers=headers)


def unauthorized(detail: str) -> Response:
    """401 with the gateway 3200 body and WWW-Authenticate."""
    return json_bytes(
        401,
        gateway_fault(401, "3200", "AuthenticationFailed", detail, "AUTHENTICATION"),
        {"WWW-Authenticate": 'Bearer realm="Intuit", error="invalid_token"'},
    )


def forbidden(detail: str) -> Response:
    """403 with the gateway 3100 body."""
    return json_bytes(403, gateway_fault(403, "3100", "ApplicationAuthorizationFailed", detail, "SERVICE"))


def throttled(state: QboEmulatorState) -> Response:
    """429 with the gateway 3001 body (or XML), plus Retry-After when switched on."""
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
    """500 with a 10000 SystemFault body."""
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


class Gateway:
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
            """Add the intuit_tid header to the response start."""
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
