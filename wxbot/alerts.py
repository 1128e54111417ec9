"""Admin alerts: told once per incident, not once per message.

``alert()`` may be called from anywhere (web or worker). It records the alert in Redis only if the
same ``kind``/``key`` was not alerted within the cooldown (SET NX with expiry), and queues it; the
worker's alert task delivers queued alerts to the configured channels (WeCom robot, customer-service
message to admin openids). Texts are for admins, in Chinese, passed in by the caller from texts.yaml.
"""
from __future__ import annotations

import json
import logging
import time

from .config import Section, section
from .redisconn import REDIS_ERRORS

log = logging.getLogger(__name__)

QUEUE_KEY = "wxbot:alerts:queue"


def sent_key(kind: str, key: str) -> str:
    return f"wxbot:alerts:sent:{kind}:{key}"


@section("alerts")
class AlertsConfig(Section):
    cooldown: int = 3600  # the same kind/key alerts at most once per this many seconds
    redis_down_after: float = 60.0  # Redis unreachable this long -> alert (sent by the worker)
    deadline: float = 5.0


def alert(services, kind: str, key: str, message: str) -> bool:
    """Queue an alert unless the same kind/key was alerted within the cooldown; return if queued."""
    from . import metrics

    cfg: AlertsConfig = services.bot.section("alerts")
    try:
        if not services.redis.set(sent_key(kind, key), str(int(time.time())), nx=True, ex=cfg.cooldown):
            return False
        services.redis.rpush(QUEUE_KEY, json.dumps({"kind": kind, "key": key, "message": message,
                                                    "at": int(time.time())}, ensure_ascii=False))
    except REDIS_ERRORS as exc:
        log.warning("alert kind=%s not queued: redis unavailable (%s)", kind, exc.__class__.__name__)
        return False
    metrics.ALERTS.labels(kind).inc()
    log.warning("alert queued kind=%s key=%s", kind, key)
    return True
