"""One error handler for every listener: log the traceback with a reference, tell the user where they are.

The person only ever sees the short reference (in an ephemeral reply, or in the modal they were looking at);
the log line carries the same reference with the traceback, so support can find one from the other.

`reported` also hands the listener's work after its ack to a task of its own: the Bolt app runs with
`process_before_response=True` (bot/app.py), so the HTTP answer goes out as soon as the listener acks, without
Bolt's 10 ms polling for the ack, and the rest of the listener carries on behind it.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import uuid
import weakref
from collections.abc import Awaitable, Callable
from typing import Any

import structlog
from slack_bolt.async_app import AsyncApp
from slack_bolt.context.ack.async_ack import AsyncAck
from slack_bolt.context.respond.async_respond import AsyncRespond

from handlers.views.common import result_view

log = structlog.get_logger(__name__)


def something_went_wrong(reference: str) -> str:
    """What a person reads about an unexpected error: the reference, never the details."""
    return f":warning: Something went wrong on my side (reference `{reference}`). Please try again."


def error_view(title: str, reference: str) -> dict[str, Any]:
    """The modal that replaces a loading or saving view when something unexpected failed."""
    return result_view(title, something_went_wrong(reference))


def log_failure(error: BaseException, **context: Any) -> str:
    """Log the traceback under a new short reference and return that reference (what the person is told)."""
    reference = uuid.uuid4().hex[:8]
    log.error("listener_failed", reference=reference, exc_info=error, **context)
    return reference


async def report_listener_error(error: Exception, body: dict[str, Any], respond: AsyncRespond | None) -> None:
    """Log the traceback under a short reference and tell the user that reference where a reply can go."""
    reference = log_failure(error, request_type=body.get("type"))
    await _reply(reference, body, respond)


async def _reply(reference: str, body: dict[str, Any], respond: AsyncRespond | None) -> None:
    if respond is None or not (body.get("response_url") or body.get("response_urls")):
        return  # no place for a reply (a view submission, an App Home button): modals show their own error view
    try:
        await respond(response_type="ephemeral", text=something_went_wrong(reference))
    except Exception as failed:  # telling the user is best effort; the error is logged above
        log.warning("error_reply_failed", reference=reference, error=type(failed).__name__)


Listener = Callable[..., Awaitable[None]]

# Slack waits 3 s for an ack; past that the answer is useless, and the listener goes on in the background.
ACK_WAIT_SECONDS = 3.0

# Strong references to the work running after its ack (the event loop keeps only weak ones).
_after_ack: set[asyncio.Task[None]] = set()

# Work after an ack waits until no request has reached a listener for QUIET_SECONDS (at most YIELD_SECONDS): asyncio
# has no priorities, and a burst's later requests would otherwise wait behind the earlier ones' database reads and
# Slack calls before they are even answered.
QUIET_SECONDS = 0.002
YIELD_SECONDS = 0.1


class _Quiet:
    """One event loop's "no request for a moment" signal: set QUIET_SECONDS after the latest request."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._event = asyncio.Event()
        self._event.set()
        self._timer: asyncio.TimerHandle | None = None

    def request_arrived(self) -> None:
        self._event.clear()
        if self._timer is not None:
            self._timer.cancel()
        self._timer = self._loop.call_later(QUIET_SECONDS, self._event.set)

    async def wait(self) -> None:
        if self._event.is_set():
            return
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(YIELD_SECONDS):
                await self._event.wait()


_quiet: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Quiet] = weakref.WeakKeyDictionary()


def _quiet_of_this_loop() -> _Quiet:
    loop = asyncio.get_running_loop()
    quiet = _quiet.get(loop)
    if quiet is None:
        quiet = _quiet[loop] = _Quiet(loop)
    return quiet


class _SignallingAck(AsyncAck):
    """The request's ack, which also tells the waiting request that the answer is ready."""

    def __init__(self, ack: AsyncAck, acked: asyncio.Event) -> None:
        super().__init__()
        self._ack = ack
        self._acked = acked

    @property  # the request's own ack holds the answer Bolt sends
    def response(self) -> Any:
        return self._ack.response

    @response.setter
    def response(self, value: Any) -> None:
        if hasattr(self, "_ack"):  # AsyncAck.__init__ sets None before the wrapped ack exists
            self._ack.response = value

    async def __call__(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return await self._ack(*args, **kwargs)
        finally:
            self._acked.set()
            await _quiet_of_this_loop().wait()  # the listener goes on once the requests around it are answered


def reported(listener: Listener) -> Listener:
    """The listener, answering Slack as soon as it acks and going on in a task of its own; errors it raises are
    reported here. (Bolt 1.30 drops an ack already given when its listener raises afterwards, and Slack then sees
    a 404 after 3 s instead of the answer it already had.)

    A listener without an `ack` parameter (an event: Bolt acks it once the listener returns) runs wholly after the
    answer.
    """

    @functools.wraps(listener)  # Bolt reads the wrapped listener's parameters to inject its arguments
    async def handed_off(*args: Any, **kwargs: Any) -> None:
        _quiet_of_this_loop().request_arrived()
        ack = kwargs.get("ack")
        if not isinstance(ack, AsyncAck):
            _start(_answered_first(_guarded(listener, args, kwargs)))
            return
        acked = asyncio.Event()
        kwargs["ack"] = _SignallingAck(ack, acked)
        work = _start(_guarded(listener, args, kwargs))
        answered = asyncio.ensure_future(acked.wait())
        try:
            await asyncio.wait((work, answered), timeout=ACK_WAIT_SECONDS, return_when=asyncio.FIRST_COMPLETED)
        finally:
            answered.cancel()

    return handed_off


async def _answered_first(work: Awaitable[None]) -> None:
    await _quiet_of_this_loop().wait()
    await work


def _start(work: Awaitable[None]) -> asyncio.Task[None]:
    task = asyncio.ensure_future(work)
    _after_ack.add(task)
    task.add_done_callback(_after_ack.discard)
    return task


async def _guarded(listener: Listener, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    try:
        await listener(*args, **kwargs)
    except Exception as error:
        payload = kwargs.get("body") or kwargs.get("command") or {}  # a command's payload has its response_url
        reference = log_failure(error, request_type=payload.get("type"))
        ack = kwargs.get("ack")
        if payload.get("type") == "view_submission" and isinstance(ack, AsyncAck) and ack.response is None:
            # Failed before the ack: the ack itself can still put the reference in the modal.
            title = str(((payload.get("view") or {}).get("title") or {}).get("text") or "Error")
            await ack(response_action="update", view=error_view(title, reference))
            return
        await _reply(reference, payload, kwargs.get("respond"))


async def finish_after_ack_work(timeout_seconds: float) -> None:
    """Wait (at most `timeout_seconds`) for listeners still working after their ack: called on shutdown, so a
    modal being filled or a reply being sent is not cut off."""
    if _after_ack:
        await asyncio.wait(set(_after_ack), timeout=timeout_seconds)


def register(app: AsyncApp) -> None:
    app.error(report_listener_error)
