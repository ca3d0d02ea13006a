"""The emulator's OAuth 2.0 server (reference §1): discovery, consent, token exchange/refresh, revoke."""

from __future__ import annotations

import base64
import binascii
import hmac
import secrets
from datetime import timedelta
from urllib.parse import parse_qsl, urlencode

from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Route

from emulators import wire
from emulators.qbo.state import ACCOUNTING_SCOPE, DEFAULT_REALM, QboEmulatorState


class OAuthRoutes:
    """Intuit's OAuth endpoints at Intuit's paths, with auto-consent for the demo."""

    def __init__(self, state: QboEmulatorState) -> None:
        self.state = state

    def routes(self) -> list[Route]:
        """The Starlette routes this part of the emulator serves."""
        return [
            Route("/.well-known/openid_configuration/", self.discovery, methods=["GET"]),
            Route("/.well-known/openid_configuration", self.discovery, methods=["GET"]),
            Route("/.well-known/openid_sandbox_configuration/", self.discovery, methods=["GET"]),
            Route("/.well-known/openid_sandbox_configuration", self.discovery, methods=["GET"]),
            Route("/connect/oauth2", self.authorize, methods=["GET"]),
            Route("/oauth2/v1/tokens/bearer", self.token, methods=["POST"]),
            Route("/v2/oauth2/tokens/revoke", self.revoke, methods=["POST"]),
        ]

    async def discovery(self, request: Request) -> Response:
        """The OpenID discovery document, pointing at this emulator."""
        base = str(request.base_url).rstrip("/")
        sandbox = "sandbox" in request.url.path
        return JSONResponse(
            {
                "issuer": f"{base}/op/v1",
                "authorization_endpoint": f"{base}/connect/oauth2",
                "token_endpoint": f"{base}/oauth2/v1/tokens/bearer",
                "userinfo_endpoint": f"{base}/v1/openid_connect/userinfo" + ("?env=sandbox" if sandbox else ""),
                "revocation_endpoint": f"{base}/v2/oauth2/tokens/revoke",
                "jwks_uri": f"{base}/op/v1/jwks",
                "response_types_supported": ["code"],
                "scopes_supported": ["openid", "email", "profile", "address", "phone"],
                "token_endpoint_auth_methods_supported": ["client_secret_post", "client_secret_basic"],
                "claims_supported": ["aud", "exp", "iat", "iss", "realmid", "sub"],
            }
        )

    async def authorize(self, request: Request) -> Response:
        """Auto-consent: redirect to redirect_uri with code, state and realmId (or an error)."""
        params = request.query_params
        client = self.state.clients.get(params.get("client_id", ""))
        redirect_uri = params.get("redirect_uri", "")
        if client is None:
            return PlainTextResponse("invalid client_id", status_code=400)
        if client.redirect_uris and redirect_uri not in client.redirect_uris:
            return PlainTextResponse("redirect_uri is not registered for this app", status_code=400)
        if not redirect_uri.startswith(("http://", "https://")):
            return PlainTextResponse("invalid redirect_uri", status_code=400)
        state_param = params.get("state", "")
        scopes = params.get("scope", "").split()
        if params.get("response_type") != "code":
            return _redirect(redirect_uri, {"error": "unsupported_response_type", "state": state_param})
        if ACCOUNTING_SCOPE not in scopes:
            return _redirect(redirect_uri, {"error": "invalid_scope", "state": state_param})
        if self.state.switches.deny_consent:
            return _redirect(redirect_uri, {"error": "access_denied", "state": state_param})
        realm_id = params.get("realmId") or next(iter(self.state.companies), DEFAULT_REALM)
        code = self.state.issue_code(client.client_id, redirect_uri, realm_id, scopes)
        return _redirect(redirect_uri, {"code": code, "state": state_param, "realmId": realm_id})

    def _client_from_basic(self, request: Request) -> str | None:
        header = request.headers.get("authorization", "")
        if not header.lower().startswith("basic "):
            return None
        try:
            client_id, _, secret = base64.b64decode(header[6:].strip()).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return None
        client = self.state.clients.get(client_id)
        if client is None or not hmac.compare_digest(client.client_secret, secret):
            return None
        return client_id

    async def token(self, request: Request) -> Response:
        """Token endpoint: authorization_code and refresh_token grants with Basic client auth."""
        client_id = self._client_from_basic(request)
        if client_id is None:
            return JSONResponse({"error": "invalid_client"}, status_code=401)
        form = dict(_parse_form(await request.body()))
        include_hard = request.headers.get("x-include-refresh-token-hard-expires-in", "").lower() == "true"
        with self.state.lock:
            if form.get("grant_type") == "authorization_code":
                return self._exchange_code(client_id, form, include_hard)
            if form.get("grant_type") == "refresh_token":
                return self._refresh(client_id, form, include_hard)
        return JSONResponse({"error": "unsupported_grant_type"}, status_code=400)

    def _exchange_code(self, client_id: str, form: dict[str, str], include_hard: bool) -> Response:
        code = self.state.codes.get(form.get("code", ""))
        if code is None or code.client_id != client_id:
            return JSONResponse({"error": "invalid_grant"}, status_code=400)
        if code.used:
            # A second exchange of the same code kills what the first produced (oauth-jsclient #173).
            if code.grant_id and code.grant_id in self.state.grants:
                self.state.grants[code.grant_id].revoked = True
            return JSONResponse({"error": "invalid_grant"}, status_code=400)
        if self.state.now() >= code.expires_at or form.get("redirect_uri") != code.redirect_uri:
            return JSONResponse({"error": "invalid_grant"}, status_code=400)
        code.used = True
        grant = self.state.new_grant(client_id, code.realm_id, code.scopes)
        code.grant_id = grant.grant_id
        access = self.state.new_access_token(grant)
        return JSONResponse(self.state.token_response(grant, access, include_hard=include_hard))

    def _refresh(self, client_id: str, form: dict[str, str], include_hard: bool) -> Response:
        grant = self.state.grant_for_refresh_token(form.get("refresh_token", ""))
        if grant is None or grant.client_id != client_id:
            return JSONResponse(
                {"error_description": "Incorrect or invalid refresh token", "error": "invalid_grant"}, status_code=400
            )
        now = self.state.now()
        rotate_after = self.state.switches.rotate_after_hours * 3600
        if rotate_after <= 0 or (now - grant.refresh_issued_at).total_seconds() >= rotate_after:
            grant.superseded[grant.refresh_token] = now
            grant.refresh_token = "AB117" + secrets.token_urlsafe(36)
            grant.refresh_issued_at = now
        rolling = now + self._seconds(self.state.switches.refresh_ttl_seconds)
        grant.refresh_expires_at = min(rolling, grant.hard_expires_at)
        access = self.state.new_access_token(grant)
        return JSONResponse(self.state.token_response(grant, access, include_hard=include_hard))

    @staticmethod
    def _seconds(value: int) -> timedelta:
        return timedelta(seconds=value)

    async def revoke(self, request: Request) -> Response:
        """Revoke endpoint: Basic auth and a JSON {token}; kills the whole grant."""
        if self._client_from_basic(request) is None:
            return JSONResponse({"error": "invalid_client"}, status_code=401)
        try:
            body = wire.loads(await request.body())
        except ValueError:
            return JSONResponse({"error": "invalid_request"}, status_code=400)
        token = body.get("token") if isinstance(body, dict) else None
        if not token:
            return JSONResponse({"error": "invalid_request"}, status_code=400)
        self.state.revoke_token(str(token))
        return Response(b"", status_code=200)


def _redirect(uri: str, params: dict[str, str]) -> Response:
    separator = "&" if "?" in uri else "?"
    return RedirectResponse(f"{uri}{separator}{urlencode(params)}", status_code=302)


def _parse_form(body: bytes) -> list[tuple[str, str]]:
    return parse_qsl(body.decode("utf-8"), keep_blank_values=True)
