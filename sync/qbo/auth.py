"""QBO OAuth 2.0 (reference §1): authorization URL, code exchange, refresh with rotation, revoke.

State generation/persistence and token storage belong to the storage layer; this module only talks to Intuit.
"""

from __future__ import annotations

import base64
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import structlog
from authlib.integrations.base_client import OAuthError
from authlib.oauth2.rfc6749.parameters import prepare_grant_uri

with warnings.catch_warnings():
    # authlib 1.9 prefers the httpx2 package and warns when it falls back to httpx, which this project pins.
    warnings.simplefilter("ignore", DeprecationWarning)
    from authlib.integrations.httpx_client import AsyncOAuth2Client

from sync.qbo.errors import QboAuthError, QboError, QboInvalidGrant, QboServiceError

log = structlog.get_logger(__name__)

ACCOUNTING_SCOPE = "com.intuit.quickbooks.accounting"
HARD_EXPIRY_HEADER = {"x-include-refresh-token-hard-expires-in": "true"}
TOKEN_REQUEST_HEADERS = {
    "Accept": "application/json",
    "Content-Type": "application/x-www-form-urlencoded;charset=UTF-8",
    **HARD_EXPIRY_HEADER,
}


@dataclass(frozen=True)
class QboEndpoints:
    """Where Intuit's OAuth endpoints live (production, or an emulator's base URL)."""

    authorization_url: str = "https://appcenter.intuit.com/connect/oauth2"
    token_url: str = "https://oauth.platform.intuit.com/oauth2/v1/tokens/bearer"
    revocation_url: str = "https://developer.api.intuit.com/v2/oauth2/tokens/revoke"

    @classmethod
    def at(cls, oauth_base_url: str) -> QboEndpoints:
        """Intuit's paths under one base URL (how the emulator serves them)."""
        base = oauth_base_url.rstrip("/")
        return cls(f"{base}/connect/oauth2", f"{base}/oauth2/v1/tokens/bearer", f"{base}/v2/oauth2/tokens/revoke")


@dataclass(frozen=True)
class QboTokens:
    """A token pair and its expiries (aware datetimes). The repr never shows the tokens."""

    access_token: str = field(repr=False)
    refresh_token: str = field(repr=False)
    access_expires_at: datetime
    refresh_expires_at: datetime
    refresh_hard_expires_at: datetime | None = None

    @classmethod
    def from_response(cls, data: Mapping[str, Any], now: datetime) -> QboTokens:
        """Compute expiries from expires_in, x_refresh_token_expires_in and (if sent) the hard cap."""
        hard = data.get("x_refresh_token_hard_expires_in")
        return cls(
            access_token=str(data["access_token"]),
            refresh_token=str(data["refresh_token"]),
            access_expires_at=now + timedelta(seconds=int(data.get("expires_in", 3600))),
            refresh_expires_at=now + timedelta(seconds=int(data.get("x_refresh_token_expires_in", 8726400))),
            refresh_hard_expires_at=now + timedelta(seconds=int(hard)) if hard is not None else None,
        )

    def access_expires_within(self, seconds: float, now: datetime) -> bool:
        """Whether the access token expires within `seconds` of `now` (refresh a little early)."""
        return self.access_expires_at - now <= timedelta(seconds=seconds)


def refresh_deadline(tokens: QboTokens) -> datetime:
    """When the refresh token stops working: its rolling expiry (100 days unused) or the hard cap, if sooner."""
    if tokens.refresh_hard_expires_at is None:
        return tokens.refresh_expires_at
    return min(tokens.refresh_expires_at, tokens.refresh_hard_expires_at)


