"""Ticket delivery: the worker side of ``wxbot.features.tickets``, a consumer of the jobs' Stream.

Each Stream entry is a *job* (``new`` ticket, ``shot`` added later, support ``reply``, ``close``) for one
ticket. A job has channels (``channels.py``), each attempted and acknowledged on its own; their state
lives in the ticket's delivery hash (``<job>|<channel>`` -> ``{"s": pending|done|deferred|skipped|dead,
"a": attempts, "n": next attempt (unix time), "e": last error}``), so it survives restarts.

Fetches go first (the forwards refer to the stored files), WeCom images after the markdown. A failed
attempt is retried with exponential backoff and jitter (tenacity computes the delay; the due time is
stored in Redis and in the ``retry`` sorted set), or after the receiver's ``Retry-After`` when that is
longer (capped); after ``max_attempts`` the channel is dead-lettered and admins are alerted. A channel
that must wait (the WeCom robot's budget or its 45009, WeChat's daily quota) is due again then, with
no attempt counted. An entry is acknowledged (XACK) only when every channel is final, so a killed
worker's entries stay pending and are taken over by XAUTOCLAIM after ``reclaim_idle``. A short lease
per job and channel keeps two workers from attempting the same channel at the same time. ``clock``
(unix time) is every due time's clock, so a test drives minutes of retries without sleeping.
"""
from __future__ import annotations

import json
import logging
import os
import socket
import time
import uuid
from typing import Callable

import httpx
import redis

from ... import metrics
from ...alerts import alert
from ...notifiers.webhook import DeliveryError
from ...retry import backoff
from ...router import hash_openid
from ...stores import keys
from ...stores.redis import REDIS_ERRORS, release_lock
from ...wechat.api import WeChatAPIError
from .channels import UNSIGNED_REASON, Channels, Deferred, Failure, Waiting, reason_of
from .digest import item_name
from .messages import texts_of
from .runtime import Runtime
from .store import job_name

log = logging.getLogger(__name__)

FINAL = ("done", "deferred", "skipped", "dead")
REDIS_FAILURES = (redis.RedisError, *REDIS_ERRORS)

# A message WeChat would not deliver now (48-hour window): queue it for the recipient's next message
# and record the channel as deferred in ONE step, so a crash in between cannot queue it twice.
_DEFER = """
local cur = redis.call('HGET', KEYS[2], ARGV[2])
if cur then
  local ok, st = pcall(cjson.decode, cur)
  if ok and type(st) == 'table' and st['s'] == 'deferred' then return 0 end
end
redis.call('RPUSH', KEYS[1], ARGV[1])
redis.call('HSET', KEYS[2], ARGV[2], ARGV[3])
return 1
"""


# Write a channel's new state unless it is already final: a digest sent by another worker may have
# marked it done while this attempt ran. Returns the state now stored.
_SET_STATE = """
local cur = redis.call('HGET', KEYS[1], ARGV[1])
if cur then
  local ok, st = pcall(cjson.decode, cur)
  if ok and type(st) == 'table' and (st['s'] == 'done' or st['s'] == 'dead' or st['s'] == 'skipped'
      or st['s'] == 'deferred') then
    return cur
  end
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
return ARGV[2]
"""


# -- the delivery task --------------------------------------------------------------------------

def consumer_name() -> str:
    return f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"


