"""views.open, views.push, views.update and views.publish, with single-use trigger_ids and the modal stack."""

from __future__ import annotations

import copy
import secrets
from dataclasses import dataclass
from typing import Any

from devtools.fake_slack.checks import SlackMethodError, check_view, error_messages, with_block_ids
from devtools.fake_slack.workspace import TokenGrant, TokenHandler, Workspace

MODAL_STACK_LIMIT = 3


@dataclass
class _Trigger:
    user_id: str
    issued_at: float
    view_id: str | None
    used: bool = False


class ViewMethods:
    """Modals and Home tabs the app opened, pushed, updated or published."""

    def __init__(self, workspace: Workspace, app_id: str, trigger_ttl_seconds: float) -> None:
        self._workspace = workspace
        self._app_id = app_id
        self.trigger_ttl_seconds = trigger_ttl_seconds
        self._triggers: dict[str, _Trigger] = {}
        self._views: dict[str, dict[str, Any]] = {}
        self._view_owner: dict[str, str] = {}
        self._view_order: list[str] = []
        self._modal_stacks: dict[str, list[str]] = {}  # root view id -> open views, bottom first
        self._home_by_user: dict[str, str] = {}

    def handlers(self) -> dict[str, TokenHandler]:
        return {
            "views.open": self.open,
            "views.push": self.push,
            "views.update": self.update,
            "views.publish": self.publish,
        }

    def mint_trigger_id(self, user_id: str, view_id: str | None) -> str:
        clock = self._workspace.clock
        trigger_id = f"{self._workspace.next_number()}.{int(clock())}.{secrets.token_hex(16)}"
        self._triggers[trigger_id] = _Trigger(user_id, clock(), view_id)
        return trigger_id

    # --- methods ------------------------------------------------------------------------------------------------

    def open(self, params: dict[str, Any], grant: TokenGrant) -> dict[str, Any]:
        trigger = self._consume_trigger(params.get("trigger_id"))
        view = self._new_view(params.get("view"), grant, trigger.user_id)
        self._modal_stacks[view["id"]] = [view["id"]]
        return {"view": copy.deepcopy(view)}

    def push(self, params: dict[str, Any], grant: TokenGrant) -> dict[str, Any]:
        trigger = self._consume_trigger(params.get("trigger_id"))
        parent = self._views.get(trigger.view_id) if trigger.view_id else None
        if parent is not None and parent["type"] != "modal":
            parent = None  # a click in the Home tab has no modal to push onto: the view opens a new stack
        stack = self._modal_stacks.get(parent["root_view_id"], []) if parent else []
        if len(stack) >= MODAL_STACK_LIMIT:
            raise SlackMethodError("push_limit_reached")
        view = self._new_view(params.get("view"), grant, trigger.user_id)
        if parent is not None:
            view["root_view_id"], view["previous_view_id"] = parent["root_view_id"], parent["id"]
            stack.append(view["id"])
        else:
            self._modal_stacks[view["id"]] = [view["id"]]
        return {"view": copy.deepcopy(view)}

    def update(self, params: dict[str, Any], grant: TokenGrant) -> dict[str, Any]:
        view_id = params.get("view_id")
        if not view_id and params.get("external_id"):
            by_external = (v["id"] for v in self._views.values() if v["external_id"] == params["external_id"])
            view_id = next(by_external, None)
            if view_id is None:
                raise SlackMethodError("not_found")
        if not view_id:
            raise SlackMethodError(
                "invalid_arguments", response_metadata=error_messages("view_id or external_id is required")
            )
        current = self._views.get(str(view_id))
        if current is None or current["team_id"] != grant.team_id:
            raise SlackMethodError("not_found")
        if params.get("hash") and params["hash"] != current["hash"]:
            raise SlackMethodError("hash_conflict")
        wire = check_view(params.get("view"), allowed_types=(current["type"],))
        updated = self._stored_view(wire, grant, current["id"])
        updated["root_view_id"], updated["previous_view_id"] = current["root_view_id"], current["previous_view_id"]
        self._save_view(updated, self._view_owner[current["id"]])
        return {"view": copy.deepcopy(updated)}

    def publish(self, params: dict[str, Any], grant: TokenGrant) -> dict[str, Any]:
        user = self._workspace.user_of_team(params.get("user_id"), grant)
        existing_id = self._home_by_user.get(user.id)
        if params.get("hash") and existing_id and params["hash"] != self._views[existing_id]["hash"]:
            raise SlackMethodError("hash_conflict")
        wire = check_view(params.get("view"), allowed_types=("home",))
        view = self._stored_view(wire, grant, existing_id or self._workspace.next_id("V"))
        self._save_view(view, user.id)
        self._home_by_user[user.id] = view["id"]
        return {"view": copy.deepcopy(view)}

    # --- reading (copies, for tests) ----------------------------------------------------------------------------

    def view(self, view_id: str) -> dict[str, Any] | None:
        found = self._views.get(view_id)
        return copy.deepcopy(found) if found else None

    def last_view(self, callback_id: str | None, user_id: str | None, view_type: str | None) -> dict[str, Any] | None:
        for view_id in reversed(self._view_order):
            view = self._views[view_id]
            if (
                (callback_id is None or view.get("callback_id") == callback_id)
                and (user_id is None or self._view_owner.get(view_id) == user_id)
                and (view_type is None or view["type"] == view_type)
            ):
                return copy.deepcopy(view)
        return None

    def home_view(self, user_id: str) -> dict[str, Any] | None:
        view_id = self._home_by_user.get(user_id)
        return copy.deepcopy(self._views[view_id]) if view_id else None

    # --- helpers ------------------------------------------------------------------------------------------------

    def _consume_trigger(self, trigger_id: Any) -> _Trigger:
        trigger = self._triggers.get(str(trigger_id or ""))
        if trigger is None:
            raise SlackMethodError("invalid_trigger_id")
        if trigger.used:
            raise SlackMethodError("exchanged_trigger_id")
        if self._workspace.clock() - trigger.issued_at > self.trigger_ttl_seconds:
            raise SlackMethodError("expired_trigger_id")
        trigger.used = True
        return trigger

    def _new_view(self, raw: Any, grant: TokenGrant, user_id: str) -> dict[str, Any]:
        wire = check_view(raw, allowed_types=("modal",))
        if wire.get("external_id") and any(v["external_id"] == wire["external_id"] for v in self._views.values()):
            raise SlackMethodError("duplicate_external_id")
        view = self._stored_view(wire, grant, self._workspace.next_id("V"))
        self._save_view(view, user_id)
        return view

    def _stored_view(self, wire: dict[str, Any], grant: TokenGrant, view_id: str) -> dict[str, Any]:
        team = self._workspace.team_of(grant)
        return {
            "id": view_id,
            "team_id": team.id,
            "type": wire["type"],
            "blocks": with_block_ids(wire.get("blocks") or []),
            "private_metadata": wire.get("private_metadata", ""),
            "callback_id": wire.get("callback_id", ""),
            "state": {"values": {}},
            "hash": f"{int(self._workspace.clock())}.{secrets.token_hex(4)}",
            "title": wire.get("title"),
            "close": wire.get("close"),
            "submit": wire.get("submit"),
            "clear_on_close": bool(wire.get("clear_on_close", False)),
            "notify_on_close": bool(wire.get("notify_on_close", False)),
            "external_id": wire.get("external_id", ""),
            "root_view_id": view_id,
            "previous_view_id": None,
            "app_id": self._app_id,
            "app_installed_team_id": team.id,
            "bot_id": team.bot_id,
        }

    def _save_view(self, view: dict[str, Any], user_id: str) -> None:
        self._views[view["id"]] = view
        self._view_owner[view["id"]] = user_id
        if view["id"] in self._view_order:
            self._view_order.remove(view["id"])
        self._view_order.append(view["id"])
