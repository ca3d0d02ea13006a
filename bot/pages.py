"""The bot's own pages, for people in a browser: connecting QuickBooks (start, callback) and the Ontop login form.

Both flows start from a link in Slack's connect modal that carries a random, single-use state bound to the workspace
and the admin who opened the modal (sync.service.connect). The page binds that state to the browser as well:

- `/qbo/start` sets a short-lived cookie holding an HMAC of the state, then sends the browser on to Intuit's consent;
  `/qbo/callback` connects only when the state comes back in the browser that holds the matching cookie. A consent
  link forwarded to someone else, or a callback URL replayed elsewhere, is refused.
- `/ontop/credentials` shows a form (the password goes from the browser to the bot, never through Slack), protected
  by a CSRF token that is both a hidden field and a SameSite=Strict cookie, each an HMAC of the state.

Every page escapes what it shows (Jinja2 autoescape), loads nothing from elsewhere, and is sent with strict headers:
no framing, no referrer, no caching, and a Content-Security-Policy that allows only inline styles and forms posting
back here.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

import structlog
from jinja2 import Environment, PackageLoader
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from bot.config import Settings
from handlers.notify import SlackNotifier
from sync.api import BotService, OntopLoginForm, ServiceError, TeamRef

log = structlog.get_logger(__name__)

COOKIE_SECONDS = 600  # as long as a state lives (storage.repos.oauth_states.OAUTH_STATE_TTL)
CONNECT_COOKIE = "qbo_bot_connect"
LOGIN_COOKIE = "qbo_bot_ontop_login"
QBO_PURPOSE = "qbo-consent"
LOGIN_PURPOSE = "ontop-login"
LOCAL_BASE_URL = "http://127.0.0.1:3000"
FORM_CONTENT_TYPE = "application/x-www-form-urlencoded"
FORM_FIELDS = 8  # state, csrf, email, password, backfill: anything past a few more is not this form

SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
}

AdminCheck = Callable[[TeamRef, str], Awaitable[bool]]

_templates = Environment(loader=PackageLoader("bot", "templates"), autoescape=True, auto_reload=False)


def render(template: str, *, status: int, **values: Any) -> HTMLResponse:
    """A page from bot/templates, autoescaped, with the strict headers every page carries."""
    body = _templates.get_template(template).render(**values)
    return HTMLResponse(body, status_code=status, headers=SECURITY_HEADERS)


def html_page(title: str, message: str, *, status: int) -> HTMLResponse:
    """A small, friendly page for people who land here from a browser (escaped: nothing of theirs runs)."""
    return render("page.html", status=status, title=title, message=message)


def plain(message: str) -> str:
    """A Slack mrkdwn message (the service's sentences) as plain text for a page."""
    return message.replace("*", "").replace("`", "").strip()


def unset(response: Response, name: str, path: str, *, secure: bool) -> None:
    response.delete_cookie(name, path=path, secure=secure, httponly=True, samesite="lax")


class BrowserBinding:
    """Ties a state to the browser that opened the bot's page: the cookie holds an HMAC of the state.

    The key is derived from the newest ENCRYPTION_KEYS key, so every process behind a load balancer agrees on it and
    nothing new is stored. Without keys (tests of the Slack side alone) a random per-process key is used.
    """

    def __init__(self, key: bytes, *, secure: bool) -> None:
        self._key = key
        self.secure = secure

    @classmethod
    def from_settings(cls, settings: Settings) -> BrowserBinding:
        keys = settings.encryption_keys.get_secret_value() if settings.encryption_keys else ""
        newest = keys.split(",")[0].strip()
        key = (
            hmac.new(newest.encode(), b"qbo-bot browser binding v1", hashlib.sha256).digest()
            if newest
            else secrets.token_bytes(32)
        )
        # Secure cookies need https; plain http is allowed only on loopback (bot.config), where they would be lost.
        secure = urlsplit(settings.public_base_url or LOCAL_BASE_URL).scheme == "https"
        return cls(key, secure=secure)

    def token(self, purpose: str, state: str) -> str:
        return hmac.new(self._key, f"{purpose}\x00{state}".encode(), hashlib.sha256).hexdigest()

    def matches(self, purpose: str, state: str, presented: str | None) -> bool:
        """Whether `presented` is this state's token (constant time, on bytes: any text is compared safely)."""
        if not state or not presented:
            return False
        return hmac.compare_digest(self.token(purpose, state).encode(), presented.encode("utf-8", "replace"))

    def bind(self, response: Response, name: str, purpose: str, state: str, *, path: str, samesite: str) -> None:
        response.set_cookie(
            name,
            self.token(purpose, state),
            max_age=COOKIE_SECONDS,
            path=path,
            secure=self.secure,
            httponly=True,
            samesite=samesite,  # type: ignore[arg-type]
        )


def connect_routes(
    settings: Settings,
    service: BotService,
    *,
    notifier: SlackNotifier | None,
    is_admin: AdminCheck,
    read_body: Callable[[Request], Awaitable[bytes]],
) -> list[Route]:
    """/qbo/start, /qbo/callback and /ontop/credentials (GET and POST)."""
    binding = BrowserBinding.from_settings(settings)

    async def qbo_start(request: Request) -> Response:
        state = request.query_params.get("state", "")
        try:
            consent_url = await service.qbo_consent_url(state)
        except ServiceError as error:
            return html_page("This link has expired", plain(error.message), status=400)
        response = RedirectResponse(consent_url, status_code=303, headers=SECURITY_HEADERS)
        # Lax, not Strict: the callback is a top-level navigation coming back from Intuit's site.
        binding.bind(response, CONNECT_COOKIE, QBO_PURPOSE, state, path="/qbo", samesite="lax")
        return response

    async def qbo_callback(request: Request) -> Response:
        response = await _qbo_callback(request)
        unset(response, CONNECT_COOKIE, "/qbo", secure=binding.secure)  # one callback per start, whatever it said
        return response

    async def _qbo_callback(request: Request) -> Response:
        params = request.query_params
        if params.get("error"):
            log.info("qbo_connect_declined", error=params.get("error"))
            return html_page(
                "QuickBooks was not connected",
                "The connection was cancelled in QuickBooks. Run /qbo connect in Slack to try again.",
                status=400,
            )
        state, code, realm_id = params.get("state"), params.get("code"), params.get("realmId")
        if not state or not code or not realm_id:
            return html_page(
                "This link is incomplete",
                "Start again from Slack with /qbo connect: the link QuickBooks sent back is missing a part.",
                status=400,
            )
        if not binding.matches(QBO_PURPOSE, state, request.cookies.get(CONNECT_COOKIE)):
            # The state is left as it is: the admin who started can still finish in their own browser.
            log.info("qbo_connect_refused", reason="not the browser that started this connection")
            return html_page(
                "QuickBooks was not connected",
                "This browser did not start this connection. QuickBooks connects only in the browser where "
                "Connect QuickBooks was pressed in Slack: run /qbo connect in Slack and press it from this browser.",
                status=403,
            )
        try:
            connected = await service.complete_qbo_connect(state, code, realm_id)
        except ServiceError as error:
            log.info("qbo_connect_refused", reason=error.message)
            return html_page("QuickBooks was not connected", plain(error.message), status=400)
        if notifier is not None:
            try:
                await notifier.qbo_connected(connected)
            except Exception:  # the connection is saved; a Slack hiccup must not turn the page into an error
                log.exception("qbo_connected_announcement_failed", team_id=connected.team.team_id)
        return html_page(
            "QuickBooks connected",
            f"{connected.company_name} is connected. You can close this tab and go back to Slack.",
            status=200,
        )

    def login_page(
        form: OntopLoginForm,
        state: str,
        *,
        status: int,
        email: str = "",
        backfill: str = "",
        errors: dict[str, str] | None = None,
    ) -> Response:
        return render(
            "ontop_login.html",
            status=status,
            title="Connect Ontop",
            form=form,
            state=state,
            csrf=binding.token(LOGIN_PURPOSE, state),
            email=email,
            backfill=backfill or form.backfill_from.isoformat(),
            today=datetime.now(UTC).date().isoformat(),
            errors=errors or {},
        )

    async def ontop_login(request: Request) -> Response:
        state = request.query_params.get("state", "")
        try:
            form = await service.ontop_login_form(state)
        except ServiceError as error:
            return html_page("This link has expired", plain(error.message), status=400)
        response = login_page(form, state, status=200)
        # Strict: the form posts from this page only; a cross-site post arrives without the cookie.
        binding.bind(response, LOGIN_COOKIE, LOGIN_PURPOSE, state, path="/ontop/credentials", samesite="strict")
        return response

    async def save_ontop_login(request: Request) -> Response:
        if request.headers.get("content-type", "").split(";")[0].strip().lower() != FORM_CONTENT_TYPE:
            return html_page("Not a form", "Open the Ontop login link from Slack and submit its form.", status=415)
        try:
            fields = parse_qs((await read_body(request)).decode("utf-8"), max_num_fields=FORM_FIELDS)
        except (UnicodeDecodeError, ValueError):
            return html_page("Not a form", "Open the Ontop login link from Slack and submit its form.", status=400)

        def field(name: str) -> str:
            values = fields.get(name) or [""]
            return values[0]

        state = field("state")
        presented = (field("csrf"), request.cookies.get(LOGIN_COOKIE))
        if not all(binding.matches(LOGIN_PURPOSE, state, token) for token in presented):
            log.info("ontop_login_refused", reason="form not opened in this browser")
            return html_page(
                "Ontop was not connected",
                "This form was not opened in this browser, or it is too old. Press the Ontop login button in "
                "Slack's /qbo connect window again, and submit the page it opens.",
                status=403,
            )
        try:
            form = await service.ontop_login_form(state)
        except ServiceError as error:
            return html_page("This link has expired", plain(error.message), status=400)
        try:
            admin = await is_admin(form.team, form.user_id)  # asked afresh: a demotion since the link counts
        except Exception as error:  # Slack unreachable: refuse rather than guess (the person can try again)
            log.warning("ontop_login_admin_check_failed", error=type(error).__name__, team_id=form.team.team_id)
            return html_page(
                "Ontop was not connected",
                "I could not check with Slack that you are an admin. Try again in a minute.",
                status=503,
            )
        if not admin:
            log.info("ontop_login_refused", reason="no longer an admin", team_id=form.team.team_id)
            return html_page(
                "Ontop was not connected", "Only workspace admins can connect Ontop (ask one of them).", status=403
            )
        email, backfill = field("email").strip(), field("backfill").strip()
        try:
            backfill_from = date.fromisoformat(backfill) if backfill else None
        except ValueError:
            errors = {"backfill": "Choose a day (YYYY-MM-DD)."}
            return login_page(form, state, status=400, email=email, backfill=backfill, errors=errors)
        try:
            saved = await service.save_ontop_login(state, email, field("password"), backfill_from)
        except ServiceError as error:
            errors = {error.field if error.field in ("email", "password", "backfill") else "form": plain(error.message)}
            return login_page(form, state, status=400, email=email, backfill=backfill, errors=errors)
        if notifier is not None:
            try:
                await notifier.ontop_connected(saved.team, saved.user_id)
            except Exception:  # the login is saved; a Slack hiccup must not turn the page into an error
                log.exception("ontop_connected_announcement_failed", team_id=saved.team.team_id)
        response = html_page(
            "Ontop connected",
            "I logged in to Ontop successfully and stored the login encrypted. You can close this tab and go back "
            "to Slack: the next step is /qbo vendors, then /qbo map.",
            status=200,
        )
        unset(response, LOGIN_COOKIE, "/ontop/credentials", secure=binding.secure)
        return response

    return [
        Route("/qbo/start", qbo_start, methods=["GET"]),
        Route("/qbo/callback", qbo_callback, methods=["GET"]),
        Route("/ontop/credentials", ontop_login, methods=["GET"]),
        Route("/ontop/credentials", save_ontop_login, methods=["POST"]),
    ]
