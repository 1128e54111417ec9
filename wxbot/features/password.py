"""【密码】: the rotating password of the free (公益版) NextChat site.

Followers tap the menu button (click key ``PASSWORD``) or type 密码/公益版密码/nextchat密码/... and get
the password NextChat currently accepts, answered from the webhook's single Redis round trip: the
route's snapshot key is the shown password and its per-follower cooldown counter is counted inside
the claim, so the handler is a pure function of the claim data (retries re-render the same reply).

Admins rotate it (CLI ``wxbot password``, ``/admin/api/password``, staff ``#密码``/``#换密码``, or the
schedule). With ``WXBOT_PASSWORD_SYNC_URL`` set, the worker POSTs each new password to NextChat's
receiver (signed like every wxbot webhook) and followers see it only once the receiver answered 2xx;
without it, a rotation is visible at once and ``password show`` says sync is off.
"""
from __future__ import annotations

import hmac
import json
import logging
import random
import re
import secrets
import time
import unicodedata
import uuid
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import click
from croniter import croniter
from flask import Blueprint, Response, current_app, request
from pydantic import Field, field_validator, model_validator

from .. import metrics
from .. import router as r
from ..alerts import alert
from ..config import Section, section
from ..notifiers.webhook import DeliveryError, post_signed_json
from ..protocol import Message
from ..redisconn import REDIS_ERRORS
from ..router import Ctx, Route, hash_openid
from ..services import Services
from ..stores import keys
from ..stores.password import PasswordState, PasswordStore, Rotation, Shown
from ..wechat_api import install_log_redaction

log = logging.getLogger(__name__)

# Readable: no 0/O/o, 1/l/I.
DEFAULT_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnpqrstuvwxyz23456789"
# Values admins may set: safe in NextChat's comma-separated CODE, in a URL fragment, in a shell .env.
VALUE_RE = re.compile(r"^[A-Za-z0-9_.~@+=-]+$")


@section("password")
class PasswordConfig(Section):
    site_url: str = ""  # the free NextChat address; empty -> the reply has no link
    menu_key: str = "PASSWORD"  # EventKey of the 【密码】 click button (config/menu.yaml)
    keywords: list[str] = Field(default_factory=lambda: [
        "密码", "公益版密码", "公益密码", "nextchat密码", "获取密码", "今天的密码", "今日密码", "最新密码",
        "新密码", "当前密码", "密码是多少", "密码多少", "密码是什么", "求密码", "要密码", "发密码", "给我密码",
        "访问密码", "公益版nextchat密码", "口令", "password", "pwd",
    ])
    # A short message containing one of ``contains`` (and none of ``exclude``) also asks for it.
    contains: list[str] = Field(default_factory=lambda: ["密码", "口令", "password"])
    exclude: list[str] = Field(default_factory=lambda: [
        "支付", "银行", "微信", "qq", "邮箱", "账号", "账户", "忘", "找回", "重置", "修改", "改密", "设置",
        "钱包", "手机", "锁屏", "wifi", "路由",
    ])
    contains_max_len: int = Field(12, ge=0, le=64)  # characters after normalisation
    cooldown_limit: int = Field(10, ge=1)  # answers per follower per window, then the cooldown text
    cooldown_window: int = Field(60, ge=1)
    length: int = Field(8, ge=6, le=64)  # generated passwords
    alphabet: str = DEFAULT_ALPHABET
    min_length: int = Field(6, ge=4, le=64)  # values set by admins
    schedule_cron: str | None = None  # e.g. "0 0 * * *" (in ``timezone``)
    schedule_every_hours: int | None = Field(None, ge=1, le=24 * 31)
    timezone: str = "Asia/Shanghai"
    valid_hours: int = Field(0, ge=0)  # without a schedule: stated validity of a new password (0 = none)
    valid_until_format: str = "%Y-%m-%d %H:%M"
    grace_seconds: int = Field(3600, ge=0)  # NextChat keeps accepting the password followers saw before
    drop_expired: bool = True  # send one more sync when a grace period ends (else: at the next rotation)
    sync_deadline: float = Field(20.0, gt=0)  # per attempt, including the receiver's NextChat restart
    sync_retry_base: float = Field(5.0, gt=0)
    sync_retry_max: float = Field(600.0, gt=0)
    alert_after_failures: int = Field(3, ge=1)
    audit_max: int = Field(500, ge=10)

    @field_validator("site_url")
    @classmethod
    def _site(cls, v: str) -> str:
        v = v.strip().rstrip("/")
        if v and not re.match(r"^https?://[^\s/?#]+(/[^\s?#]*)?$", v):
            raise ValueError("must be an http(s):// address without query or fragment")
        return v

    @field_validator("alphabet")
    @classmethod
    def _alphabet(cls, v: str) -> str:
        if len(set(v)) < 20 or not VALUE_RE.match(v):
            raise ValueError("needs at least 20 distinct characters from A-Z a-z 0-9 _.~@+=-")
        return "".join(dict.fromkeys(v))

    @field_validator("schedule_cron")
    @classmethod
    def _cron(cls, v: str | None) -> str | None:
        v = (v or "").strip() or None
        if v and not croniter.is_valid(v):
            raise ValueError(f"not a valid cron expression: {v!r}")
        return v

    @field_validator("timezone")
    @classmethod
    def _tz(cls, v: str) -> str:
        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {v!r}") from None
        return v

    @model_validator(mode="after")
    def _one_schedule(self) -> "PasswordConfig":
        if self.schedule_cron and self.schedule_every_hours:
            raise ValueError("set schedule_cron or schedule_every_hours, not both")
        return self


