"""Prometheus metrics (prometheus_client). In a multi-process gunicorn, set PROMETHEUS_MULTIPROC_DIR
(the shipped gunicorn config does) and /metrics aggregates every worker.

Counts made in the background worker (tickets delivered, rotations, sync failures, alerts) happen in
another process, often on another machine: the worker adds its counter increments to a Redis hash
(``MetricsPushTask``, every ``metrics.push_interval`` seconds) and /metrics adds that hash to the
web processes' own counts, so one scrape of any web process shows everything.
"""
from __future__ import annotations

import functools
import json
import os
import time

# Only gunicorn's web workers share a multiprocess directory (the shipped gunicorn config sets it up
# and marks its processes). The background worker and the CLI keep counters in memory and push them
# through Redis: with the variable inherited from a shared .env they would crash on a missing
# directory, or be counted twice. prometheus_client reads the variable when it is first imported.
if os.environ.get("PROMETHEUS_MULTIPROC_DIR") and os.environ.get("WXBOT_GUNICORN") != "1":
    del os.environ["PROMETHEUS_MULTIPROC_DIR"]

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)

from .retry import Periodic

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
AI_CALLS = Counter("wxbot_ai_calls_total", "Model calls by result (ok, refused, or the failure)", ["result"])
AI_TOKENS = Counter("wxbot_ai_tokens_total", "Tokens the model used")
AI_ANSWERS = Counter("wxbot_ai_answers_total", "AI questions by how they were answered", ["how"])
AI_LATENCY = Histogram("wxbot_ai_call_seconds", "Duration of one model call",
                       buckets=(0.25, 0.5, 1.0, 2.0, 3.0, 4.5, 6.0, 8.0, 12.0, 20.0))
LATENCY = Histogram(
    "wxbot_reply_seconds",
    "Time from request to reply",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 4.5),
)


WORKER_KEY = "wxbot:metrics:worker"  # hash: JSON [family, type, sample, labels] -> cumulative value
WORKER_HELP_KEY = "wxbot:metrics:worker:help"  # hash: family -> help text


def _web_registry():
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return registry
    return REGISTRY


def render(redis_client=None) -> tuple[bytes, str]:
    """The exposition text: this process (or every gunicorn worker) plus, when ``redis_client`` is
    given, the counts the background workers pushed. Redis errors propagate (callers fall back)."""
    registry = _web_registry()
    if redis_client is None:
        return generate_latest(registry), CONTENT_TYPE_LATEST
    pipe = redis_client.pipeline(transaction=False)
    pipe.hgetall(WORKER_KEY)
    pipe.hgetall(WORKER_HELP_KEY)
    rows, helps = pipe.execute()
    return generate_latest(_Merged(registry, rows, helps)), CONTENT_TYPE_LATEST


class _Merged:
    """A registry view that adds the worker's pushed samples to the web's own families."""

    def __init__(self, registry, rows: dict, helps: dict):
        self.registry = registry
        self.rows = rows
        self.helps = helps

    def collect(self):
        from prometheus_client.metrics_core import Metric
        from prometheus_client.samples import Sample

        families = {fam.name: fam for fam in self.registry.collect()}
        added: set[str] = set()
        for field, value in self.rows.items():
            try:
                fname, ftype, sname, labels = json.loads(field)
                value = float(value)
            except (ValueError, TypeError):
                continue
            fam = families.get(fname)
            if fam is None:
                fam = families[fname] = Metric(fname, self.helps.get(fname, fname), ftype)
                added.add(fname)
            for i, sample in enumerate(fam.samples):
                if sample.name == sname and sample.labels == labels:
                    fam.samples[i] = sample._replace(value=sample.value + value)
                    break
            else:
                fam.samples.append(Sample(sname, dict(labels), value))
        for name in added:  # buckets in ``le`` order, as the text format expects
            families[name].samples.sort(key=lambda s: (sorted((k, v) for k, v in s.labels.items() if k != "le"),
                                                       s.name, float(s.labels.get("le", 0))))
        yield from families.values()


class MetricsPushTask(Periodic):
    """Worker task: add this process's counter increments since the last push to Redis.

    Increments are pushed as deltas (HINCRBYFLOAT), so counts from any number of worker processes add
    up and survive restarts. A failed push is retried with the next one. Gauges are not pushed (they
    cannot be summed); wxbot has none in the worker.
    """

    name = "metrics"

    def __init__(self, services, registry=None, clock=time.monotonic):
        self.services = services
        self.registry = registry if registry is not None else REGISTRY
        self.clock = clock
        self._pushed: dict[str, float] = {}

    def snapshot(self) -> tuple[dict[str, float], dict[str, str]]:
        values: dict[str, float] = {}
        helps: dict[str, str] = {}
        for fam in self.registry.collect():
            if not fam.name.startswith("wxbot_") or fam.type not in ("counter", "histogram"):
                continue
            helps[fam.name] = fam.documentation
            for s in fam.samples:
                if s.name.endswith("_created") or s.name.endswith("_gsum") or s.name.endswith("_gcount"):
                    continue
                field = json.dumps([fam.name, fam.type, s.name, dict(sorted(s.labels.items()))],
                                   ensure_ascii=False, separators=(",", ":"))
                values[field] = s.value
        return values, helps

    def tick(self) -> bool:
        if not self.due(self.clock(), self.services.internals.metrics.push_interval):
            return False
        self.push()
        return False  # never keeps the worker loop busy

    def push(self) -> int:
        values, helps = self.snapshot()
        # New fields are pushed even at zero (a histogram needs all its buckets).
        deltas = {f: v - self._pushed.get(f, 0.0) for f, v in values.items()
                  if f not in self._pushed or v != self._pushed[f]}
        if not deltas:
            return 0
        pipe = self.services.redis.pipeline(transaction=True)
        for field, delta in deltas.items():
            pipe.hincrbyfloat(WORKER_KEY, field, delta)
        pipe.hset(WORKER_HELP_KEY, mapping=helps)
        pipe.execute()
        self._pushed.update({f: values[f] for f in deltas})
        return len(deltas)


# Message types WeChat sends; anything else is counted as "other" (a label per invented type would
# let anyone with a signed URL create unbounded series).
MESSAGE_TYPES = frozenset({"text", "image", "voice", "video", "shortvideo", "location", "link", "event", "file",
                           "miniprogrampage"})


def known_label(value: str, known: frozenset[str]) -> str:
    """``value`` if it is one of ``known``, else ``other``."""
    return value if value in known else "other"


def message_type(value: str) -> str:
    return known_label(value, MESSAGE_TYPES)


@functools.cache
def child(metric, *labels: str):
    """``metric.labels(*labels)``, kept: ``labels()`` validates and locks on every call, and the
    webhook counts twice per message. Only for bounded label values (message types, outcomes, routes)."""
    return metric.labels(*labels)
