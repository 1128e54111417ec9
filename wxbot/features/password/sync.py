"""Sync of the password to NextChat (worker side).

With ``WXBOT_PASSWORD_SYNC_URL`` set, the worker POSTs each new password (and the codes NextChat must
keep accepting during the grace period) to NextChat's receiver, signed like every wxbot webhook;
followers see a rotation only once the receiver answered 2xx. Failures retry with backoff and alert
admins after ``password.alert_after_failures`` attempts in a row. Safe with any number of workers (a
lock in Redis).
"""
from __future__ import annotations

import logging
import time
import uuid
from datetime import datetime
from typing import TYPE_CHECKING, Any

from ... import metrics
from ...alerts import alert
from ...notifiers.webhook import DeliveryError, post_signed_json
from ...retry import backoff
from ...stores import keys
from ...stores.redis import release_lock
from .rotation import Passwords
from .store import PasswordState

if TYPE_CHECKING:
    from ...services import Services

log = logging.getLogger(__name__)


class PasswordSync:
    def __init__(self, services: "Services", passwords: Passwords):
        self.services = services
        self.passwords = passwords
        self.store = passwords.store
        self.cfg = passwords.cfg
        self.internals = passwords.internals

    @property
    def sync_on(self) -> bool:
        return self.passwords.sync_on

    def needs_sync(self, st: PasswordState, now: float) -> bool:
        desired = st.desired_codes(now)
        if not desired:
            return False
        if st.pending or st.sync_codes is None:
            return True
        return self.internals.drop_expired and set(desired) != set(st.sync_codes)

    def backoff(self, attempt: int) -> float:
        """Delay before attempt ``attempt + 1``: exponential from ``sync_retry_base``, capped, jittered."""
        base = self.internals.sync_retry_base
        return backoff(attempt, base, self.internals.sync_retry_max, jitter=base * 0.2)

    def payload(self, st: PasswordState, now: float) -> tuple[int, list[str], dict[str, Any]]:
        codes = st.desired_codes(now)
        if st.pending:
            version, password, until = st.current_version, st.current, st.current_until
        else:
            assert st.shown is not None
            version, password, until = st.shown.version, st.shown.password, st.shown.valid_until
        body = {
            "event": "password.sync",
            "version": version,
            "password": password,
            "shown": st.shown.password if st.shown else None,
            "codes": codes,
            "code_env": ",".join(codes),
            "valid_until": datetime.fromtimestamp(until, self.passwords.schedule.tz).isoformat() if until else None,
            "valid_until_ts": until or None,
            "sent_at": int(now),
        }
        return version, codes, body

    def sync_once(self, now: float | None = None) -> bool:
        """One sync step; True when it did something. Safe to call from many workers."""
        clock = (lambda: now) if now is not None else time.time
        st = self.store.state()
        if not self.sync_on:
            if st.pending:  # sync was switched off with a rotation waiting: show it now
                if self.store.confirm(st.current_version, None, clock(), self.cfg.grace_seconds):
                    log.info("password version=%s shown without sync (WXBOT_PASSWORD_SYNC_URL not set)",
                             st.current_version)
                return True
            return False
        if not self.needs_sync(st, clock()) or clock() < st.sync_next_at:
            return False
        rds = self.services.redis
        owner = uuid.uuid4().hex
        lock_ms = int((self.internals.sync_deadline + 10) * 1000)
        if not rds.set(keys.password_sync_lock(), owner, nx=True, px=lock_ms):
            return False
        try:
            st = self.store.state()  # fresh, under the lock
            if not self.needs_sync(st, clock()) or clock() < st.sync_next_at:
                return False
            version, codes, body = self.payload(st, clock())
            settings = self.services.settings
            if not settings.password_sync_secret:
                self._failed(st, version, clock(), "WXBOT_PASSWORD_SYNC_SECRET is not set; refusing to send unsigned")
                return True
            try:
                post_signed_json(self.services.http, settings.password_sync_url, settings.password_sync_secret,
                                 body, self.internals.sync_deadline, extra_headers={"X-Wxbot-Event": "password.sync"})
            except DeliveryError as exc:
                self._failed(st, version, clock(), str(exc))
                return True
            promoted = self.store.confirm(version, codes, clock(), self.cfg.grace_seconds)
            log.info("password sync ok version=%s codes=%d shown_now=%s", version, len(codes), promoted)
            if st.sync_state == "failing":
                log.info("password sync recovered after %d failed attempt(s)", st.sync_attempts)
            return True
        finally:
            release_lock(rds, keys.password_sync_lock(), owner)

    def _failed(self, st: PasswordState, version: int, now: float, reason: str) -> None:
        metrics.SYNC_FAILURES.inc()
        delay = self.backoff(st.sync_attempts + 1)
        attempts = self.store.sync_failed(version, now, now + delay, reason)
        if attempts < 0:
            log.info("password sync of version=%s failed (%s) but a newer rotation replaced it", version, reason)
            return
        log.warning("password sync failed version=%s attempt=%d reason=%s retry_in=%.1fs", version, attempts,
                    reason, delay)
        if attempts >= self.cfg.alert_after_failures:
            texts = self.services.texts.get()
            alert(self.services, "password_sync", "nextchat",
                  texts.render("password.alert_sync_failing", attempts=attempts, error=reason, version=version))


class SyncTask:
    name = "password_sync"

    def __init__(self, sync: PasswordSync):
        self.sync = sync

    def tick(self) -> bool:
        return self.sync.sync_once()