# -- keyword matching (hot path: every text message) --------------------------------------------

_NOISE = re.compile(r"[\W_]+")  # whitespace, punctuation, symbols, emoji; keeps letters/digits/CJK
_MAX_RAW = 120  # longer messages are never a request for the password


def normalise(text: str) -> str:
    """Full-width -> half-width (NFKC), lower case, no spaces or punctuation."""
    return _NOISE.sub("", unicodedata.normalize("NFKC", text).lower())


class KeywordMatcher:
    """Precompiled once: exact keywords, or a short message containing a password word and no
    word that means another password (支付密码, 微信密码忘了...)."""

    def __init__(self, cfg: PasswordConfig):
        self.exact = frozenset(normalise(k) for k in cfg.keywords if normalise(k))
        words = [normalise(w) for w in cfg.contains if normalise(w)]
        bad = [normalise(w) for w in cfg.exclude if normalise(w)]
        self.contains = re.compile("|".join(map(re.escape, words))) if words else None
        self.exclude = re.compile("|".join(map(re.escape, bad))) if bad else None
        self.max_len = cfg.contains_max_len

    def __call__(self, text: str) -> bool:
        if not text or len(text) > _MAX_RAW:
            return False
        norm = normalise(text)
        if norm in self.exact:
            return True
        if not norm or len(norm) > self.max_len or self.contains is None or not self.contains.search(norm):
            return False
        return self.exclude is None or not self.exclude.search(norm)


# -- schedule -----------------------------------------------------------------------------------

class Schedule:
    """Rotation periods: a cron expression or every N hours, in the configured time zone."""

    def __init__(self, cfg: PasswordConfig):
        self.tz = ZoneInfo(cfg.timezone)
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


# -- the feature's operations (web, worker, CLI share them) -----------------------------------

