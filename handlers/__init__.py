"""Bolt listeners for the Slack surface: `register_all(app, deps)` wires every module onto a fresh app."""

from __future__ import annotations

from slack_bolt.async_app import AsyncApp

from handlers import actions, commands, errors, events, home, modals, options, reviews, runs
from handlers.deps import AdminChecker, Deps

__all__ = ["AdminChecker", "Deps", "register_all"]


def register_all(app: AsyncApp, deps: Deps) -> None:
    """Nothing registers at import time, so each test can build its own app.

    Bolt tries the listeners in this order on every request, before the ack. Options go first: they are answered in
    the ack itself, many at once while a person types (a listener matches one request type, so order decides
    nothing else).
    """
    options.register(app, deps)
    commands.register(app, deps)
    modals.register(app, deps)
    actions.register(app, deps)
    home.register(app, deps)
    events.register(app, deps)
    reviews.register(app, deps)
    runs.register(app, deps)
    errors.register(app)
