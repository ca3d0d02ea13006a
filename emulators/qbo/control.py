"""The emulator's control endpoints under /_emulator/: seed, faults, switches, entities, audit, tokens, clock."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from emulators import wire
from emulators.qbo.gateway import json_bytes
from emulators.qbo.query import ENTITY_KINDS
from emulators.qbo.state import DEFAULT_CLIENT_ID, DEFAULT_REALM, QboEmulatorState
from emulators.qbo.tracking import accounting_info_prefs, add_tracking_entity


class ControlRoutes:
    """JSON endpoints so a process using the emulator over HTTP can drive and inspect it."""

    def __init__(self, state: QboEmulatorState) -> None:
        self.state = state

    def routes(self) -> list[Route]:
        """The Starlette routes this part of the emulator serves."""
        return [
            Route("/_emulator/seed", self.control_seed, methods=["POST"]),
            Route("/_emulator/faults", self.control_faults, methods=["POST", "DELETE", "GET"]),
            Route("/_emulator/switches", self.control_switches, methods=["POST", "GET"]),
            Route("/_emulator/entities/{kind}", self.control_entities, methods=["GET"]),
            Route("/_emulator/audit", self.control_audit, methods=["GET"]),
            Route("/_emulator/stats", self.control_stats, methods=["GET"]),
            Route("/_emulator/tokens", self.control_tokens, methods=["POST"]),
            Route("/_emulator/clock", self.control_clock, methods=["POST"]),
            Route("/_emulator/reset", self.control_reset, methods=["POST"]),
            Route("/_emulator/webhooks", self.control_webhooks, methods=["POST", "GET"]),
            Route("/_emulator/preferences", self.control_preferences, methods=["POST"]),
            Route("/_emulator/tracking", self.control_tracking, methods=["POST"]),
        ]

    async def control_seed(self, request: Request) -> Response:
        """Seed a company (JSON: seed_company's keyword arguments, e.g. {"country": "GBR"}).

        A country other than USA gives a VAT company (CompanyInfo.Country, home currency, TaxCode entities).
        """
        options = await _json_body(request)
        company = self.state.seed_company(**options)
        return JSONResponse({"realm_id": company.realm_id})

    async def control_faults(self, request: Request) -> Response:
        """POST adds a fault rule, DELETE clears them, GET lists them."""
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
        """POST updates switches (e.g. {"exchange_rate_decimals": 4}), GET shows them."""
        if request.method == "POST":
            # Read before taking the lock (other requests wait on it); JSON numbers arrive as Decimal, switches are
            # plain floats.
            changes = {
                key: float(value) if isinstance(value, Decimal) else value
                for key, value in (await _json_body(request)).items()
            }
            try:
                with self.state.lock:
                    self.state.switches.update(changes)
            except KeyError as exc:
                return JSONResponse({"error": f"unknown switch {exc}"}, status_code=400)
        with self.state.lock:
            shown = {
                key: sorted(value) if isinstance(value, set | frozenset) else value
                for key, value in vars(self.state.switches).items()
            }
        return JSONResponse(shown)

    async def control_entities(self, request: Request) -> Response:
        """Every stored entity of a kind (inactive and deleted included)."""
        realm_id = request.query_params.get("realm_id", DEFAULT_REALM)
        if realm_id not in self.state.companies:
            return JSONResponse({"error": "unknown realm"}, status_code=404)
        kind = ENTITY_KINDS.get(request.path_params["kind"].lower(), request.path_params["kind"])
        return json_bytes(200, {"entities": self.state.entities(kind, realm_id)})

    async def control_audit(self, request: Request) -> Response:
        """The audit log of every write."""
        return JSONResponse({"audit": self.state.audit_log()})

    async def control_stats(self, request: Request) -> Response:
        """Request counts, throttled requests and peak concurrency per realm."""
        with self.state.lock:
            return JSONResponse(
                {
                    "requests": dict(self.state.request_counts),
                    "throttled": self.state.throttled,
                    "max_in_flight": dict(self.state.max_in_flight),
                }
            )

    async def control_tokens(self, request: Request) -> Response:
        """Issue tokens directly, skipping the consent screen."""
        options = await _json_body(request)
        realm_id = str(options.get("realm_id", DEFAULT_REALM))
        client_id = str(options.get("client_id", DEFAULT_CLIENT_ID))
        return JSONResponse(self.state.issue_tokens(realm_id, client_id))

    async def control_clock(self, request: Request) -> Response:
        """Advance the emulator clock (and optionally expire access tokens)."""
        options = await _json_body(request)
        self.state.advance_clock(float(options.get("advance_seconds", 0)))
        if options.get("expire_access_tokens"):
            self.state.expire_access_tokens()
        return JSONResponse({"now": self.state.now().isoformat()})

    async def control_webhooks(self, request: Request) -> Response:
        """POST configures delivery (url, verifier_token, format, duplicate, out_of_order, ...); GET shows the log."""
        outbox = self.state.webhooks
        if request.method == "POST":
            try:
                outbox.configure(**await _json_body(request))
            except KeyError as exc:
                return JSONResponse({"error": f"unknown webhook option {exc}"}, status_code=400)
        config = {**vars(outbox.config), "entities": sorted(outbox.config.entities)}
        config.pop("verifier_token", None)
        deliveries = [vars(delivery) for delivery in outbox.deliveries]
        return JSONResponse({"config": config, "deliveries": deliveries})

    async def control_preferences(self, request: Request) -> Response:
        """Set a company's tracking flags: {"realm_id"?, "class_tracking_per_line"?, "track_departments"?, ...}."""
        options = await _json_body(request)
        realm_id = str(options.pop("realm_id", DEFAULT_REALM))
        if realm_id not in self.state.companies:
            return JSONResponse({"error": "unknown realm"}, status_code=404)
        try:
            company = self.state.set_preferences(realm_id, options)
        except KeyError as exc:
            return JSONResponse({"error": f"unknown preference {exc}"}, status_code=400)
        return JSONResponse(accounting_info_prefs(company))

    async def control_tracking(self, request: Request) -> Response:
        """Add a Class or Department: {"realm_id"?, "kind": "Class"|"Department", "name", "parent"?, "active"?}."""
        options = await _json_body(request)
        realm_id = str(options.get("realm_id", DEFAULT_REALM))
        if realm_id not in self.state.companies:
            return JSONResponse({"error": "unknown realm"}, status_code=404)
        try:
            with self.state.lock:
                record = add_tracking_entity(
                    self.state,
                    self.state.companies[realm_id],
                    str(options.get("kind")),
                    str(options["name"]),
                    parent=options.get("parent"),
                    active=bool(options.get("active", True)),
                )
        except (KeyError, ValueError) as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)
        return json_bytes(200, {"entity": record})

    async def control_reset(self, request: Request) -> Response:
        """Forget all companies, grants, faults and audit entries."""
        self.state.reset()
        return JSONResponse({"reset": True})


async def _json_body(request: Request) -> dict[str, Any]:
    raw = await request.body()
    if not raw:
        return {}
    parsed = wire.loads(raw)
    return parsed if isinstance(parsed, dict) else {}