class Passwords:
    def __init__(self, services: Services):
        self.services = services
        self.cfg: PasswordConfig = services.bot.section("password")
        self.store = PasswordStore(services.redis, self.cfg.audit_max)
        self.schedule = Schedule(self.cfg)
        self._done_period: str | None = None

    @property
    def sync_on(self) -> bool:
        return bool(self.services.settings.password_sync_url)

    # -- values ---------------------------------------------------------------------------
    def generate(self) -> str:
        return "".join(secrets.choice(self.cfg.alphabet) for _ in range(self.cfg.length))

    def check_value(self, value: str) -> str | None:
        """Why ``value`` cannot be a password (English, for logs/CLI/API), or None."""
        if not (self.cfg.min_length <= len(value) <= 64):
            return f"must be {self.cfg.min_length}-64 characters"
        if not VALUE_RE.match(value):
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
        return datetime.fromtimestamp(ts, self.schedule.tz).strftime(self.cfg.valid_until_format)

    # -- rotation -------------------------------------------------------------------------
    def rotate(self, trigger: str, by: str, value: str | None = None, now: float | None = None) -> tuple[Rotation, str]:
        """Rotate to ``value`` (or a generated password). Raises ValueError for a bad value."""
        if value is not None:
            problem = self.check_value(value)
            if problem:
                raise ValueError(problem)
        password = value if value is not None else self.generate()
        rot = self._rotate(password, trigger, by, time.time() if now is None else now)
        assert rot is not None
        return rot, password

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
    def needs_sync(self, st: PasswordState, now: float) -> bool:
        desired = st.desired_codes(now)
        if not desired:
            return False
        if st.pending or st.sync_codes is None:
            return True
        return self.cfg.drop_expired and set(desired) != set(st.sync_codes)

    def backoff(self, attempt: int) -> float:
        """Delay before attempt ``attempt + 1``: exponential, capped, with +-20% jitter."""
        delay = min(self.cfg.sync_retry_max, self.cfg.sync_retry_base * (2 ** min(attempt - 1, 30)))
        return delay * random.uniform(0.8, 1.2)

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
            "valid_until": datetime.fromtimestamp(until, self.schedule.tz).isoformat() if until else None,
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
        lock_ms = int((self.cfg.sync_deadline + 10) * 1000)
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
                                 body, self.cfg.sync_deadline, extra_headers={"X-Wxbot-Event": "password.sync"})
            except DeliveryError as exc:
                self._failed(st, version, clock(), str(exc))
                return True
            promoted = self.store.confirm(version, codes, clock(), self.cfg.grace_seconds)
            log.info("password sync ok version=%s codes=%d shown_now=%s", version, len(codes), promoted)
            if st.sync_state == "failing":
                log.info("password sync recovered after %d failed attempt(s)", st.sync_attempts)
            return True
        finally:
            rds.eval("if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0",
                     1, keys.password_sync_lock(), owner)

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


class SyncTask:
    name = "password_sync"

    def __init__(self, passwords: Passwords):
        self.passwords = passwords

    def tick(self) -> bool:
        return self.passwords.sync_once()


class ScheduleTask:
    name = "password_schedule"

    def __init__(self, passwords: Passwords):
        self.passwords = passwords

    def tick(self) -> bool:
        return self.passwords.scheduled_once()


def passwords_of(services: Services) -> Passwords:
    return services.extensions["password"]


# -- follower replies -------------------------------------------------------------------------

def render_reply(texts, cfg: PasswordConfig, shown: Shown | None, now: float) -> str:
    """The follower's reply: a pure function of the shown snapshot, the request time and config."""
    if shown is None:
        return texts.render("password.none")
    if not shown.valid_until:
        valid = texts.render("password.no_expiry")
    elif shown.valid_until <= now:
        # The stated expiry has passed (rotation skipped while the sync fails, or the worker was down):
        # the password still works, but the old time must not be repeated.
        valid = texts.render("password.expiry_overdue")
    else:
        valid = shown.valid_until_display
    if cfg.site_url:
        link = f"{cfg.site_url}/#/?code={quote(shown.password, safe='')}"
        return texts.render("password.reply", password=shown.password, valid_until=valid, site=cfg.site_url,
                            link=link)
    return texts.render("password.reply_without_site", password=shown.password, valid_until=valid)