class QboOAuth:
    """Intuit's OAuth 2.0 endpoints through authlib's AsyncOAuth2Client (client_secret_basic, form bodies)."""

    def __init__(
        self,
        client_id: str,
        client_secret: str,
        redirect_uri: str,
        *,
        oauth_base_url: str | None = None,
        endpoints: QboEndpoints | None = None,
        scopes: tuple[str, ...] = (ACCOUNTING_SCOPE,),
        http: httpx.AsyncClient | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        timeout_seconds: float = 30.0,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.client_id = client_id
        self._client_secret = client_secret
        self.redirect_uri = redirect_uri
        self.endpoints = endpoints or (QboEndpoints.at(oauth_base_url) if oauth_base_url else QboEndpoints())
        self.scopes = scopes
        self._http = http
        self._transport = transport
        self._timeout = timeout_seconds
        self._clock = clock or (lambda: datetime.now(UTC))

    def __repr__(self) -> str:
        return f"QboOAuth(client_id={self.client_id!r}, redirect_uri={self.redirect_uri!r})"

    def authorization_url(self, state: str) -> str:
        """The consent URL for the accounting scope; `state` must come from the caller's CSRF store."""
        uri: str = prepare_grant_uri(
            self.endpoints.authorization_url,
            client_id=self.client_id,
            response_type="code",
            redirect_uri=self.redirect_uri,
            scope=" ".join(self.scopes),
            state=state,
        )
        return uri

    def _oauth_client(self) -> AsyncOAuth2Client:
        kwargs: dict[str, Any] = {"timeout": self._timeout}
        if self._transport is not None:
            kwargs["transport"] = self._transport
        return AsyncOAuth2Client(
            client_id=self.client_id,
            client_secret=self._client_secret,
            token_endpoint_auth_method="client_secret_basic",
            redirect_uri=self.redirect_uri,
            **kwargs,
        )

    async def exchange_code(self, code: str) -> QboTokens:
        """Exchange an authorization code (once, right away) for tokens."""
        async with self._oauth_client() as client:
            data = await self._token_call(
                client.fetch_token(
                    self.endpoints.token_url,
                    grant_type="authorization_code",
                    code=code,
                    redirect_uri=self.redirect_uri,
                    headers=TOKEN_REQUEST_HEADERS,
                ),
                "exchange_code",
            )
        return QboTokens.from_response(data, self._clock())

    async def refresh(self, refresh_token: str) -> QboTokens:
        """Refresh; the answer may carry a new refresh token, which the caller must persist before use."""
        async with self._oauth_client() as client:
            data = await self._token_call(
                client.refresh_token(
                    self.endpoints.token_url, refresh_token=refresh_token, headers=TOKEN_REQUEST_HEADERS
                ),
                "refresh",
            )
        if "refresh_token" not in data:
            data = {**data, "refresh_token": refresh_token}
        return QboTokens.from_response(data, self._clock())

    async def _token_call(self, call: Any, operation: str) -> dict[str, Any]:
        try:
            token = await call
        except OAuthError as exc:
            log.warning("qbo.oauth.rejected", operation=operation, error=exc.error)
            if exc.error in ("invalid_grant", "invalid_client"):
                raise QboInvalidGrant(str(exc.error), "OAuth grant rejected", str(exc.description or "")) from None
            raise QboAuthError(str(exc.error), "OAuth request rejected", str(exc.description or "")) from None
        except httpx.HTTPStatusError as exc:
            status = exc.response.status_code
            tid = exc.response.headers.get("intuit_tid")
            log.warning("qbo.oauth.failed", operation=operation, status=status, intuit_tid=tid)
            raise QboServiceError(str(status), "OAuth endpoint error", "", status=status, intuit_tid=tid) from None
        except httpx.TransportError as exc:
            log.warning("qbo.oauth.unreachable", operation=operation, error=type(exc).__name__)
            raise QboServiceError("network", "OAuth endpoint unreachable", type(exc).__name__) from None
        log.info("qbo.oauth.ok", operation=operation)
        return dict(token)

    async def revoke(self, token: str) -> None:
        """Revoke a token (send the refresh token): Basic auth and a JSON body, per Intuit."""
        basic = base64.b64encode(f"{self.client_id}:{self._client_secret}".encode()).decode()
        headers = {"Authorization": f"Basic {basic}", "Accept": "application/json"}
        http = self._http or httpx.AsyncClient(timeout=self._timeout, transport=self._transport)
        try:
            response = await http.post(self.endpoints.revocation_url, json={"token": token}, headers=headers)
        except httpx.TransportError as exc:
            raise QboServiceError("network", "revoke endpoint unreachable", type(exc).__name__) from None
        finally:
            if self._http is None:
                await http.aclose()
        tid = response.headers.get("intuit_tid")
        log.info("qbo.oauth.revoke", status=response.status_code, intuit_tid=tid)
        if response.status_code != 200:
            raise QboError(str(response.status_code), "revoke failed", "", status=response.status_code, intuit_tid=tid)
