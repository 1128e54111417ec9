"""Ticket delivery: the worker side of ``wxbot.features.tickets``.

Each Stream entry is a *job* (``new`` ticket, ``shot`` added later, support ``reply``, ``close``) for one
ticket. A job has channels, each attempted and acknowledged on its own; their state lives in the
ticket's delivery hash (``<job>|<channel>`` -> ``{"s": pending|done|deferred|skipped|dead, "a":
attempts, "n": next attempt (unix time), "e": last error}``), so it survives restarts:

* ``fetch:<n>``     download screenshot n (WeChat media by media_id, else the PicUrl when its host is in
                    ``tickets.picture_hosts``) into ``<data_dir>/tickets/<id>/``
* ``webhook``       signed JSON to ``WXBOT_TICKET_WEBHOOK_URL`` with ``Idempotency-Key``; never unsigned:
                    without ``WXBOT_TICKET_WEBHOOK_SECRET`` the channel is dead-lettered with that reason
* ``wecom``         markdown to the WeCom robot; ``wecom_img:<n>`` the screenshot as an image message
* ``support:<h>``   WeChat message to one support openid (template message when configured)
* ``follower``      a support reply / closing notice to the follower (customer-service message)

Fetches go first (the forwards refer to the stored files), WeCom images after the markdown. A failed
attempt is retried with exponential backoff and jitter (tenacity computes the delay; the due time is
stored in Redis and in the ``retry`` sorted set); after ``max_attempts`` the channel is dead-lettered
and admins are alerted. An entry is acknowledged (XACK) only when every channel is final, so a killed
worker's entries stay pending and are taken over by XAUTOCLAIM after ``reclaim_idle``. A short lease
per job and channel keeps two workers from attempting the same channel at the same time.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import socket
import time
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import httpx
import redis

from ... import metrics
from ...alerts import alert
from ...notifiers import wecom
from ...notifiers.webhook import BodyTooLarge, DeadlineExceeded, DeliveryError, get_bounded, post_signed_json
from ...retry import backoff
from ...router import hash_openid
from ...stores import keys
from ...stores.redis import REDIS_ERRORS, release_lock
from ...textnorm import clip_utf8
from ...wechat.api import CS_WINDOW_ERRORS, WeChatAPIError, transport_reason
from .intake import category_label
from .shots import ShotStoreError
from .store import Runtime, format_time, job_name

if TYPE_CHECKING:
    from ...services import Services

log = logging.getLogger(__name__)

FINAL = ("done", "deferred", "skipped", "dead")
REDIS_FAILURES = (redis.RedisError, *REDIS_ERRORS)
# WeChat errcodes a retry will not fix: invalid openid, follower unsubscribed, bad template.
WECHAT_PERMANENT = {40003, 43004, 40037, 47003}
# The account cannot send customer-service messages at all right now (no API credentials, an
# unverified account's 48001, a server IP missing from the allow-list's 40164): like the 48-hour
# window errors, the text waits for the person's next message instead of being lost.
CANNOT_SEND = {48001, 40164}
MEDIA_INVALID = 40007  # media/get: invalid (or expired) media_id


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

UNSIGNED_REASON = "WXBOT_TICKET_WEBHOOK_SECRET is not set; refusing to send unsigned"


class Failure(Exception):
    """One failed attempt; ``str()`` is safe to log and to store (no URL, no secret).

    ``config`` marks a deployment mistake (the same for every ticket): it is alerted once as
    ``ticket_config``, not once per ticket."""

    def __init__(self, reason: str, retryable: bool = True, config: bool = False):
        super().__init__(reason)
        self.retryable = retryable
        self.config = config


class Deferred(Exception):
    """The recipient is outside WeChat's window: show ``text`` at their next message."""

    def __init__(self, openid: str, text: str, note: str):
        super().__init__(note)
        self.openid = openid
        self.text = text
        self.note = note


def host_allowed(url: str, allowed: list[str]) -> bool:
    """``allowed`` entries starting with a dot are domain suffixes (``.qpic.cn`` also allows
    ``qpic.cn``); others are exact host names."""
    host = (urlsplit(url).hostname or "").lower().rstrip(".")
    if not host:
        return False
    for entry in allowed:
        entry = entry.lower().strip()
        if entry.startswith("."):
            if host.endswith(entry) or host == entry[1:]:
                return True
        elif entry and host == entry:
            return True
    return False


