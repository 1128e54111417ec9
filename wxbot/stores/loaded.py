"""What the running bot loaded from ``config/bot.yaml``, published in Redis for ``wxbot doctor``.

bot.yaml is read once per process, at start: its settings shape the routes (keywords, words), the
claim's limits and cooldowns, the password schedule and the worker's tasks, which every web and worker
process builds when it starts and which must agree across processes. (texts.yaml and faq.yaml are
leaf data and reload by themselves.) So each bot process publishes the fingerprint of what it loaded,
and the doctor compares it with the file on disk: "edited since the bot started: restart to apply X".
"""
from __future__ import annotations

import json
import logging
import os
import time

import redis

from ..policy import BotConfig
from . import keys
from .redis import REDIS_ERRORS

log = logging.getLogger(__name__)


class LoadedConfig:
    """One hash: process role (``web``, ``worker``) -> JSON ``{fingerprint, at, pid}``."""

    def __init__(self, client: redis.Redis):
        self.r = client

    def publish(self, role: str, bot: BotConfig, now: float | None = None) -> None:
        record = {"fingerprint": bot.fingerprint(), "at": time.time() if now is None else now, "pid": os.getpid()}
        self.r.hset(keys.BOT_CONFIG_LOADED, role, json.dumps(record, sort_keys=True))

    def all(self) -> dict[str, dict]:
        out = {}
        for role, raw in self.r.hgetall(keys.BOT_CONFIG_LOADED).items():
            role = role.decode() if isinstance(role, bytes) else role
            try:
                record = json.loads(raw)
            except ValueError:
                continue
            if isinstance(record, dict) and isinstance(record.get("fingerprint"), dict):
                out[role] = record
        return out


def changed_settings(loaded: dict[str, str], on_disk: dict[str, str]) -> list[str]:
    """The top-level settings (sections, ``timezone``) whose values differ between two fingerprints."""
    return sorted(name for name in set(loaded) | set(on_disk) if loaded.get(name) != on_disk.get(name))


def announce_loaded(client: redis.Redis, role: str, bot: BotConfig) -> None:
    """Log that bot.yaml applies until a restart, and publish what was loaded (best effort: a bot
    whose Redis is down still starts; the doctor then has nothing to compare)."""
    log.info("bot.yaml loaded role=%s timezone=%s: read once at start (routes, limits, the schedule and the "
             "worker's tasks are built from it), so edits apply after a restart of the web and worker "
             "processes; texts.yaml and faq.yaml reload by themselves", role, bot.timezone)
    try:
        LoadedConfig(client).publish(role, bot)
    except REDIS_ERRORS as exc:
        log.warning("bot.yaml fingerprint not published role=%s (%s)", role, exc.__class__.__name__)
