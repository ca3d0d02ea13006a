"""The emulator's switches can be read and changed over HTTP by a process that drives it from outside."""

from __future__ import annotations

import httpx

from devtools.server import BackgroundServer
from emulators.qbo.app import create_qbo_emulator
from emulators.qbo.state import QboEmulatorState


def test_switches_are_shown_and_changed_over_http() -> None:
    state = QboEmulatorState()
    with BackgroundServer(create_qbo_emulator(state)) as server:
        shown = httpx.get(f"{server.url}/_emulator/switches")
        changed = httpx.post(f"{server.url}/_emulator/switches", json={"time_scale": 0.5, "per_minute": 100})
        unknown = httpx.post(f"{server.url}/_emulator/switches", json={"no_such_switch": 1})

    assert shown.status_code == 200 and shown.json()["per_minute"] == 500
    assert changed.status_code == 200 and changed.json()["time_scale"] == 0.5
    assert isinstance(state.switches.time_scale, float) and state.switches.per_minute == 100
    assert unknown.status_code == 400