def register(services: Services) -> None:
    cfg: PasswordConfig = services.bot.section("password")
    pw = Passwords(services)
    services.extensions["password"] = pw
    matcher = KeywordMatcher(cfg)
    menu_key = cfg.menu_key
    # The cooldown counter is a fixed window started by the first request: gone within this many minutes.
    cooldown_minutes = -(-cfg.cooldown_window // 60)

    def match(msg: Message, ctx: Ctx) -> bool:
        if msg.type == "event":
            return msg.event == "click" and msg.event_key == menu_key
        return matcher(msg.text)

    def faq_match(msg: Message, ctx: Ctx) -> bool:
        """The FAQ's best answer is the entry with ``route: password`` ("公益版nextchat的密码在哪里看")."""
        if msg.type not in ("text", "voice") or not msg.text.strip():
            return False
        faq = services.extensions.get("faq")  # registered after this module: look it up per request
        if faq is None:
            return False
        res = faq.result(msg, ctx)  # cached per message, shared with the FAQ's own routes
        return res.kind == "answer" and res.entry is not None and res.entry.route == "password"

    def answer(msg: Message, ctx: Ctx) -> str:
        claim = ctx.claim
        if claim is None:  # Redis unreachable: the password lives there
            ctx.outcome = "degraded"
            return ctx.text("password.unavailable")
        first = not claim.duplicate  # a WeChat retry re-renders the reply but counts nothing again
        if first and ctx.route == "faq_password":
            metrics.FAQ.labels("feature").inc()
        if claim.feature_count > cfg.cooldown_limit and not ctx.staff_allowed:
            if first:
                metrics.RATE_LIMITED.labels("password").inc()
            ctx.outcome = "cooldown"
            return ctx.text("password.cooldown", minutes=cooldown_minutes, seconds=cfg.cooldown_window)
        shown = Shown.parse(claim.snapshot)
        if shown is None and claim.snapshot:
            log.error("password snapshot unreadable; answering as if none is set")
        return render_reply(ctx.texts, cfg, shown, ctx.now)

    # Both routes make the same claim (cooldown counter + shown-password snapshot) and share the handler:
    # one Redis round trip, one cooldown, whether the follower typed 密码 or asked the FAQ way.
    claim_data = dict(replayable=True, feature="password", feature_window=cfg.cooldown_window,
                      snapshot_key=keys.password_shown())
    services.router.add(Route("password", match, answer, **claim_data), r.ORDER_PASSWORD)
    # In the FAQ band, ahead of the FAQ's own routes (this module registers before wxbot.features.faq and
    # routes in one band keep their insertion order), so the FAQ's ``faq_feature`` never sees it.
    services.router.add(Route("faq_password", faq_match, answer, **claim_data), r.ORDER_FAQ)
    services.extensions.setdefault("menu_keys", set()).add(menu_key)

    def intent(msg: Message, ctx: Ctx) -> str:
        """For other features: the password reply without a claim snapshot (its own GET, no cooldown).
        The FAQ no longer needs it (route ``faq_password``); kept for features that hand over to it."""
        if not ctx.redis_ok or not services.breaker.available():
            return ctx.text("password.unavailable")
        try:
            raw = services.redis.get(keys.password_shown())
        except REDIS_ERRORS as exc:
            log.warning("password intent: redis unavailable (%s)", exc.__class__.__name__)
            ctx.redis_failed()
            return ctx.text("password.unavailable")
        return render_reply(ctx.texts, cfg, Shown.parse(raw), ctx.now)

    services.extensions.setdefault("intents", {})["password"] = intent

    @services.staff.add("密码", {r.ADMIN}, "查看公益版密码和同步状态")
    def staff_show(msg: Message, ctx: Ctx, args: str) -> str:
        return staff_status(ctx, pw, pw.store.state(), time.time())

    @services.staff.add("换密码", {r.ADMIN}, "更换公益版密码（可附新密码，不附则自动生成）")
    def staff_rotate(msg: Message, ctx: Ctx, args: str) -> str:
        value = args.strip() or None
        try:
            rot, password = pw.rotate("chat", "wx:" + hash_openid(ctx.openid, services.log_salt), value)
        except ValueError:
            return ctx.text("password.staff_invalid", min_length=cfg.min_length)
        key = "password.staff_rotated_pending" if pw.sync_on else "password.staff_rotated_now"
        return ctx.text(key, version=rot.version, password=password)

    def forget(client, openid: str) -> None:
        client.delete(keys.feature_counter("password", openid))

    services.forget_hooks.append(forget)
    tasks = services.extensions.setdefault("worker_tasks", [])
    tasks.append(SyncTask(pw))
    tasks.append(ScheduleTask(pw))
    services.blueprints.append(bp)
    install_log_redaction()  # the sync URL may carry a key in its query string


def staff_status(ctx: Ctx, pw: Passwords, st: PasswordState, now: float) -> str:
    t = ctx.texts
    none = t.render("password.staff_none")
    shown = (t.render("password.staff_shown_line", password=st.shown.password, version=st.shown.version,
                      valid_until=st.shown.valid_until_display or t.render("password.no_expiry"))
             if st.shown else none)
    pending = (t.render("password.staff_pending_line", password=st.current, version=st.current_version)
               if st.pending else none)
    prev = st.previous()
    previous = (t.render("password.staff_previous_line", password=prev.password, version=prev.version,
                         until=pw.display_time(prev.expires)) if prev and prev.expires > now else none)
    return t.render("password.staff_show", shown=shown, pending=pending, previous=previous,
                    sync=sync_text(t, pw, st))


def sync_text(t, pw: Passwords, st: PasswordState) -> str:
    if not pw.sync_on:
        return t.render("password.sync_off")
    if st.sync_state == "failing":
        return t.render("password.sync_failing", attempts=st.sync_attempts, error=st.sync_last_error)
    if st.pending:
        return t.render("password.sync_pending")
    if st.sync_last_ok_at:
        return t.render("password.sync_ok", at=pw.display_time(st.sync_last_ok_at))
    return t.render("password.sync_never")


# -- admin HTTP API ---------------------------------------------------------------------------

bp = Blueprint("password_admin_api", __name__, url_prefix="/admin/api/password")
_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE"]


def _json(status: int, **body: Any) -> Response:
    resp = Response(json.dumps(body, ensure_ascii=False) + "\n", status=status, mimetype="application/json")
    resp.headers["Cache-Control"] = "no-store"
    if status == 401:
        resp.headers["WWW-Authenticate"] = 'Bearer realm="wxbot-admin"'
    return resp


def _authorise() -> Response | None:
    services = current_app.extensions["wxbot"]
    token = services.settings.admin_token
    if not token:
        return _json(404, error="not_found")
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode("utf-8"), token.encode("utf-8")):
        log.warning("admin api refused status=401 path=%s", request.path)
        return _json(401, error="unauthorized")
    return None


