"""JSON control endpoints under `/_emulator/`: reset, faults, clock, edits, settlement and webhook firing."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from emulators.ontop import wire
from emulators.ontop.generator import timestamp_ms
from emulators.ontop.http import int_param, json_body, json_response
from emulators.ontop.state import Fault, OntopEmulatorState, Patch


def control_routes(emu: OntopEmulatorState) -> list[Route]:
    async def summary(request: Request) -> Response:
        return json_response(
            {
                "now": timestamp_ms(emu.clock),
                "logins": emu.logins,
                "requests": len(emu.requests),
                "faults": len(emu.faults),
                "webhook_url": emu.webhook_url,
                "deliveries": [
                    {"url": d.url, "event_type": d.event.get("event_type"), "status": d.status_code}
                    for d in emu.deliveries
                ],
                "workers": len(emu.worker_rows()),
                "invoices": emu.generator.invoice_count,
                "documented_only": emu.documented_only,
            }
        )

    async def reset(request: Request) -> Response:
        emu.reset()
        return json_response({"ok": True})

    async def add_fault(request: Request) -> Response:
        body = await json_body(request)
        items = body if isinstance(body, list) else [body]
        try:
            emu.faults.extend(Fault.from_json(item) for item in items)
        except (TypeError, ValueError) as exc:
            return json_response({"error": str(exc)}, status=400)
        return json_response({"faults": len(emu.faults)})

    async def clear_faults(request: Request) -> Response:
        emu.faults.clear()
        return json_response({"faults": 0})

    async def advance(request: Request) -> Response:
        body = await json_body(request)
        seconds = float(body.get("seconds", 0)) if isinstance(body, dict) else 0.0
        events = emu.advance(seconds)
        if emu.webhook_url:
            for event in events:
                await emu.deliver_webhook_async(event)
        return json_response({"now": timestamp_ms(emu.clock), "events": len(events)})

    async def settle(request: Request) -> Response:
        settled = emu.settle_payments()
        if emu.webhook_url:
            for payment in settled:
                await emu.deliver_webhook_async(emu.payment_event(payment))
        return json_response({"settled": [payment["id"] for payment in settled]})

    async def expire_tokens(request: Request) -> Response:
        emu.expire_tokens()
        return json_response({"token_generation": emu.token_generation})

    async def touch_invoice(request: Request) -> Response:
        body = await json_body(request)
        try:
            event = emu.touch_invoice(int_param(request, "invoice_id"), **(body if isinstance(body, dict) else {}))
        except KeyError:
            return json_response({"error": "no such invoice"}, status=404)
        if emu.webhook_url:
            await emu.deliver_webhook_async(event)
        return json_response(emu.invoice_row(int_param(request, "invoice_id")))

    async def patch_invoice(request: Request) -> Response:
        body = await json_body(request)
        body = body if isinstance(body, dict) else {}
        emu.invoice_patches[int_param(request, "invoice_id")] = Patch(body.get("set", {}), tuple(body.get("drop", ())))
        return json_response({"ok": True})

    async def patch_worker(request: Request) -> Response:
        body = await json_body(request)
        body = body if isinstance(body, dict) else {}
        emu.worker_patches[int_param(request, "agreement_id")] = Patch(body.get("set", {}), tuple(body.get("drop", ())))
        return json_response({"ok": True})

    async def activate_worker(request: Request) -> Response:
        event = emu.activate_worker(int_param(request, "agreement_id"))
        if emu.webhook_url:
            await emu.deliver_webhook_async(event)
        return json_response(event)

    async def fire_webhook(request: Request) -> Response:
        """Body: {"event": {...}} or {"events": [...]}, optional url, duplicates, tamper, unsigned, event_id."""
        body = await json_body(request)
        if not isinstance(body, dict):
            return json_response({"error": "a JSON object is required"}, status=400)
        events = body.get("events") or [body.get("event") or {"event_type": wire.TEST_EVENT, "data": {}}]
        statuses = []
        try:
            for event in events:
                statuses += await emu.deliver_webhook_async(
                    event,
                    body.get("url"),
                    duplicates=int(body.get("duplicates", 0)),
                    tamper=bool(body.get("tamper")),
                    unsigned=bool(body.get("unsigned")),
                    event_id=body.get("event_id"),
                )
        except ValueError as exc:
            return json_response({"error": str(exc)}, status=400)
        return json_response({"statuses": statuses})

    prefix = "/_emulator"
    return [
        Route(prefix + "/state", summary, methods=["GET"]),
        Route(prefix + "/reset", reset, methods=["POST"]),
        Route(prefix + "/faults", add_fault, methods=["POST"]),
        Route(prefix + "/faults", clear_faults, methods=["DELETE"]),
        Route(prefix + "/advance", advance, methods=["POST"]),
        Route(prefix + "/settle", settle, methods=["POST"]),
        Route(prefix + "/expire-tokens", expire_tokens, methods=["POST"]),
        Route(prefix + "/invoices/{invoice_id:int}/touch", touch_invoice, methods=["POST"]),
        Route(prefix + "/invoices/{invoice_id:int}/patch", patch_invoice, methods=["POST"]),
        Route(prefix + "/workers/{agreement_id:int}/patch", patch_worker, methods=["POST"]),
        Route(prefix + "/workers/{agreement_id:int}/activate", activate_worker, methods=["POST"]),
        Route(prefix + "/webhooks/fire", fire_webhook, methods=["POST"]),
    ]
