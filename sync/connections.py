"""Per-connection clients: QBO tokens kept in the database (refreshed under a row lock), Ontop credentials."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import httpx
import structlog
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from storage.crypto import SecretBox
from storage.db import transaction
from storage.repos.audit import AuditRepo
from storage.repos.connections import ConnectionRepo
from sync import messages
from sync.api import NeedsReauthError, NotConnectedError
from sync.ontop.client import OntopClient, OntopCredentials
from sync.outbox import owe_reauth_alert
from sync.qbo.auth import QboOAuth, QboTokens, refresh_deadline
from sync.qbo.client import QboClient
from sync.qbo.errors import QboInvalidGrant
from sync.qbo.limiter import RateLimits, RealmLimiter

log = structlog.get_logger(__name__)

REFRESH_EARLY = timedelta(minutes=5)
TOKEN_REREAD_SECONDS = 1.0  # how long a token read from the row is used before it is read again


@dataclass
class QboSettings:
    client_id: str
    client_secret: str
    redirect_uri: str
    api_base_url: str
    oauth_base_url: str | None
    minorversion: int = 75
    rate_limits: RateLimits = field(default_factory=RateLimits)
    throttle_wait_seconds: float = 60.0  # Intuit: wait 60 s after a 429 without Retry-After


class StoredTokenSource:
    """QBO tokens from the connection row. QBO rotates refresh tokens, so a refresh runs while holding the row
    lock and re-reads inside it: two workers refreshing at once never lose the newer token."""

    def __init__(
        self, sessions: async_sessionmaker[AsyncSession], box: SecretBox, oauth: QboOAuth, connection_id: int
    ) -> None:
        self._sessions = sessions
        self._box = box
        self._oauth = oauth
        self._connection_id = connection_id
        self._local_lock = asyncio.Lock()  # one refresh in flight per process; the row lock covers the rest
        # The token last read and when (monotonic): a run sends requests back to back, and reading and decrypting
        # the row for each was a twentieth of its CPU. A second old at most, so a disconnect is seen as soon.
        self._read: tuple[str, datetime | None, float] | None = None

    def __repr__(self) -> str:
        return f"StoredTokenSource(connection_id={self._connection_id})"

    async def access_token(self) -> str:
        read = self._read
        if read is None or time.monotonic() - read[2] > TOKEN_REREAD_SECONDS:
            async with self._sessions() as session:
                tokens = await ConnectionRepo(session).read_qbo_tokens(self._connection_id, self._box)
            if tokens is None:
                self._read = None
                raise NotConnectedError(messages.QBO_NOT_CONNECTED)
            read = self._read = (tokens.access_token, tokens.access_expires_at, time.monotonic())
        token, expires, _ = read
        if expires is None or expires - datetime.now(UTC) > REFRESH_EARLY:
            return token
        return await self._refresh(stale_access_token=token)

    async def refresh_after_unauthorized(self, rejected_token: str) -> str:
        return await self._refresh(stale_access_token=rejected_token)

    async def _refresh(self, stale_access_token: str) -> str:
        self._read = None  # whatever happens, the next request reads the row again
        async with self._local_lock:
            try:
                async with transaction(self._sessions) as session:
                    connections = ConnectionRepo(session)
                    tokens = await connections.read_qbo_tokens(self._connection_id, self._box, for_update=True)
                    if tokens is None:
                        raise NotConnectedError(messages.QBO_NOT_CONNECTED)
                    fresh_enough = tokens.access_expires_at is not None and (
                        tokens.access_expires_at - datetime.now(UTC) > REFRESH_EARLY
                    )
                    if tokens.access_token != stale_access_token and fresh_enough:
                        return tokens.access_token  # another worker refreshed while we waited for the lock
                    new = await self._oauth.refresh(tokens.refresh_token)
                    await connections.store_qbo_tokens(
                        self._connection_id,
                        self._box,
                        access_token=new.access_token,
                        refresh_token=new.refresh_token,
                        access_expires_at=new.access_expires_at,
                        refresh_expires_at=refresh_deadline(new),
                    )
                    log.info("qbo.tokens_refreshed", connection_id=self._connection_id)
                    return new.access_token
            except QboInvalidGrant:
                await mark_needs_reauth(self._sessions, self._connection_id, "refresh token rejected (invalid_grant)")
                raise NeedsReauthError(messages.RECONNECT) from None


async def mark_needs_reauth(sessions: async_sessionmaker[AsyncSession], connection_id: int, reason: str) -> None:
    async with transaction(sessions) as session:
        connections = ConnectionRepo(session)
        if await connections.mark_needs_reauth(connection_id, reason):
            connection = await connections.get(connection_id)
            assert connection is not None
            AuditRepo(session).record(connection.workspace_id, "system", "needs_reauth", connection_id, reason=reason)
            await owe_reauth_alert(session, connection, reason, datetime.now(UTC))
    log.warning("qbo.needs_reauth", connection_id=connection_id, reason=reason)


class ClientFactory:
    """Builds the QBO and Ontop clients of a connection; one HTTP pool and one rate limiter per process."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        box: SecretBox,
        qbo: QboSettings,
        ontop_base_url: str,
        http: httpx.AsyncClient | None = None,
        limiter: RealmLimiter | None = None,
    ) -> None:
        """`limiter`: one already spending the process's QBO budget (another event loop's factory), else a new one."""
        self.sessions = sessions
        self.box = box
        self.qbo = qbo
        self.ontop_base_url = ontop_base_url
        self.http = http or httpx.AsyncClient(timeout=httpx.Timeout(connect=5, read=130, write=130, pool=10))
        self.limiter = limiter or RealmLimiter(qbo.rate_limits)

    def __repr__(self) -> str:
        return f"ClientFactory(qbo_api={self.qbo.api_base_url!r}, ontop={self.ontop_base_url!r})"

    def oauth(self) -> QboOAuth:
        return QboOAuth(
            self.qbo.client_id,
            self.qbo.client_secret,
            self.qbo.redirect_uri,
            oauth_base_url=self.qbo.oauth_base_url,
            http=self.http,
        )

    def qbo_client(self, connection_id: int, realm_id: str) -> QboClient:
        tokens = StoredTokenSource(self.sessions, self.box, self.oauth(), connection_id)
        return QboClient(
            realm_id,
            tokens,
            api_base_url=self.qbo.api_base_url,
            minorversion=self.qbo.minorversion,
            limiter=self.limiter,
            http=self.http,
            throttle_wait_seconds=self.qbo.throttle_wait_seconds,
        )

    def qbo_client_with_tokens(self, realm_id: str, tokens: QboTokens) -> QboClient:
        """A client for a connection being made (tokens not stored yet)."""
        from sync.qbo.client import MemoryTokenSource

        return QboClient(
            realm_id,
            MemoryTokenSource(tokens, self.oauth()),
            api_base_url=self.qbo.api_base_url,
            minorversion=self.qbo.minorversion,
            limiter=self.limiter,
            http=self.http,
            throttle_wait_seconds=self.qbo.throttle_wait_seconds,
        )

    def ontop_client(self, credentials: OntopCredentials) -> OntopClient:
        return OntopClient(self.ontop_base_url, credentials, http=self.http)

    async def ontop_for_connection(self, connection_id: int) -> OntopClient:
        async with self.sessions() as session:
            stored = await ConnectionRepo(session).read_ontop_credentials(connection_id, self.box)
        if not stored:
            raise NotConnectedError(messages.ONTOP_NOT_CONNECTED)
        return self.ontop_client(OntopCredentials(email=stored["email"], password=stored["password"]))

    async def aclose(self) -> None:
        await self.http.aclose()