def state_json(pw: Passwords, st: PasswordState, now: float) -> dict[str, Any]:
    prev = st.previous()
    return {
        "version": st.version,
        "shown": {"password": st.shown.password, "version": st.shown.version,
                  "valid_until": st.shown.valid_until or None,
                  "valid_until_display": st.shown.valid_until_display or None} if st.shown else None,
        "pending": {"password": st.current, "version": st.current_version,
                    "rotated_at": int(st.current_at)} if st.pending else None,
        "previous": {"password": prev.password if prev.expires > now else None, "version": prev.version,
                     "accepted_until": int(prev.expires)} if prev else None,
        "sync": {"enabled": pw.sync_on, "state": st.sync_state or ("off" if not pw.sync_on else "never"),
                 "attempts": st.sync_attempts, "last_error": st.sync_last_error or None,
                 "last_ok_at": int(st.sync_last_ok_at) or None, "next_attempt_at": int(st.sync_next_at) or None},
    }


@bp.route("", methods=_METHODS)
def api_show() -> Response:
    denied = _authorise()
    if denied is not None:
        return denied
    if request.method != "GET":
        return _json(405, error="method_not_allowed", allowed=["GET"])
    pw = passwords_of(current_app.extensions["wxbot"])
    try:
        st = pw.store.state()
    except REDIS_ERRORS:
        return _json(503, error="redis_unavailable")
    return _json(200, **state_json(pw, st, time.time()))


@bp.route("/rotate", methods=_METHODS)
def api_rotate() -> Response:
    denied = _authorise()
    if denied is not None:
        return denied
    if request.method != "POST":
        return _json(405, error="method_not_allowed", allowed=["POST"])
    value = None
    if request.content_length:
        body = request.get_json(silent=True, force=True)
        if not isinstance(body, dict):
            return _json(400, error="bad_json", detail="body must be a JSON object, e.g. {\"password\": \"...\"}")
        value = body.get("password")
        if value is not None and not isinstance(value, str):
            return _json(400, error="bad_password", detail="password must be a string")
    pw = passwords_of(current_app.extensions["wxbot"])
    try:
        rot, password = pw.rotate("api", "api", value)
    except ValueError as exc:
        return _json(400, error="bad_password", detail=str(exc))
    except REDIS_ERRORS:
        return _json(503, error="redis_unavailable")
    return _json(200, version=rot.version, password=password, visible=not pw.sync_on,
                 sync="pending" if pw.sync_on else "off", replaced_unconfirmed=rot.replaced or None)


# -- CLI: wxbot password ... ----------------------------------------------------------------

def _cli_passwords() -> Passwords:
    from ..cli import CliContext

    obj = click.get_current_context().ensure_object(CliContext)
    return passwords_of(obj.services)


def _fmt(pw: Passwords, ts: float) -> str:
    return pw.display_time(ts) if ts else "-"


@click.group("password")
def cli() -> None:
    """Show, set and rotate the free NextChat password."""


