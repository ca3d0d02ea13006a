"""auth.test, oauth.v2.access (HTTP Basic client credentials, single-use codes) and apps.uninstall."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

from devtools.fake_slack.checks import SlackMethodError
from devtools.fake_slack.workspace import DEFAULT_BOT_SCOPES, TokenGrant, TokenHandler, Workspace


@dataclass
class _OAuthCode:
    team_id: str
    user_id: str
    redirect_uri: str | None
    used: bool = False


class AuthMethods:
    """Who a token is, installing the app (code for token) and uninstalling it (every token of the team revoked)."""

    def __init__(self, workspace: Workspace, *, client_id: str, client_secret: str, app_id: str) -> None:
        self._workspace = workspace
        self.client_id = client_id
        self._client_secret = client_secret
        self._app_id = app_id
        self._codes: dict[str, _OAuthCode] = {}

    def handlers(self) -> dict[str, TokenHandler]:
        return {"auth.test": self.auth_test, "apps.uninstall": self.apps_uninstall}

    def issue_code(self, team_id: str, user_id: str, redirect_uri: str | None) -> str:
        code = f"{self._workspace.next_number()}.{secrets.token_hex(12)}"
        self._codes[code] = _OAuthCode(team_id, user_id, redirect_uri)
        return code

    def auth_test(self, params: dict[str, Any], grant: TokenGrant) -> dict[str, Any]:
        team = self._workspace.team_of(grant)
        user_id = grant.user_id or team.bot_user_id
        user = self._workspace.users.get(user_id)
        answer: dict[str, Any] = {
            "url": f"https://{team.domain}.slack.com/",
            "team": team.name,
            "user": user.name if user else user_id,
            "team_id": team.id,
            "user_id": user_id,
            "is_enterprise_install": False,
        }
        if grant.user_id is None:
            answer["bot_id"] = team.bot_id
        if team.enterprise_id:
            answer["enterprise_id"] = team.enterprise_id
        return answer

    def apps_uninstall(self, params: dict[str, Any], grant: TokenGrant) -> dict[str, Any]:
        self._check_client_credentials(params)
        for other in self._workspace.tokens.values():
            if other.team_id == grant.team_id:
                other.revoked = True
        return {}

    def oauth_v2_access(self, params: dict[str, Any]) -> dict[str, Any]:
        """Authenticated by the app's client credentials, not by a token."""
        self._check_client_credentials(params)
        if params.get("grant_type") == "refresh_token":
            raise SlackMethodError("invalid_refresh_token")  # token rotation is off in our manifest
        code = self._codes.get(str(params.get("code", "")))
        if code is None or code.used:
            raise SlackMethodError("invalid_code")
        if code.redirect_uri is not None and params.get("redirect_uri") != code.redirect_uri:
            raise SlackMethodError("bad_redirect_uri")
        code.used = True
        team = self._workspace.teams[code.team_id]
        token = f"xoxb-{team.id}-{self._workspace.next_number()}-{secrets.token_hex(12)}"
        self._workspace.tokens[token] = TokenGrant(team.id, frozenset(DEFAULT_BOT_SCOPES))
        return {
            "app_id": self._app_id,
            "authed_user": {"id": code.user_id},
            "scope": ",".join(DEFAULT_BOT_SCOPES),
            "token_type": "bot",
            "access_token": token,
            "bot_user_id": team.bot_user_id,
            "team": {"id": team.id, "name": team.name},
            "enterprise": {"id": team.enterprise_id, "name": team.enterprise_id} if team.enterprise_id else None,
            "is_enterprise_install": False,
        }

    def _check_client_credentials(self, params: dict[str, Any]) -> None:
        if params.get("client_id") != self.client_id:
            raise SlackMethodError("invalid_client_id")
        if params.get("client_secret") != self._client_secret:
            raise SlackMethodError("bad_client_secret")
