"""Small HTTP helpers shared by the emulator's API and control endpoints: JSON in and out, Spring pages, errors."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from emulators.wire import dumps, loads

HTTP_REASONS = {400: "Bad Request", 401: "Unauthorized", 404: "Not Found", 429: "Too Many Requests"}
HTTP_REASONS |= {500: "Internal Server Error", 502: "Bad Gateway", 503: "Service Unavailable", 504: "Gateway Timeout"}


WORKER_STATUS_IDS = {"0": "ACTIVE", "1": "INVITATION_SENT", "2": "VERIFICATION_PENDING", "3": "ENDED"}


def spring_page(content: list[Any], page: int, size: int, total: int) -> dict[str, Any]:
    """The full Spring Data Page wrapper (A.3), 0-based."""
    sort = {"empty": True, "sorted": False, "unsorted": True}
    total_pages = -(-total // size) if size else 0
    return {
        "content": content,
        "pageable": {
            "sort": dict(sort),
            "offset": page * size,
            "pageNumber": page,
            "pageSize": size,
            "paged": True,
            "unpaged": False,
        },
        "last": page >= total_pages - 1,
        "totalPages": total_pages,
        "totalElements": total,
        "number": page,
        "sort": dict(sort),
        "size": size,
        "first": page == 0,
        "numberOfElements": len(content),
        "empty": not content,
    }


def error(status: int, message: str, path: str, headers: Mapping[str, str] | None = None) -> Response:
    """The Spring Boot error body (B.2)."""
    body = {
        "timestamp": datetime.now(UTC).isoformat(timespec="milliseconds"),
        "status": status,
        "error": HTTP_REASONS.get(status, "Error"),
        "message": message,
        "path": path,
    }
    return json_response(body, status=status, headers=headers)


def json_response(body: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> Response:
    return Response(dumps(body), status_code=status, media_type="application/json", headers=dict(headers or {}))


async def json_body(request: Request) -> Any:
    try:
        return loads(await request.body())
    except ValueError:
        return None


def paging(request: Request) -> tuple[int, int]:
    def number(name: str, default: int) -> int:
        raw = request.query_params.get(name)
        return int(raw) if raw and raw.isdigit() else default

    return number("page", 0), max(1, min(number("size", 20), 1000))


def int_param(request: Request, name: str) -> int:
    return int(request.path_params[name])