@cli.command("show")
def cli_show() -> None:
    """Current, pending and previous password, version, valid until, last sync result."""
    from ..cli import redis_errors_exit

    pw = _cli_passwords()
    with redis_errors_exit():
        st = pw.store.state()
    now = time.time()
    if st.shown:
        click.echo(f"current:  {st.shown.password}  (v{st.shown.version}, valid until "
                   f"{st.shown.valid_until_display or 'next rotation'})")
    else:
        click.echo("current:  (none set: followers are asked to try later; run `wxbot password rotate`)")
    if st.pending:
        click.echo(f"pending:  {st.current}  (v{st.current_version}, waiting for NextChat to confirm)")
    prev = st.previous()
    if prev:
        state = f"accepted until {_fmt(pw, prev.expires)}" if prev.expires > now else "expired"
        click.echo(f"previous: {prev.password if prev.expires > now else '(not kept)'}  (v{prev.version}, {state})")
    click.echo(f"version:  {st.version}")
    if not pw.sync_on:
        click.echo("sync:     off (WXBOT_PASSWORD_SYNC_URL not set): rotations are shown at once")
    elif st.sync_state == "failing":
        click.echo(f"sync:     FAILING after {st.sync_attempts} attempt(s): {st.sync_last_error}; "
                   f"next attempt {_fmt(pw, st.sync_next_at)}; last ok {_fmt(pw, st.sync_last_ok_at)}")
    elif st.pending:
        click.echo(f"sync:     pending (last ok {_fmt(pw, st.sync_last_ok_at)})")
    else:
        click.echo(f"sync:     ok (last ok {_fmt(pw, st.sync_last_ok_at)})" if st.sync_last_ok_at
                   else "sync:     not synced yet")
    if pw.schedule.enabled:
        nxt = pw.schedule.next_after(now)
        click.echo(f"schedule: next rotation {_fmt(pw, nxt or 0)}")


def _report_rotation(pw: Passwords, rot: Rotation, password: str) -> None:
    click.echo(f"version {rot.version}: {password}")
    if rot.replaced:
        click.echo(f"(replaces v{rot.replaced}, which NextChat had not confirmed yet)")
    if pw.sync_on:
        click.echo("followers see it once NextChat confirms (the worker syncs it; `wxbot password show`)")
    else:
        click.echo("followers see it now (sync off: WXBOT_PASSWORD_SYNC_URL not set)")


@cli.command("set")
@click.argument("value", required=False)
def cli_set(value: str | None) -> None:
    """Set the password to VALUE (asked for, hidden, when omitted)."""
    from ..cli import redis_errors_exit

    pw = _cli_passwords()
    if value is None:
        value = click.prompt("new password", hide_input=True, confirmation_prompt=True)
    problem = pw.check_value(value)
    if problem:
        raise click.BadParameter(problem, param_hint="VALUE")
    with redis_errors_exit():
        rot, password = pw.rotate("cli", "cli", value)
    _report_rotation(pw, rot, password)


@cli.command("rotate")
def cli_rotate() -> None:
    """Generate and set a new password."""
    from ..cli import redis_errors_exit

    pw = _cli_passwords()
    with redis_errors_exit():
        rot, password = pw.rotate("cli", "cli")
    _report_rotation(pw, rot, password)


@cli.command("history")
@click.option("--limit", default=20, show_default=True, type=click.IntRange(1, 1000))
def cli_history(limit: int) -> None:
    """One line per version, newest first (plaintext only for passwords NextChat still accepts)."""
    from ..cli import redis_errors_exit

    pw = _cli_passwords()
    with redis_errors_exit():
        st = pw.store.state()
        rows = pw.store.history(limit)
        confirmed = pw.store.confirmed_at([row.version for row in rows])
    now = time.time()
    live = {}
    if st.shown:
        live[st.shown.version] = (st.shown.password, "shown")
    if st.pending:
        live[st.current_version] = (st.current, "pending")
    for ret in st.retired:
        if ret.expires > now:
            live.setdefault(ret.version, (ret.password, f"previous, accepted until {_fmt(pw, ret.expires)}"))
    if not rows:
        click.echo("no rotations yet")
    for row in rows:
        password, status = live.get(row.version, ("-", ""))
        if not status:
            if row.version in confirmed:
                status = f"retired (confirmed {_fmt(pw, confirmed[row.version])})"
            elif st.shown and row.version < st.shown.version and pw.sync_on:
                status = "superseded before NextChat confirmed"
            else:
                status = "retired"
        click.echo(f"v{row.version:<5} {_fmt(pw, row.at)}  {row.trigger:<8} {row.by:<18} {password:<12} {status}")
