"""Prometheus metrics for one web app instance: its own CollectorRegistry, never the global one.

Every label value comes from a fixed set chosen here or from the code (route templates, status codes), never from
the request: a label fed by attacker input would let anyone grow /metrics without bound.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

ACK_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 3.0, 5.0)
SLACK_KINDS = frozenset(
    {
        "command",
        "block_actions",
        "block_suggestion",
        "view_submission",
        "view_closed",
        "event_callback",
        "url_verification",
    }
)
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
OTHER = "other"


def slack_kind_label(kind: str) -> str:
    """The request kind when it is one Slack sends this app, else "other"."""
    return kind if kind in SLACK_KINDS else OTHER


def method_label(method: str) -> str:
    """The HTTP method when it is a standard one, else "other" (uvicorn passes any token through)."""
    return method if method in METHODS else OTHER


class AppMetrics:
    """HTTP request counts and latency per route, and how fast Slack requests were acknowledged."""

    content_type = CONTENT_TYPE_LATEST

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "qbo_bot_http_requests_total",
            "HTTP requests handled, by route, method and status code.",
            ["route", "method", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "qbo_bot_http_request_duration_seconds",
            "Time to answer an HTTP request, by route.",
            ["route"],
            registry=self.registry,
        )
        self.slack_ack = Histogram(
            "qbo_bot_slack_ack_seconds",
            "Time from receiving a verified Slack request to sending its acknowledgement, by request type.",
            ["kind"],
            buckets=ACK_BUCKETS,
            registry=self.registry,
        )
        self.webhooks = Counter(
            "qbo_bot_ontop_webhooks_total",
            "Ontop webhook deliveries, by outcome (accepted, duplicate, rejected, unreadable).",
            ["outcome"],
            registry=self.registry,
        )

    def observe_request(self, route: str, method: str, status: int, seconds: float) -> None:
        """`route` is a route template (or "other"), never a raw path: paths carry secrets and are unbounded."""
        self.requests.labels(route=route, method=method_label(method), status=str(status)).inc()
        self.latency.labels(route=route).observe(seconds)

    def observe_ack(self, kind: str, seconds: float) -> None:
        self.slack_ack.labels(kind=slack_kind_label(kind)).observe(seconds)

    def render(self) -> bytes:
        return generate_latest(self.registry)