# -- bounded downloads --------------------------------------------------------------------------

def fetch_bounded(client: httpx.Client, url: str, max_bytes: int, deadline: float) -> tuple[bytes, str]:
    """GET ``url`` completely within ``deadline`` seconds and ``max_bytes``, or raise Failure."""
    if urlsplit(url).scheme not in ("http", "https"):
        raise Failure("picture URL is not http(s)", retryable=False)

    try:
        status, ctype, data = get_bounded(client, url, max_bytes, deadline, name="wxbot-fetch")
    except DeadlineExceeded:
        raise Failure(f"picture not downloaded within {deadline:.1f}s") from None
    except BodyTooLarge:
        raise Failure(f"picture larger than {max_bytes} bytes", retryable=False) from None
    except Exception as exc:
        raise Failure(f"transport error {exc.__class__.__name__}") from None
    if status != 200:
        raise Failure(f"picture HTTP {status}", retryable=status >= 500 or status == 429)
    return data, ctype


def image_ext(data: bytes) -> str | None:
    if data.startswith(b"\xff\xd8\xff"):
        return "jpg"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return "gif"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    return None


# -- what support receives ----------------------------------------------------------------------

def _texts(services: "Services"):
    return services.texts.get()


def _category(services: "Services", cat: str) -> str:
    return category_label(_texts(services), cat)


def _iso(ts: str | float | None, zone) -> str | None:
    if ts in (None, ""):
        return None
    from datetime import datetime

    return datetime.fromtimestamp(float(ts), zone).isoformat(timespec="seconds")


def _shot_json(n: int, shot: dict) -> dict:
    status = "stored" if shot.get("file") else ("unavailable" if shot.get("error") else "pending")
    out: dict[str, Any] = {"n": n, "status": status}
    if shot.get("file"):
        out.update(file=shot["file"], bytes=shot.get("bytes"), sha256=shot.get("sha256"),
                   content_type=shot.get("content_type"))
    return out


def webhook_payload(services: "Services", rec: dict, shots: dict[int, dict], event: str,
                    shot_n: int | None = None) -> dict:
    """The JSON body of the ticket webhook (documented in README: Tickets)."""
    tid = rec["id"]
    ticket = {
        "id": tid,
        "status": rec.get("status"),
        "category": rec.get("category") or "other",
        "category_label": _category(services, rec.get("category") or "other"),
        "order_no": rec.get("order_no") or None,
        "paid_at": rec.get("paid_at") or None,
        "amount": rec.get("amount") or None,
        "description": rec.get("description") or "",
        "created_at": _iso(rec.get("created_at"), services.bot.zone),
        "follower": hash_openid(rec.get("openid", ""), services.log_salt),
        "screenshots": [_shot_json(n, s) for n, s in shots.items()],
        "reply_command": f"#回复 {tid} ",
    }
    body: dict[str, Any] = {"event": event, "ticket": ticket}
    if shot_n is not None and shot_n in shots:
        body["screenshot"] = _shot_json(shot_n, shots[shot_n])
    return body


def _md_safe(text: str) -> str:
    """User text inside WeCom markdown: no tags, links or code spans of the follower's making."""
    return (text or "").replace("<", "＜").replace(">", "＞").replace("`", "'").replace("[", "［").replace("]", "］")


def _vars(services: "Services", rec: dict, shots: dict[int, dict]) -> dict[str, Any]:
    return {
        "id": rec["id"],
        "category": _category(services, rec.get("category") or "other"),
        "order_no": rec.get("order_no") or "-",
        "paid_at": rec.get("paid_at") or "-",
        "amount": rec.get("amount") or "-",
        "created": format_time(rec.get("created_at"), services.bot.zone),
        "shots": len(shots),
        "description": rec.get("description") or "-",
    }