class TicketDelivery:
    """Worker task: read new jobs, retry due ones, reclaim a dead worker's, trim the Stream."""

    name = "tickets"

    def __init__(self, rt: Runtime, consumer: str | None = None, clock: Callable[[], float] = time.time):
        self.rt = rt
        self.services = services = rt.services
        self.consumer = consumer or consumer_name()
        self.clock = clock
        self.channel = Channels(rt, clock)
        self._group_ready = False
        self._next_reclaim = 0.0
        self._next_trim: float | None = None
        self._defer_script = services.redis.register_script(_DEFER)
        self._set_state = services.redis.register_script(_SET_STATE)
        if services.settings.ticket_webhook_url and not services.settings.ticket_webhook_secret:
            log.error("ticket webhook: %s; its deliveries are dead-lettered (set the secret, then run "
                      "`wxbot tickets retry`)", UNSIGNED_REASON)

    # -- helpers -------------------------------------------------------------------------------
    @property
    def tune(self):
        return self.rt.internals

    @property
    def r(self) -> redis.Redis:
        return self.services.redis

    def ensure_group(self) -> None:
        if self._group_ready:
            return
        try:
            self.r.xgroup_create(keys.TICKETS_STREAM, keys.TICKETS_GROUP, id="0", mkstream=True)
            log.info("ticket consumer group created")
        except redis.ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise
        self._group_ready = True

    def _lease_ms(self) -> int:
        tune = self.tune
        return int((max(tune.attempt_deadline, tune.screenshot_deadline) + tune.lease_margin) * 1000)

    def backoff(self, attempts: int) -> float:
        """Seconds before attempt ``attempts + 1``: initial * 2**(attempts-1) + U(0, jitter), capped."""
        tune = self.tune
        return backoff(attempts, tune.backoff_initial, tune.backoff_max, tune.backoff_jitter)

    # -- tick ----------------------------------------------------------------------------------
    def tick(self) -> bool:
        try:
            self.ensure_group()
            did = False
            now = time.monotonic()
            if now >= self._next_reclaim:
                self._next_reclaim = now + self.tune.reclaim_interval
                did = self.reclaim() or did
            did = self.due_retries() or did
            did = self.read_new() or did
            if self._next_trim is None:
                self._next_trim = time.monotonic() + self.tune.trim_interval
            elif time.monotonic() >= self._next_trim:
                self._next_trim = time.monotonic() + self.tune.trim_interval
                self.trim()
            return did
        except redis.ResponseError as exc:
            if "NOGROUP" in str(exc):  # the stream was deleted under us: recreate on the next tick
                self._group_ready = False
                return False
            raise

    def read_new(self) -> bool:
        block = self.tune.block_ms if self.tune.block_ms > 0 else None
        resp = self.r.xreadgroup(keys.TICKETS_GROUP, self.consumer, {keys.TICKETS_STREAM: ">"},
                                 count=self.tune.batch, block=block)
        did = False
        for _stream, entries in resp or []:
            for entry_id, fields in entries:
                self.process_safely(entry_id, fields)
                did = True
        return did

    def reclaim(self) -> bool:
        """Take over entries another consumer left pending longer than ``reclaim_idle``."""
        did = False
        start = "0-0"
        idle_ms = int(self.tune.reclaim_idle * 1000)
        for _ in range(10):
            resp = self.r.xautoclaim(keys.TICKETS_STREAM, keys.TICKETS_GROUP, self.consumer, idle_ms,
                                     start_id=start, count=self.tune.batch)
            start, entries = resp[0], resp[1]
            for entry_id, fields in entries:
                if not fields:  # deleted entry: nothing left to deliver
                    self.r.xack(keys.TICKETS_STREAM, keys.TICKETS_GROUP, entry_id)
                    continue
                log.info("ticket job reclaimed entry=%s ticket=%s", entry_id, fields.get("t"))
                self.process_safely(entry_id, fields)
                did = True
            if start in ("0-0", b"0-0"):
                break
        return did

    def due_retries(self) -> bool:
        due = self.r.zrangebyscore(keys.TICKETS_RETRY, "-inf", self.clock(), start=0, num=self.tune.batch)
        did = False
        for entry_id in due:
            if not self.r.zrem(keys.TICKETS_RETRY, entry_id):
                continue  # another worker took this turn
            claimed = self.r.xclaim(keys.TICKETS_STREAM, keys.TICKETS_GROUP, self.consumer, 0, [entry_id])
            for cid, fields in claimed:
                if fields:
                    self.process_safely(cid, fields)
                    did = True
                else:
                    self.r.xack(keys.TICKETS_STREAM, keys.TICKETS_GROUP, cid)
        return did

    def trim(self) -> int:
        """Drop acknowledged entries older than ``stream_retention``; never an unacknowledged one."""
        try:
            groups = self.r.xinfo_groups(keys.TICKETS_STREAM)
        except redis.ResponseError:
            return 0
        bound = _id_tuple(f"{int((self.clock() - self.tune.stream_retention) * 1000)}-0")
        for group in groups:
            last = group.get("last-delivered-id") or "0-0"
            bound = min(bound, _id_tuple(last))
            pending = self.r.xpending(keys.TICKETS_STREAM, group["name"])
            if pending.get("pending") and pending.get("min"):
                bound = min(bound, _id_tuple(pending["min"]))
        if bound <= (0, 0):
            return 0
        removed = self.r.xtrim(keys.TICKETS_STREAM, minid=f"{bound[0]}-{bound[1]}", approximate=False)
        if removed:
            log.info("ticket stream trimmed removed=%s", removed)
        return int(removed or 0)

    # -- one job ---------------------------------------------------------------------------------
    def channels(self, kind: str, ref: str, rec: dict) -> list[list[str]]:
        settings = self.services.settings
        store = self.rt.store
        shots = store.screenshots(rec)
        wecom_on = bool(settings.wecom_webhook_url)
        hook_on = bool(settings.ticket_webhook_url)
        if kind == "new":
            initial = int(rec.get("shots0") or rec.get("nshots") or 0)
            ns = [n for n in shots if n <= initial]
            forward = (["webhook"] if hook_on else []) + (["wecom"] if wecom_on else [])
            forward += [f"support:{hash_openid(o, self.services.log_salt)}" for o in settings.support_openids]
            return [[f"fetch:{n}" for n in ns], forward, [f"wecom_img:{n}" for n in ns] if wecom_on else []]
        if kind == "shot":
            n = int(ref or 0)
            return [[f"fetch:{n}"], ["webhook"] if hook_on else [], [f"wecom_img:{n}"] if wecom_on else []]
        if kind in ("reply", "close"):
            return [["follower"]]
        log.warning("ticket job of unknown kind=%s ignored", kind)
        return []

    def _ack(self, entry_id: str) -> None:
        pipe = self.r.pipeline(transaction=False)
        pipe.xack(keys.TICKETS_STREAM, keys.TICKETS_GROUP, entry_id)
        pipe.zrem(keys.TICKETS_RETRY, entry_id)
        pipe.execute()

    def process(self, entry_id: str, fields: dict) -> None:
        tid, kind, ref = fields.get("t", ""), fields.get("k", ""), fields.get("r", "")
        store = self.rt.store
        rec = store.get(tid) if tid else None
        if rec is None:
            log.warning("ticket job for a missing ticket acknowledged entry=%s", entry_id)
            self._ack(entry_id)
            return
        job = job_name(kind, ref)
        dl_key = keys.ticket_deliveries(tid)
        next_due: float | None = None
        for _ in range(4):  # fetch -> forwards -> images; re-read the record after each phase
            phases = self.channels(kind, ref, rec)
            every = [ch for phase in phases for ch in phase]
            if not every:
                break
            raw = self.r.hmget(dl_key, [f"{job}|{ch}" for ch in every])
            states = {ch: (json.loads(v) if v else {"s": "pending", "a": 0, "n": 0}) for ch, v in zip(every, raw)}
            phase = next((p for p in phases if any(states[ch]["s"] not in FINAL for ch in p)), None)
            if phase is None:
                break
            now = self.clock()
            for ch in phase:
                st = states[ch]
                if st["s"] in FINAL:
                    continue
                if float(st.get("n") or 0) > now:
                    next_due = min(next_due or float("inf"), float(st["n"]))
                    continue
                new = self.run_channel(tid, job, kind, ref, ch, rec)
                if new is None:  # another worker holds the lease
                    next_due = min(next_due or float("inf"), self.clock() + self._lease_ms() / 1000)
                elif new["s"] not in FINAL:
                    next_due = min(next_due or float("inf"), float(new.get("n") or 0))
            if next_due is not None:
                break
            rec = store.get(tid) or rec
        else:
            next_due = self.clock()
        if next_due is None:
            self._ack(entry_id)
            log.info("ticket job complete ticket=%s job=%s entry=%s", tid, job, entry_id)
        else:
            self.r.zadd(keys.TICKETS_RETRY, {entry_id: next_due})

    def run_channel(self, tid: str, job: str, kind: str, ref: str, ch: str, rec: dict) -> dict | None:
        """Attempt one channel under its lease; return its new state (None: someone else holds it)."""
        lease_key = keys.ticket_lease(tid, job, ch)
        token = uuid.uuid4().hex
        if not self.r.set(lease_key, token, nx=True, px=self._lease_ms()):
            return None
        dl_key = keys.ticket_deliveries(tid)
        field = f"{job}|{ch}"
        try:
            raw = self.r.hget(dl_key, field)
            st = json.loads(raw) if raw else {"s": "pending", "a": 0, "n": 0}
            if st["s"] in FINAL or float(st.get("n") or 0) > self.clock():
                return st
            attempts = int(st.get("a") or 0) + 1
            started = time.monotonic()
            try:
                outcome, note = self.channel.attempt(tid, job, kind, ref, ch, rec)
                st = {"s": outcome, "a": attempts, "n": 0, "t": self.clock(), "e": note}
                metrics.TICKETS.labels(ch.split(":")[0], outcome).inc()
                log.info("ticket delivery %s ticket=%s job=%s channel=%s attempt=%d ms=%.0f", outcome, tid, job,
                         ch, attempts, (time.monotonic() - started) * 1000)
            except Deferred as d:
                st = {"s": "deferred", "a": attempts, "n": 0, "t": self.clock(), "e": d.note}
                queued = self._defer_script(keys=[keys.pending_replies(d.openid), dl_key],
                                            args=[d.text, field, json.dumps(st, ensure_ascii=False)])
                if queued:
                    metrics.TICKETS.labels(ch.split(":")[0], "deferred").inc()
                log.info("ticket delivery deferred ticket=%s job=%s channel=%s attempt=%d (%s)", tid, job, ch,
                         attempts, d.note)
                return st
            except Waiting as w:  # not a failed attempt: the count stays
                st = {"s": "pending", "a": attempts - 1, "n": w.until, "e": w.note}
                metrics.TICKETS.labels(ch.split(":")[0], "waiting").inc()
                log.info("ticket delivery waits ticket=%s job=%s channel=%s for=%.0fs (%s)", tid, job, ch,
                         w.until - self.clock(), w.note)
            except (Failure, DeliveryError, WeChatAPIError, OSError, httpx.HTTPError) as exc:
                reason, retryable = reason_of(exc)
                if isinstance(exc, Failure) and exc.config:
                    st = {"s": "dead", "a": attempts, "n": 0, "t": self.clock(), "e": reason}
                    self.dead_letter(tid, job, ch, attempts, reason, config=True)
                elif retryable and attempts < self.tune.max_attempts:
                    delay = self.backoff(attempts)
                    asked = getattr(exc, "retry_after", None)
                    if asked is not None:  # the receiver said when (HTTP 429/503): honoured, capped
                        delay = max(delay, min(asked, self.services.internals.http.retry_after_max))
                    st = {"s": "pending", "a": attempts, "n": self.clock() + delay, "e": reason}
                    metrics.TICKETS.labels(ch.split(":")[0], "failed").inc()
                    log.warning("ticket delivery failed ticket=%s job=%s channel=%s attempt=%d reason=%s "
                                "retry_in=%.2fs", tid, job, ch, attempts, reason, delay)
                else:
                    st = {"s": "dead", "a": attempts, "n": 0, "t": self.clock(), "e": reason}
                    self.dead_letter(tid, job, ch, attempts, reason)
            except REDIS_FAILURES:
                raise
            except Exception as exc:  # noqa: BLE001 - a poison ticket fails its own channel, never the batch
                st = self._poisoned(tid, job, ch, attempts, exc)
            stored = self._set_state(keys=[dl_key], args=[field, json.dumps(st, ensure_ascii=False)])
            return json.loads(stored)
        finally:
            release_lock(self.r, lease_key, token)

    def _poisoned(self, tid: str, job: str, ch: str, attempts: int, exc: Exception) -> dict:
        """An unexpected exception (bad data, a bug) in one attempt: a failed attempt of this ticket on
        this channel only. The traceback is logged once (first attempt); later ones say the reason."""
        reason = f"unexpected {exc.__class__.__name__}"
        if attempts == 1:
            log.error("ticket delivery failed unexpectedly ticket=%s job=%s channel=%s attempt=%d", tid, job, ch,
                      attempts, exc_info=exc)
        if attempts < self.tune.max_attempts:
            delay = self.backoff(attempts)
            metrics.TICKETS.labels(ch.split(":")[0], "failed").inc()
            log.warning("ticket delivery failed ticket=%s job=%s channel=%s attempt=%d reason=%s retry_in=%.2fs",
                        tid, job, ch, attempts, reason, delay)
            return {"s": "pending", "a": attempts, "n": self.clock() + delay, "e": reason}
        self.dead_letter(tid, job, ch, attempts, reason)
        return {"s": "dead", "a": attempts, "n": 0, "t": self.clock(), "e": reason}

    def process_safely(self, entry_id: str, fields: dict) -> None:
        """``process`` one entry; an exception outside any channel (an unreadable record) fails this
        entry only: it is retried with backoff, then dead-lettered and alerted, and the batch goes on."""
        try:
            self.process(entry_id, fields)
        except REDIS_FAILURES:
            raise
        except Exception as exc:  # noqa: BLE001
            tid = str(fields.get("t", ""))
            job = job_name(str(fields.get("k", "")), str(fields.get("r", "")))
            attempts = int(self.r.hincrby(keys.ticket_deliveries(tid), f"{job}|entry", 1)) if tid else 1
            if attempts == 1:
                log.error("ticket job failed unexpectedly ticket=%s job=%s entry=%s", tid, job, entry_id, exc_info=exc)
            if tid and attempts < self.tune.max_attempts:
                delay = self.backoff(attempts)
                log.warning("ticket job failed ticket=%s job=%s attempt=%d reason=unexpected %s retry_in=%.2fs",
                            tid, job, attempts, exc.__class__.__name__, delay)
                self.r.zadd(keys.TICKETS_RETRY, {entry_id: self.clock() + delay})
                return
            self.dead_letter(tid, job, "entry", attempts, f"unexpected {exc.__class__.__name__}")
            self._ack(entry_id)

    def dead_letter(self, tid: str, job: str, ch: str, attempts: int, reason: str, config: bool = False) -> None:
        metrics.TICKETS.labels(ch.split(":")[0], "dead").inc()
        if ch == "wecom":  # its text leaves the robot's queue
            self.channel.digest.drop(self.services.settings.wecom_webhook_url, item_name(tid, job))
        log.error("ticket delivery dead-lettered ticket=%s job=%s channel=%s attempts=%d reason=%s",
                  tid, job, ch, attempts, reason)
        self.r.zadd(keys.TICKETS_DEAD, {tid: self.clock()})
        if ch.startswith("fetch:"):
            n = int(ch.split(":", 1)[1])
            shot = self.rt.store.screenshots(self.rt.store.get(tid) or {}).get(n)
            if shot is not None:
                shot["error"] = reason
                self.rt.store.update_screenshot(tid, n, shot)
        if config:  # the same mistake for every ticket: one alert (per alerts.cooldown), not one per ticket
            message = texts_of(self.services).render("tickets.support.config_error", channel=ch.split(":")[0],
                                                   reason=reason)
            alert(self.services, "ticket_config", ch.split(":")[0], message)
            return
        message = texts_of(self.services).render("tickets.support.dead_letter", id=tid, job=job, channel=ch,
                                               attempts=attempts, reason=reason)
        alert(self.services, "ticket_dead_letter", tid, message)

    # -- channels --------------------------------------------------------------------------------
def _id_tuple(entry_id: str) -> tuple[int, int]:
    ms, _, seq = str(entry_id).partition("-")
    return int(ms), int(seq or 0)

