"""structlog set-up: JSON in production, readable in a terminal, secrets masked wherever they appear."""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Mapping, MutableMapping
from typing import Any, TextIO

import structlog

MASK = "***"

# Keys whose values are secrets whatever they hold.
_SECRET_KEY = re.compile(
    r"(^|_|-)(token|access_token|refresh_token|password|passwd|secret|client_secret|authorization|cookie|"
    r"api_key|apikey|signature|credentials?|code_verifier|fernet_key|encryption_keys?)$",
    re.IGNORECASE,
)
# Secrets embedded in free text: Slack tokens, bearer/basic credentials, Intuit refresh tokens, key=value pairs.
_SECRET_TEXT = [
    re.compile(r"xox[abposer]-[A-Za-z0-9-]+"),
    re.compile(r"xapp-[A-Za-z0-9-]+"),
    re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]+"),
    re.compile(r"\bAB11[A-Za-z0-9]{20,}"),
    re.compile(r"\beyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*"),
    re.compile(
        r"(?i)\b(access_token|refresh_token|client_secret|password|token|secret|code)=([^&\s\"']+)",
    ),
]


def redact_text(text: str, extra_secrets: tuple[str, ...] = ()) -> str:
    """Mask secret-looking substrings in free text."""
    for secret in extra_secrets:
        if secret and len(secret) >= 6:
            text = text.replace(secret, MASK)
    for pattern in _SECRET_TEXT:
        if pattern.groups == 2:
            text = pattern.sub(lambda m: f"{m.group(1)}={MASK}", text)
        elif pattern.groups == 1:
            text = pattern.sub(lambda m: f"{m.group(1)} {MASK}", text)
        else:
            text = pattern.sub(MASK, text)
    return text


def redact_value(key: str, value: Any, extra_secrets: tuple[str, ...] = ()) -> Any:
    if _SECRET_KEY.search(key) and value not in (None, ""):
        return MASK
    if isinstance(value, str):
        return redact_text(value, extra_secrets)
    if isinstance(value, Mapping):
        return {k: redact_value(str(k), v, extra_secrets) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact_value("", v, extra_secrets) for v in value]
    if isinstance(value, BaseException):
        return redact_text(f"{type(value).__name__}: {value}", extra_secrets)
    return value


_RENDERED_LATER = frozenset({"exc_info", "stack_info"})


class Redactor:
    """A structlog processor masking secrets by key name, by shape, and any known literal secrets."""

    def __init__(self, known_secrets: tuple[str, ...] = ()) -> None:
        self.known_secrets = known_secrets

    def __call__(self, logger: Any, method: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
        for key in list(event_dict):
            if key in _RENDERED_LATER:
                continue  # the traceback is rendered by format_exc_info and masked after rendering
            event_dict[key] = redact_value(key, event_dict[key], self.known_secrets)
        return event_dict


def _redact_rendered(logger: Any, method: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    # Tracebacks are rendered into `exception` by format_exc_info; mask them too.
    for key in ("exception", "stack"):
        if isinstance(event_dict.get(key), str):
            event_dict[key] = redact_text(event_dict[key])
    return event_dict


def configure_logging(
    level: str = "info",
    fmt: str = "auto",
    stream: TextIO | None = None,
    known_secrets: tuple[str, ...] = (),
) -> None:
    """Route structlog and the standard library (uvicorn, httpx, sqlalchemy) through one redacting pipeline."""
    output = stream or sys.stderr
    use_console = fmt == "console" or (fmt == "auto" and output.isatty())
    redactor = Redactor(known_secrets)
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        redactor,
    ]
    renderer: Any = structlog.dev.ConsoleRenderer(colors=False) if use_console else structlog.processors.JSONRenderer()
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=False,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[*shared, structlog.stdlib.ExtraAdder()],
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            _redact_rendered,
            redactor,
            renderer,
        ],
    )
    handler = logging.StreamHandler(output)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # httpx logs full URLs at info; keep them at warning unless debugging (they are redacted either way).
    logging.getLogger("httpx").setLevel(logging.DEBUG if level == "debug" else logging.WARNING)


def bind_context(**values: Any) -> None:
    """Bind workspace, connection, run id, intuit_tid... to every log line of the current task."""
    structlog.contextvars.bind_contextvars(**values)


def clear_context() -> None:
    structlog.contextvars.clear_contextvars()