def wecom_markdown(services: "Services", rec: dict, shots: dict[int, dict], limit: int) -> str:
    """The robot's markdown, within ``limit`` UTF-8 bytes: the description is shortened, not the facts."""
    texts = _texts(services)
    values = _vars(services, rec, shots)
    values["order_no"] = _md_safe(values["order_no"])
    values["paid_at"] = _md_safe(values["paid_at"])
    values["amount"] = _md_safe(values["amount"])
    desc = _md_safe(values["description"]).replace("\n", "\n> ")
    while True:
        content = texts.render("tickets.support.markdown", **dict(values, description=desc))
        size = len(content.encode("utf-8"))
        if size <= limit or not desc:
            return clip_utf8(content, limit)
        over = size - limit
        cut = max(1, len(desc) - over // 3 - 2)  # CJK characters are 3 bytes
        desc = desc[:cut].rstrip() + "…" if cut < len(desc) else desc[:-2] + "…"


def support_text(services: "Services", rec: dict, shots: dict[int, dict]) -> str:
    return _texts(services).render("tickets.support.text", **_vars(services, rec, shots))


def template_data(services: "Services", rec: dict, shots: dict[int, dict], fields: dict[str, str]) -> dict:
    values = _vars(services, rec, shots)
    out = {}
    for name, pattern in fields.items():
        value = pattern.format_map(values)
        out[name] = {"value": value[:20]}
    return out


# -- the delivery task --------------------------------------------------------------------------

def consumer_name() -> str:
    return f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"


class TicketDelivery:
    """Worker task: read new jobs, retry due ones, reclaim a dead worker's, trim the Stream."""

    name = "tickets"

    def __init__(self, rt: Runtime, consumer: str | None = None):
        self.rt = rt
        self.services = services = rt.services
        self.consumer = consumer or consumer_name()
        self._group_ready = False
        self._next_reclaim = 0.0
        self._next_trim: float | None = None
        self._defer_script = services.redis.register_script(_DEFER)
        if services.settings.ticket_webhook_url and not services.settings.ticket_webhook_secret:
            log.error("ticket webhook: %s; its deliveries are dead-lettered (set the secret, then run "
                      "`wxbot tickets retry`)", UNSIGNED_REASON)

    # -- helpers -------------------------------------------------------------------------------
    @property
    def cfg(self):
        return self.rt.cfg

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
        due = self.r.zrangebyscore(keys.TICKETS_RETRY, "-inf", time.time(), start=0, num=self.tune.batch)
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
        bound = _id_tuple(f"{int((time.time() - self.tune.stream_retention) * 1000)}-0")
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
            now = time.time()
            for ch in phase:
                st = states[ch]
                if st["s"] in FINAL:
                    continue
                if float(st.get("n") or 0) > now:
                    next_due = min(next_due or float("inf"), float(st["n"]))
                    continue
                new = self.run_channel(tid, job, kind, ref, ch, rec)
                if new is None:  # another worker holds the lease
                    next_due = min(next_due or float("inf"), time.time() + self._lease_ms() / 1000)
                elif new["s"] not in FINAL:
                    next_due = min(next_due or float("inf"), float(new.get("n") or 0))
            if next_due is not None:
                break
            rec = store.get(tid) or rec
        else:
            next_due = time.time()
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
            if st["s"] in FINAL or float(st.get("n") or 0) > time.time():
                return st
            attempts = int(st.get("a") or 0) + 1
            started = time.monotonic()
            try:
                outcome, note = self.attempt(tid, kind, ref, ch, rec)
                st = {"s": outcome, "a": attempts, "n": 0, "t": time.time(), "e": note}
                metrics.TICKETS.labels(ch.split(":")[0], outcome).inc()
                log.info("ticket delivery %s ticket=%s job=%s channel=%s attempt=%d ms=%.0f", outcome, tid, job,
                         ch, attempts, (time.monotonic() - started) * 1000)
            except Deferred as d:
                st = {"s": "deferred", "a": attempts, "n": 0, "t": time.time(), "e": d.note}
                queued = self._defer_script(keys=[keys.pending_replies(d.openid), dl_key],
                                            args=[d.text, field, json.dumps(st, ensure_ascii=False)])
                if queued:
                    metrics.TICKETS.labels(ch.split(":")[0], "deferred").inc()
                log.info("ticket delivery deferred ticket=%s job=%s channel=%s attempt=%d (%s)", tid, job, ch,
                         attempts, d.note)
                return st
            except (Failure, DeliveryError, WeChatAPIError, OSError, httpx.HTTPError) as exc:
                reason, retryable = _reason(exc)
                if isinstance(exc, Failure) and exc.config:
                    st = {"s": "dead", "a": attempts, "n": 0, "t": time.time(), "e": reason}
                    self.dead_letter(tid, job, ch, attempts, reason, config=True)
                elif retryable and attempts < self.tune.max_attempts:
                    delay = self.backoff(attempts)
                    st = {"s": "pending", "a": attempts, "n": time.time() + delay, "e": reason}
                    metrics.TICKETS.labels(ch.split(":")[0], "failed").inc()
                    log.warning("ticket delivery failed ticket=%s job=%s channel=%s attempt=%d reason=%s "
                                "retry_in=%.2fs", tid, job, ch, attempts, reason, delay)
                else:
                    st = {"s": "dead", "a": attempts, "n": 0, "t": time.time(), "e": reason}
                    self.dead_letter(tid, job, ch, attempts, reason)
            except REDIS_FAILURES:
                raise
            except Exception as exc:  # noqa: BLE001 - a poison ticket fails its own channel, never the batch
                st = self._poisoned(tid, job, ch, attempts, exc)
            self.r.hset(dl_key, field, json.dumps(st, ensure_ascii=False))
            return st
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
            return {"s": "pending", "a": attempts, "n": time.time() + delay, "e": reason}
        self.dead_letter(tid, job, ch, attempts, reason)
        return {"s": "dead", "a": attempts, "n": 0, "t": time.time(), "e": reason}

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
                self.r.zadd(keys.TICKETS_RETRY, {entry_id: time.time() + delay})
                return
            self.dead_letter(tid, job, "entry", attempts, f"unexpected {exc.__class__.__name__}")
            self._ack(entry_id)

    def dead_letter(self, tid: str, job: str, ch: str, attempts: int, reason: str, config: bool = False) -> None:
        metrics.TICKETS.labels(ch.split(":")[0], "dead").inc()
        log.error("ticket delivery dead-lettered ticket=%s job=%s channel=%s attempts=%d reason=%s",
                  tid, job, ch, attempts, reason)
        self.r.zadd(keys.TICKETS_DEAD, {tid: time.time()})
        if ch.startswith("fetch:"):
            n = int(ch.split(":", 1)[1])
            shot = self.rt.store.screenshots(self.rt.store.get(tid) or {}).get(n)
            if shot is not None:
                shot["error"] = reason
                self.rt.store.update_screenshot(tid, n, shot)
        if config:  # the same mistake for every ticket: one alert (per alerts.cooldown), not one per ticket
            message = _texts(self.services).render("tickets.support.config_error", channel=ch.split(":")[0],
                                                   reason=reason)
            alert(self.services, "ticket_config", ch.split(":")[0], message)
            return
        message = _texts(self.services).render("tickets.support.dead_letter", id=tid, job=job, channel=ch,
                                               attempts=attempts, reason=reason)
        alert(self.services, "ticket_dead_letter", tid, message)

    # -- channels --------------------------------------------------------------------------------
    def attempt(self, tid: str, kind: str, ref: str, ch: str, rec: dict) -> tuple[str, str]:
        """Deliver once; return (final state, note) or raise."""
        name, _, arg = ch.partition(":")
        tune = self.tune
        settings = self.services.settings
        store = self.rt.store
        shots = store.screenshots(rec)
        if name == "fetch":
            return self.fetch(tid, int(arg), rec)
        if name == "webhook":
            if not settings.ticket_webhook_secret:
                raise Failure(UNSIGNED_REASON, retryable=False, config=True)
            if kind == "shot":
                payload = webhook_payload(self.services, rec, shots, "ticket.screenshot", int(ref))
                key = f"{tid}/screenshot-{ref}"
            else:  # screenshots added later are events of their own
                initial = int(rec.get("shots0") or 0)
                payload = webhook_payload(self.services, rec, {n: v for n, v in shots.items() if n <= initial},
                                          "ticket.created")
                key = tid
            post_signed_json(self.services.http, settings.ticket_webhook_url, settings.ticket_webhook_secret,
                             payload, tune.attempt_deadline, extra_headers={"Idempotency-Key": key})
            return "done", ""
        if name == "wecom":
            content = wecom_markdown(self.services, rec, shots, tune.markdown_limit)
            wecom.send_markdown(self.services.http, settings.wecom_webhook_url, content, tune.attempt_deadline,
                                tune.markdown_limit)
            return "done", ""
        if name == "wecom_img":
            shot = shots.get(int(arg)) or {}
            if not shot.get("file"):
                return "skipped", "screenshot unavailable"
            data = (settings.data_dir / shot["file"]).read_bytes()
            if len(data) > wecom.IMAGE_LIMIT or image_ext(data) not in ("jpg", "png"):
                return "skipped", "not a JPG/PNG within 2 MB"
            wecom.send_image(self.services.http, settings.wecom_webhook_url, data, tune.attempt_deadline)
            return "done", ""
        if name == "support":
            return self.to_support(arg, rec, shots)
        if name == "follower":
            return self.to_follower(tid, kind, ref, rec)
        return "skipped", f"unknown channel {name}"

    def fetch(self, tid: str, n: int, rec: dict) -> tuple[str, str]:
        cfg, tune = self.cfg, self.tune
        settings = self.services.settings
        shot = self.rt.store.screenshots(rec).get(n)
        if shot is None:
            return "skipped", "no such screenshot"
        if shot.get("file") and (settings.data_dir / shot["file"]).exists():
            return "done", ""
        data = ctype = None
        errors: list[str] = []
        retryable = False
        # WeChat's media API first (a media_id names nothing but WeChat's own store); the PicUrl only
        # on a WeChat picture host: the URL arrives in the message body, which a plaintext account
        # does not sign, so any other host could make the worker fetch internal addresses.
        if shot.get("media_id") and self.services.wechat_api.configured:
            try:
                data, ctype = self.services.wechat_api.download(
                    "/cgi-bin/media/get", {"media_id": shot["media_id"]}, tune.screenshot_max_bytes,
                    tune.screenshot_deadline)
            except WeChatAPIError as exc:
                errors.append(f"media: {exc}")
                retryable = retryable or (exc.errcode != MEDIA_INVALID and "larger than" not in exc.errmsg)
            except httpx.HTTPError as exc:
                errors.append(f"media: transport error {exc.__class__.__name__}")
                retryable = True
        if data is None and shot.get("pic_url"):
            if not host_allowed(shot["pic_url"], cfg.picture_hosts):
                errors.append("picture host not in tickets.picture_hosts")
            else:
                try:
                    data, ctype = fetch_bounded(self.services.http, shot["pic_url"], tune.screenshot_max_bytes,
                                                tune.screenshot_deadline)
                except Failure as exc:
                    errors.append(str(exc))
                    retryable = retryable or exc.retryable
        if data is None:
            raise Failure("; ".join(errors) or "no picture URL or media id", retryable=retryable)
        ext = image_ext(data)
        if ext is None:
            raise Failure("downloaded file is not an image", retryable=False)
        rel = Path("tickets") / tid / f"{n}.{ext}"
        dest = settings.data_dir / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = dest.with_suffix(dest.suffix + ".part")
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, dest)
        # ... and in Redis or the S3 bucket, so every web process (the console, on any host) can show it.
        content_type = (ctype or "").split(";")[0] or f"image/{ext}"
        try:
            where = self.rt.shots.put(tid, n, data, content_type, time.time())
        except ShotStoreError as exc:
            raise Failure(str(exc)) from None
        shot.update(file=str(rel), bytes=len(data), sha256=hashlib.sha256(data).hexdigest(),
                    content_type=content_type, fetched_at=int(time.time()), store=where)
        shot.pop("error", None)
        self.rt.store.update_screenshot(tid, n, shot)
        return "done", ""

    def to_support(self, who: str, rec: dict, shots: dict[int, dict]) -> tuple[str, str]:
        settings = self.services.settings
        openid = next((o for o in settings.support_openids if hash_openid(o, self.services.log_salt) == who), None)
        if openid is None:
            return "skipped", "support openid no longer configured"
        api = self.services.wechat_api
        try:
            if not api.configured:
                raise WeChatAPIError(-1, "WECHAT_APP_ID/WECHAT_APP_SECRET not set")
            if settings.support_template_id:
                api.send_template(openid, settings.support_template_id,
                                  template_data(self.services, rec, shots, self.cfg.support_template_fields))
            else:
                api.send_text(openid, support_text(self.services, rec, shots))
        except WeChatAPIError as exc:
            if exc.errcode in CS_WINDOW_ERRORS or exc.errcode in CANNOT_SEND or not api.configured:
                notice = _texts(self.services).render("tickets.support.deferred", **_vars(self.services, rec, shots))
                raise Deferred(openid, notice, f"errcode={exc.errcode}: shown at support's next message") from None
            raise
        return "done", ""

    def to_follower(self, tid: str, kind: str, ref: str, rec: dict) -> tuple[str, str]:
        texts = _texts(self.services)
        if kind == "reply":
            reply = self.rt.store.reply(tid, int(ref or 0))
            if reply is None:
                return "skipped", "reply not found"
            text = texts.render("tickets.follower_reply", id=tid, text=reply.get("text", ""))
        else:
            note = rec.get("close_note") or ""
            text = texts.render("tickets.follower_closed", id=tid, note=note)
        openid = rec.get("openid", "")
        api = self.services.wechat_api
        try:
            if not api.configured:
                raise WeChatAPIError(-1, "WECHAT_APP_ID/WECHAT_APP_SECRET not set")
            api.send_text(openid, text)
        except WeChatAPIError as exc:
            if exc.errcode in CS_WINDOW_ERRORS or exc.errcode in CANNOT_SEND or not api.configured:
                # Outside the 48-hour window (or out of quota): show it at the follower's next message.
                raise Deferred(openid, text, f"errcode={exc.errcode}: shown at the follower's next message") from None
            raise
        return "done", ""


def _reason(exc: Exception) -> tuple[str, bool]:
    if isinstance(exc, Failure):
        return str(exc), exc.retryable
    if isinstance(exc, DeliveryError):
        return str(exc), exc.retryable
    if isinstance(exc, WeChatAPIError):  # "could not reach api.weixin.qq.com (…)" / "WeChat refused: 48001 …"
        return str(exc), exc.errcode not in WECHAT_PERMANENT
    if isinstance(exc, httpx.HTTPError):
        return f"could not reach the channel ({transport_reason(exc)})", True
    if isinstance(exc, OSError):
        return f"system error ({exc.strerror or exc})", True
    return "unexpected error", True


def _id_tuple(entry_id: str) -> tuple[int, int]:
    ms, _, seq = str(entry_id).partition("-")
    return int(ms), int(seq or 0)


# -- spool import -----------------------------------------------------------------------------------

class SpoolImport:
    """Worker task: move reports spooled while Redis was down into Redis (idempotent by dedupe id)."""

    name = "tickets_spool"

    def __init__(self, rt: Runtime):
        self.rt = rt
        self.services = rt.services
        self._next = 0.0

    def tick(self) -> bool:
        now = time.monotonic()
        if now < self._next:
            return False
        rt = self.rt
        self._next = now + rt.internals.spool_interval
        files = rt.spool.pending_files()
        if not files:
            return False
        self.services.redis.ping()  # fail fast (file untouched) while Redis is still down
        imported = 0
        for path in files:
            try:
                records = rt.spool.read(path)
            except FileNotFoundError:
                continue  # another worker finished it
            for rec in records:
                fields = dict(rec.get("fields") or {})
                fields["spooled"] = "1"
                fields["told_id"] = rec["id"]
                fields["shots0"] = fields.get("nshots", 0)
                res = rt.store.create(rec["id"], rec["openid"], rec["source"], fields, float(rec["created_at"]),
                                      dialog_after="=", check_limits=False)
                if res.ok:
                    imported += 1
                    metrics.TICKETS.labels("intake", "unspooled").inc()
                    if res.value != rec["id"]:
                        log.warning("spooled ticket got a new id (collision) told=%s ticket=%s", rec["id"], res.value)
                    log.info("spooled ticket imported ticket=%s", res.value)
            try:
                path.unlink()
            except FileNotFoundError:
                pass
        return imported > 0
