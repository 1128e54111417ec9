"""Rotation of the free NextChat password: values, the schedule, and the rotation itself.

A rotation goes through one Lua script (``store.PasswordStore.rotate``), whoever triggers it: the CLI,
the admin API, staff ``#换密码``, the console or the schedule (one rotation per period across all
workers, claimed inside that script). With sync on, followers see a new password only after NextChat
confirmed it (``sync.py``).
"""
from __future__ import annotations

import logging
import secrets
import time
from datetime import datetime, timedelta, tzinfo
from typing import TYPE_CHECKING

from croniter import croniter

from ... import metrics
from ...policy import PASSWORD_VALUE_RE, PasswordPolicy
from ...stores import keys
from ...stores.redis import REDIS_ERRORS
from ...texts import show_time
from .store import PasswordStore, Rotation

if TYPE_CHECKING:
    from ...services import Services

log = logging.getLogger(__name__)


class Schedule:
    """Rotation periods: a cron expression or every N hours, in the configured time zone."""

    def __init__(self, cfg: PasswordPolicy, zone: tzinfo):
        self.tz = zone  # bot.yaml ``timezone``, the zone of every time a person reads
        self.cron = cfg.schedule_cron
        self.every = cfg.schedule_every_hours * 3600 if cfg.schedule_every_hours else 0

    @property
    def enabled(self) -> bool:
        return bool(self.cron or self.every)

    def _offset(self, now: float) -> float:
        return datetime.fromtimestamp(now, self.tz).utcoffset().total_seconds()  # type: ignore[union-attr]

    def period_start(self, now: float) -> float | None:
        """Start of the period ``now`` is in (the latest scheduled rotation time <= now)."""
        if self.cron:
            # croniter's get_prev is strictly before its start: start one second after now (whole seconds).
            base = datetime.fromtimestamp(int(now), self.tz) + timedelta(seconds=1)
            return croniter(self.cron, base).get_prev(datetime).timestamp()
        if self.every:
            off = self._offset(now)
            return ((now + off) // self.every) * self.every - off
        return None

    def next_after(self, now: float) -> float | None:
        if self.cron:
            return croniter(self.cron, datetime.fromtimestamp(int(now), self.tz)).get_next(datetime).timestamp()
        if self.every:
            return (self.period_start(now) or now) + self.every
        return None

    def period_id(self, start: float) -> str:
        return datetime.fromtimestamp(start, self.tz).strftime("%Y%m%dT%H%M")




class Passwords:
    """The password operations the web, the worker and the CLI share."""

    def __init__(self, services: "Services"):
        self.services = services
        self.cfg: PasswordPolicy = services.bot.password
        self.internals = services.internals.password
        self.store = PasswordStore(services.redis, self.internals.audit_max)
        self.schedule = Schedule(self.cfg, services.bot.zone)
        self._done_period: str | None = None  # a cache: the period this process saw rotated

    @property
    def sync_on(self) -> bool:
        return bool(self.services.settings.password_sync_url)

    # -- values ---------------------------------------------------------------------------
    def generate(self) -> str:
        return "".join(secrets.choice(self.internals.alphabet) for _ in range(self.cfg.length))

    def check_value(self, value: str) -> str | None:
        """Why ``value`` cannot be a password (English, for logs/CLI/API), or None."""
        if not (self.cfg.min_length <= len(value) <= 64):
            return f"must be {self.cfg.min_length}-64 characters"
        if not PASSWORD_VALUE_RE.match(value):
            return "may only contain letters, digits and _ . ~ @ + = -"
        return None

    def valid_until(self, now: float) -> tuple[int, str]:
        until = self.schedule.next_after(now)
        if until is None and self.cfg.valid_hours:
            until = now + self.cfg.valid_hours * 3600
        if until is None:
            return 0, ""
        return int(until), self.display_time(until)

    def display_time(self, ts: float) -> str:
        return show_time(ts, self.schedule.tz, self.internals.valid_until_format)

    # -- rotation -------------------------------------------------------------------------
    def rotate(self, trigger: str, by: str, value: str | None = None, now: float | None = None) -> tuple[Rotation, str]:
        """Rotate to ``value`` (or a generated password). Raises ValueError for a bad value."""
        if value is not None:
            problem = self.check_value(value)
            if problem:
                self._audit(by, trigger, "", "refused", problem)
                raise ValueError(problem)
        password = value if value is not None else self.generate()
        rot = self._rotate(password, trigger, by, time.time() if now is None else now)
        assert rot is not None
        self._audit(by, trigger, f"v{rot.version}", "ok", "set by admin" if value is not None else "generated")
        return rot, password

    def _audit(self, by: str, trigger: str, target: str, result: str, detail: str) -> None:
        """Every rotation an admin asks for, in the audit log (never the password itself)."""
        try:
            self.services.audit.record(by, "password.rotate", target, result, f"{trigger}: {detail}")
        except REDIS_ERRORS:
            log.warning("audit record of a password rotation lost: redis unavailable")

    def _rotate(self, password: str, trigger: str, by: str, now: float, period: str | None = None,
                period_ttl: int = 0) -> Rotation | None:
        until, display = self.valid_until(now)
        rot = self.store.rotate(password, now, until, display, trigger, by, self.sync_on, self.cfg.grace_seconds,
                                period, period_ttl)
        if rot is None:  # the schedule period was already claimed by another worker
            return None
        metrics.ROTATIONS.labels(trigger).inc()
        log.info("password rotated version=%s trigger=%s by=%s replaced_unconfirmed=%s visible=%s", rot.version,
                 trigger, by, rot.replaced or "-", "after-sync" if self.sync_on else "now")
        return rot

    # -- sync to NextChat (worker) --------------------------------------------------------
    # -- schedule (worker) ----------------------------------------------------------------
    def scheduled_once(self, now: float | None = None) -> bool:
        """Rotate once per schedule period across all workers; skip (and log) while sync is failing."""
        if not self.schedule.enabled:
            return False
        now = time.time() if now is None else now
        start = self.schedule.period_start(now)
        assert start is not None
        pid = self.schedule.period_id(start)
        if self._done_period == pid:
            return False
        rds = self.services.redis
        rotated_at, sync_state = rds.hmget(keys.password_state(), ["rotated_at", "sync_state"])
        if float(rotated_at or 0) >= start:  # already rotated in this period (by anyone)
            self._done_period = pid
            return False
        ttl = 8 * 86400 + (self.schedule.every or 0) * 2
        if self.sync_on and sync_state == "failing":
            if rds.set(keys.password_period(pid), "skipped", nx=True, ex=ttl):
                log.warning("scheduled password rotation skipped period=%s: the last sync is still failing", pid)
            self._done_period = pid
            return False
        # The period is claimed inside the rotation script: if this call fails (Redis error, the worker
        # killed), either both happened or neither did, and the next tick tries again.
        rot = self._rotate(self.generate(), "schedule", "schedule", now, period=pid, period_ttl=ttl)
        self._done_period = pid
        return rot is not None



class ScheduleTask:
    name = "password_schedule"

    def __init__(self, passwords: Passwords):
        self.passwords = passwords

    def tick(self) -> bool:
        return self.passwords.scheduled_once()
