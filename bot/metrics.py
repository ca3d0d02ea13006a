"""Prometheus metrics for one web app instance: its own CollectorRegistry, never the global one."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

ACK_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 3.0, 5.0)


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
            "Time from receiving a Slack request to sending its acknowledgement, by request type.",
            ["kind"],
            buckets=ACK_BUCKETS,
            registry=self.registry,
        )
        self.webhooks = Counter(
            "qbo_bot_ontop_webhooks_total",
            "Ontop webhook deliveries, by outcome (accepted, duplicate, rejected).",
            ["outcome"],
            registry=self.registry,
        )

    def observe_request(self, route: str, method: str, status: int, seconds: float) -> None:
        self.requests.labels(route=route, method=method, status=str(status)).inc()
        self.latency.labels(route=route).observe(seconds)

    def observe_ack(self, kind: str, seconds: float) -> None:
        self.slack_ack.labels(kind=kind).observe(seconds)

    def render(self) -> bytes:
        return generate_latest(self.registry)
