"""A person's browser on the bot's own pages: keeps cookies, follows redirects, fills the Ontop login form.

The connect modal's buttons are links to `/qbo/start` (which sets a cookie, then sends the browser to Intuit's
consent and back to `/qbo/callback`) and to the Ontop login page (a form with a CSRF token, in a field and a cookie).
The demo, the benchmarks and the tests open them through `Browser`, the way a person's browser would.
"""

from __future__ import annotations

import html
import json
import re
from dataclasses import dataclass
from types import TracebackType
from typing import Any
from urllib.parse import urlencode, urljoin

import httpx

QBO_START_PATH = "/qbo/start"
ONTOP_LOGIN_PATH = "/ontop/credentials"
_HIDDEN = re.compile(r'<input type="hidden" name="([a-z_]+)" value="([^"]*)">')


def link_in(view: dict[str, Any], path: str) -> str:
    """The URL of the button in a modal whose address has this path (e.g. the connect modal's `/qbo/start`)."""
    for block in view.get("blocks", []):
        url = str((block.get("accessory") or {}).get("url") or "")
        if path in url:
            return url
    raise LookupError(f"no button to {path} in the {view.get('callback_id')} modal: {json.dumps(view)[:300]}")


@dataclass(frozen=True)
class Page:
    status: int
    html: str

    @property
    def title(self) -> str:
        found = re.search(r"<h1>(.*?)</h1>", self.html, re.S)
        return html.unescape(found.group(1)).strip() if found else ""

    @property
    def errors(self) -> list[str]:
        """What the page says went wrong (the lines under its fields)."""
        return [html.unescape(text).strip() for text in re.findall(r'<p class="error"[^>]*>(.*?)</p>', self.html, re.S)]

    @property
    def text(self) -> str:
        """Title, then the first paragraph or the errors: what a person reads first."""
        first = re.search(r"<p>(.*?)</p>", self.html, re.S)
        detail = "; ".join(self.errors) or (html.unescape(re.sub(r"<[^>]+>", "", first.group(1))) if first else "")
        return f"{self.title} · {detail.strip()}" if detail else self.title


class Browser:
    """One browser profile: cookies persist across the pages it opens (use `async with`)."""

    def __init__(self, *, timeout_seconds: float = 30.0) -> None:
        self.http = httpx.AsyncClient(follow_redirects=True, timeout=timeout_seconds)

    async def __aenter__(self) -> Browser:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self.http.aclose()

    async def open(self, url: str) -> Page:
        """GET a page, following redirects (the QuickBooks button: /qbo/start → Intuit → /qbo/callback)."""
        answer = await self.http.get(url)
        return Page(answer.status_code, answer.text)

    async def consent_qbo(self, url: str, realm_id: str | None = None) -> Page:
        """The QuickBooks button: /qbo/start → Intuit's consent → /qbo/callback, picking the company `realm_id` on
        the consent page when the person has several (the emulator's consent takes it as `realmId`)."""
        if realm_id is None:
            return await self.open(url)
        start = await self.http.get(url, follow_redirects=False)
        consent = start.headers.get("location")
        if not start.is_redirect or not consent:
            return Page(start.status_code, start.text)
        answer = await self.http.get(f"{urljoin(url, consent)}&{urlencode({'realmId': realm_id})}")
        return Page(answer.status_code, answer.text)

    async def fill_ontop_login(self, url: str, email: str, password: str, backfill: str | None = None) -> Page:
        """Open the Ontop login page and submit its form, as a person would (hidden fields as the page set them)."""
        form_page = await self.http.get(url)
        if form_page.status_code != 200:
            return Page(form_page.status_code, form_page.text)
        fields = {name: html.unescape(value) for name, value in _HIDDEN.findall(form_page.text)}
        fields.update(email=email, password=password)
        if backfill is not None:
            fields["backfill"] = backfill
        answer = await self.http.post(urljoin(str(form_page.url), ONTOP_LOGIN_PATH), data=fields)
        return Page(answer.status_code, answer.text)
