"""Prometheus metrics (prometheus_client). In a multi-process gunicorn, set PROMETHEUS_MULTIPROC_DIR
(the shipped gunicorn config does) and /metrics aggregates every worker."""
from __future__ import annotations

import os

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client import REGISTRY
from prometheus_client import multiprocess

MESSAGES = Counter("wxbot_messages_total", "Inbound WeChat deliveries by type and outcome", ["type", "outcome"])
REPLIES = Counter("wxbot_replies_total", "Replies by feature (route)", ["feature"])
DEDUPE_HITS = Counter("wxbot_dedupe_hits_total", "Retried deliveries answered from the first one")
RATE_LIMITED = Counter("wxbot_rate_limited_total", "Messages refused by a per-follower limit", ["limit"])
REDIS_ERRORS = Counter("wxbot_redis_errors_total", "Redis calls that failed or timed out", ["where"])
FAQ = Counter("wxbot_faq_total", "FAQ lookups by result", ["result"])
TICKETS = Counter("wxbot_tickets_total", "Ticket events by channel and state", ["channel", "state"])
ROTATIONS = Counter("wxbot_password_rotations_total", "Password rotations by trigger", ["trigger"])
SYNC_FAILURES = Counter("wxbot_password_sync_failures_total", "Failed NextChat sync attempts")
ALERTS = Counter("wxbot_alerts_total", "Admin alerts sent", ["kind"])
LATENCY = Histogram(
    "wxbot_reply_seconds",
    "Time from request to reply",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 4.5),
)


def render() -> tuple[bytes, str]:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST
