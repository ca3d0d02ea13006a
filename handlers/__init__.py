"""Bolt listeners for the Slack surface: `register_all(app, deps)` wires every module onto a fresh app."""

from __future__ import annotations

from slack_bolt.async_app import AsyncApp

from handlers import actions, commands, errors, events, home, modals, options
from handlers.deps import AdminChecker, Deps

__all__ = ["AdminChecker", "Deps", "register_all"]


def register_all(app: AsyncApp, deps: Deps) -> None:
    """Nothing registers at import time, so each test can build its own app."""
    commands.register(app, deps)
    modals.register(app, deps)
    actions.register(app, deps)
    options.register(app, deps)
    home.register(app, deps)
    events.register(app, deps)
    errors.register(app)
