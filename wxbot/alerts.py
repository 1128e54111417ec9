"""Admin alerts: told once per incident, not once per message.

``alert()`` may be called from anywhere (web or worker). It records the alert in Redis only if the
same ``kind``/``key`` was not alerted within the cooldown (SET NX with expiry), and queues it; the
worker's alert task (``AlertTask``) delivers queued alerts to the configured channels: the WeCom group
robot (``WXBOT_WECOM_WEBHOOK_URL``) and a customer-service message to each admin openid
(``WXBOT_ADMIN_OPENIDS``). Texts are for admins, in Chinese, passed in by the caller from texts.yaml.

Delivery is at least once: a claimed alert is leased in a sorted set and goes back to the queue if
the worker dies before it is delivered; a channel that fails is retried later (up to
``max_attempts``), and channels that already got it are not sent it again.

Redis itself being unreachable cannot be queued in Redis: each worker process watches Redis and,
once it has been unreachable for ``redis_down_after`` seconds, tells the admins directly, once per
outage (and once more when it is back).
"""
from __future__ import annotations

import json
import logging
import time
import uuid
from typing import Any
from urllib.parse import urlsplit

import httpx

from .retry import Periodic
from .stores import keys
from .stores.redis import REDIS_ERRORS

log = logging.getLogger(__name__)

RECENT_MAX = 50  # alerts kept for the console's dashboard (keys.ALERTS_RECENT), newest first
QUEUE_KEY = "wxbot:alerts:queue"
LEASE_KEY = "wxbot:alerts:lease"  # zset: alert JSON -> when it goes back to the queue


def sent_key(kind: str, key: str) -> str:
    return f"wxbot:alerts:sent:{kind}:{key}"


def alert(services, kind: str, key: str, message: str) -> bool:
    """Queue an alert unless the same kind/key was alerted within the cooldown; return if queued."""
    from . import metrics

    cfg = services.bot.alerts
    try:
        if not services.redis.set(sent_key(kind, key), str(int(time.time())), nx=True, ex=cfg.cooldown):
            return False
        item = json.dumps({"id": uuid.uuid4().hex[:16], "kind": kind, "key": key, "message": message,
                           "at": int(time.time())}, ensure_ascii=False)
        pipe = services.redis.pipeline(transaction=True)
        pipe.rpush(QUEUE_KEY, item)
        pipe.lpush(keys.ALERTS_RECENT, item)  # the dashboard's list, capped
        pipe.ltrim(keys.ALERTS_RECENT, 0, RECENT_MAX - 1)
        pipe.execute()
    except REDIS_ERRORS as exc:
        log.warning("alert kind=%s not queued: redis unavailable (%s)", kind, exc.__class__.__name__)
        return False
    metrics.ALERTS.labels(kind).inc()
    log.warning("alert queued kind=%s key=%s", kind, key)
    return True


def recent_alerts(client, limit: int = RECENT_MAX) -> list[dict[str, Any]]:
    """The latest queued alerts, newest first: {kind, key, message, at}."""
    out = []
    for raw in client.lrange(keys.ALERTS_RECENT, 0, max(0, limit - 1)):
        try:
            item = json.loads(raw)
        except ValueError:
            continue
        if isinstance(item, dict):
            out.append(item)
    return out


# Move due leases back to the queue, then claim the first queued alert under a new lease.
_CLAIM = """
local due = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', ARGV[1], 'LIMIT', 0, 20)
for _, item in ipairs(due) do
  redis.call('ZREM', KEYS[2], item)
  redis.call('RPUSH', KEYS[1], item)
end
local item = redis.call('LPOP', KEYS[1])
if item then redis.call('ZADD', KEYS[2], ARGV[2], item) end
return item
"""

# Errors of a customer-service message that retrying will not fix.
_CS_PERMANENT = {
    45015: "the admin has not messaged the account in the last 48 hours",
    45047: "customer-service message quota used up",
    40003: "not a follower of this account (check WXBOT_ADMIN_OPENIDS)",
    43004: "the admin does not follow the account",
    48001: "the account may not send customer-service messages (verified service accounts only)",
    40164: "this server's IP is not in the MP console IP allow-list",
}


class ChannelError(Exception):
    """A channel did not take the alert; ``str()`` says why in plain words. ``wait``: not a failure,
    the channel is busy for that many seconds (the WeCom robot's shared budget, its 45009)."""

    def __init__(self, reason: str, permanent: bool = False, wait: float | None = None):
        super().__init__(reason)
        self.permanent = permanent
        self.wait = wait


class AlertTask:
    """Worker task: watch Redis, deliver queued alerts (one per tick)."""

    name = "alerts"

    def __init__(self, services, clock=time.monotonic, wall=time.time):
        from .notifiers.throttle import RobotBudget

        self.services = services
        self.clock = clock
        self.wall = wall  # unix time: the WeCom robot's budget and the alerts' due times
        self._next_check = 0.0
        self.down_since: float | None = None
        self.told_down = False
        self.budget = RobotBudget(services.redis)

    @property
    def cfg(self):
        return self.services.internals.alerts

    @property
    def policy(self):
        return self.services.bot.alerts

    # -- channels ----------------------------------------------------------------------------
    def channels(self) -> list[str]:
        s = self.services.settings
        out = []
        if s.wecom_webhook_url:
            out.append("wecom")
        if s.admin_openids and s.wechat_app_id and s.wechat_app_secret:
            out.extend(f"cs:{openid}" for openid in s.admin_openids)
        return out

    def _text(self, message: str) -> str:
        texts = self.services.texts.get()
        prefix = texts.get("alerts.prefix") if "alerts.prefix" in texts else ""
        return f"{prefix}{message}"

    def send_wecom(self, text: str, budgeted: bool = True) -> None:
        """A text message to the WeCom robot, within its budget shared with the tickets (20 a minute);
        ``budgeted=False`` when Redis is down (the outage alert must still go out)."""
        from .notifiers import wecom
        from .notifiers.throttle import RATE_LIMITED_HOLD
        from .notifiers.webhook import DeliveryError

        url = self.services.settings.wecom_webhook_url
        now = self.wall()
        if budgeted:
            wait = self.budget.take(url, now)
            if wait > 0:
                raise ChannelError("the WeCom robot's budget (20 messages a minute) is used up", wait=wait)
        try:
            wecom.send_text(self.services.http, url, text, self.cfg.deadline)
        except DeliveryError as exc:
            if budgeted and exc.rate_limited:
                self.budget.hold(url, now + RATE_LIMITED_HOLD, now)
                raise ChannelError(str(exc), wait=RATE_LIMITED_HOLD) from None
            if budgeted and exc.retry_after is not None:
                wait = min(exc.retry_after, self.services.internals.http.retry_after_max)
                self.budget.hold(url, now + wait, now)
                raise ChannelError(str(exc), wait=max(wait, self.cfg.retry_delay)) from None
            # "WeCom refused: 93000 invalid webhook key ...", "could not reach qyapi.weixin.qq.com (...)"
            raise ChannelError(str(exc), permanent=not exc.retryable) from None

    def send_cs(self, openid: str, text: str, token: str | None = None) -> None:
        """Customer-service text to one admin. ``token`` bypasses the Redis token cache (Redis down)."""
        from .wechat.api import WeChatAPIError

        try:
            if token is None:
                self.services.wechat_api.send_text(openid, text)
            else:
                self._post_cs_direct(openid, text, token)
        except WeChatAPIError as exc:
            permanent = _CS_PERMANENT.get(exc.errcode)
            if permanent is None or not exc.reached or exc.errcode == -1:
                raise ChannelError(str(exc)) from None  # "could not reach …" / "WeChat refused: 45009 …"
            raise ChannelError(f"WeChat refused: {exc.errcode} {permanent}", permanent=True) from None

    def _direct_token(self) -> str:
        """An access token straight from stable_token (no Redis). force_refresh=false returns the
        current token without invalidating the one the other processes cached."""
        from .wechat.api import WeChatAPIError

        s = self.services.settings
        data = self._post_api("/cgi-bin/stable_token", {"grant_type": "client_credential", "appid": s.wechat_app_id,
                                                        "secret": s.wechat_app_secret, "force_refresh": False})
        if not data.get("access_token"):
            raise WeChatAPIError(-1, "stable_token answered without access_token")
        return data["access_token"]

    def _post_cs_direct(self, openid: str, text: str, token: str) -> None:
        self._post_api("/cgi-bin/message/custom/send",
                       {"touser": openid, "msgtype": "text", "text": {"content": text}}, {"access_token": token})

    def _post_api(self, path: str, body: dict, params: dict | None = None) -> dict:
        from .notifiers.webhook import transport_reason
        from .wechat.api import WeChatAPIError, WeChatUnreachable

        base = self.services.settings.wechat_api_base_url.rstrip("/")
        try:
            resp = self.services.http.post(base + path, params=params, timeout=self.cfg.deadline,
                                           content=json.dumps(body, ensure_ascii=False).encode("utf-8"),
                                           headers={"Content-Type": "application/json; charset=utf-8"})
        except httpx.HTTPError as exc:
            raise WeChatUnreachable(urlsplit(base).netloc or base, f"{transport_reason(exc)} on {path}") from None
        try:
            data = resp.json()
        except ValueError:
            raise WeChatAPIError(-1, f"non-JSON answer (HTTP {resp.status_code}) on {path}") from None
        if int(data.get("errcode") or 0):
            raise WeChatAPIError(int(data["errcode"]), str(data.get("errmsg", "")))
        return data

    def deliver(self, channel: str, text: str, token: str | None = None, budgeted: bool = True) -> None:
        if channel == "wecom":
            self.send_wecom(text, budgeted)
        elif channel.startswith("cs:"):
            self.send_cs(channel[3:], text, token)
        else:
            raise ChannelError(f"unknown channel {channel}", permanent=True)

    # -- the task ----------------------------------------------------------------------------
    def tick(self) -> bool:
        if not self.watch_redis():
            return False
        try:
            return self.deliver_one()
        except REDIS_ERRORS as exc:
            # Redis failed between two pings: check it again on the next tick.
            log.warning("alert delivery paused: redis unavailable (%s)", exc.__class__.__name__)
            self._next_check = 0.0
            return False

    def watch_redis(self) -> bool:
        """Ping Redis (at most every ``redis_check_interval``); alert once per long outage."""
        now = self.clock()
        if now < self._next_check:
            return self.down_since is None
        self._next_check = now + self.cfg.redis_check_interval
        try:
            self.services.redis.ping()
        except REDIS_ERRORS as exc:
            if self.down_since is None:
                self.down_since = now
                log.warning("redis unreachable (%s); alerting admins if it lasts %ss",
                            exc.__class__.__name__, self.policy.redis_down_after)
            if not self.told_down and now - self.down_since >= self.policy.redis_down_after:
                self.told_down = True
                self.tell_redis_down(now - self.down_since)
            return False
        if self.down_since is not None:
            log.info("redis reachable again after %.0fs", now - self.down_since)
            if self.told_down:
                texts = self.services.texts.get()
                if "alerts.redis_recovered" in texts:
                    alert(self.services, "redis_recovered", str(int(time.time())),
                          texts.render("alerts.redis_recovered", seconds=int(now - self.down_since)))
            self.down_since = None
            self.told_down = False
        return True

    def tell_redis_down(self, seconds: float) -> None:
        from . import metrics

        texts = self.services.texts.get()
        message = texts.render("alerts.redis_down", seconds=int(seconds)) if "alerts.redis_down" in texts \
            else f"Redis unreachable for {int(seconds)}s"
        text = self._text(message)
        metrics.ALERTS.labels("redis_down").inc()
        token = None
        sent = 0
        for channel in self.channels():
            try:
                if channel.startswith("cs:") and token is None:
                    token = self._direct_token()
                self.deliver(channel, text, token, budgeted=False)
                sent += 1
            except Exception as exc:  # noqa: BLE001 - one channel failing must not stop the others
                log.error("alert kind=redis_down channel=%s failed: %s", _channel_for_log(channel, self.services),
                          _reason(exc))
        log.error("alert kind=redis_down sent to %d of %d channel(s) (redis down %.0fs)",
                  sent, len(self.channels()), seconds)

    def deliver_one(self) -> bool:
        r = self.services.redis
        now = self.wall()
        lease = self.cfg.deadline * (len(self.channels()) + 1) + 30
        raw = r.eval(_CLAIM, 2, QUEUE_KEY, LEASE_KEY, str(now), str(now + lease))
        if raw is None:
            return False
        try:
            item: dict[str, Any] = json.loads(raw)
        except ValueError:
            log.error("alert dropped: not JSON")
            r.zrem(LEASE_KEY, raw)
            return True
        text = self._text(str(item.get("message", "")))
        done = set(item.get("done") or [])
        attempts = int(item.get("attempts") or 0) + 1
        failed = []
        wait = 0.0  # a busy channel (the robot's budget): due again then, no attempt counted
        for channel in self.channels():
            if channel in done:
                continue
            try:
                self.deliver(channel, text)
                done.add(channel)
            except ChannelError as exc:
                where = _channel_for_log(channel, self.services)
                if exc.wait is not None:
                    log.info("alert kind=%s channel=%s waits %.0fs: %s", item.get("kind"), where, exc.wait, exc)
                    wait = max(wait, exc.wait)
                elif exc.permanent:
                    log.error("alert kind=%s channel=%s not deliverable: %s", item.get("kind"), where, exc)
                    done.add(channel)
                else:
                    log.warning("alert kind=%s channel=%s attempt %d failed: %s", item.get("kind"), where,
                                attempts, exc)
                    failed.append(channel)
        pipe = r.pipeline(transaction=True)
        pipe.zrem(LEASE_KEY, raw)
        if wait and not failed:
            item.update(done=sorted(done), attempts=attempts - 1)
            pipe.zadd(LEASE_KEY, {json.dumps(item, ensure_ascii=False): now + wait})
        elif failed and attempts < self.cfg.max_attempts:
            item.update(done=sorted(done), attempts=attempts)
            pipe.zadd(LEASE_KEY, {json.dumps(item, ensure_ascii=False): now + max(wait, self.cfg.retry_delay)})
        elif failed:
            log.error("alert kind=%s dropped after %d attempts (channels failing: %d)", item.get("kind"),
                      attempts, len(failed))
        pipe.execute()
        if not failed and not wait:
            log.info("alert kind=%s delivered to %d channel(s)", item.get("kind"), len(done))
        return True


def _channel_for_log(channel: str, services) -> str:
    if channel.startswith("cs:"):
        from .router import hash_openid

        return "cs:" + hash_openid(channel[3:], services.log_salt)
    return channel


def _reason(exc: Exception) -> str:
    # Never str() an httpx error: it can carry the URL (and the webhook key in it).
    if isinstance(exc, (ChannelError,)) or exc.__class__.__name__ == "WeChatAPIError":
        return str(exc)
    return exc.__class__.__name__


# -- an EncodingAESKey that differs from the MP console's ---------------------------------------

# KEYS: 1 failures counter, 2 "messages decrypt" mark, 3 the mismatch flag. ARGV: 1 window s,
# 2 threshold, 3 now. Returns 1 when this failure is the one that raises the flag (alert once).
_DECRYPT_FAILED = """
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end
if n < tonumber(ARGV[2]) or redis.call('EXISTS', KEYS[2]) == 1 then return 0 end
if redis.call('SET', KEYS[3], ARGV[3], 'NX', 'EX', ARGV[1]) then return 1 end
redis.call('EXPIRE', KEYS[3], ARGV[1])
return 0
"""


class DecryptWatch:
    """Counts correctly signed safe-mode messages that fail to decrypt. ``aes_mismatch_after`` of them
    within ``aes_mismatch_window`` seconds, with no message decrypting meanwhile, raise a flag in Redis
    (read by ``wxbot doctor`` and /readyz) and alert admins once. A decrypting message clears it; it
    is noted at most every ``decrypted_mark_interval`` seconds per process, so the hot path stays one
    round trip."""

    def __init__(self, services, clock=time.monotonic):
        self.services = services
        self.cfg = services.internals.webhook
        self.clock = clock
        self._next_mark = 0.0
        self._script = services.redis.register_script(_DECRYPT_FAILED)

    def failed(self) -> bool:
        """Record one failure; True when it raised the flag (and the alert was queued)."""
        from .stores import keys

        cfg = self.cfg
        raised = self._script(keys=[keys.AES_FAILURES, keys.AES_DECRYPTED, keys.AES_MISMATCH],
                              args=[cfg.aes_mismatch_window, cfg.aes_mismatch_after, int(time.time())])
        if not raised:
            return False
        log.error("EncodingAESKey mismatch: %d correctly signed messages did not decrypt, none did",
                  cfg.aes_mismatch_after)
        texts = self.services.texts.get()
        alert(self.services, "aes_mismatch", "key", texts.render(
            "alerts.aes_mismatch", count=cfg.aes_mismatch_after, minutes=cfg.aes_mismatch_window // 60))
        return True

    def decrypted(self) -> None:
        from .stores import keys

        now = self.clock()
        if now < self._next_mark:
            return
        self._next_mark = now + self.cfg.decrypted_mark_interval
        pipe = self.services.redis.pipeline(transaction=False)
        pipe.set(keys.AES_DECRYPTED, "1", ex=self.cfg.aes_mismatch_window)
        pipe.delete(keys.AES_FAILURES, keys.AES_MISMATCH)
        pipe.execute()


def aes_mismatch_since(client) -> float | None:
    """When the AES key mismatch was detected (unix time), or None."""
    from .stores import keys

    value = client.get(keys.AES_MISMATCH)
    return float(value) if value else None


# -- Redis restarted empty ----------------------------------------------------------------------

MARKER_FILE = "redis-marker"  # under WXBOT_DATA_DIR: the marker id this machine last saw


class RedisMarkerTask(Periodic):
    """Worker task: notice a Redis that lost its data (restarted without persistence, a new managed
    instance). The first worker to see an empty Redis writes a marker (``keys.REDIS_MARKER``, a random
    id); each worker remembers the id it saw, in memory and in ``<data_dir>/redis-marker``. A missing or
    different marker later means the data is gone: admins are alerted once (keyed by the new marker, so
    every worker's notice is the same alert). A first install has nothing remembered: no alarm."""

    name = "redis_marker"

    def __init__(self, services, clock=time.monotonic):
        self.services = services
        self.clock = clock
        self.known: str | None = None
        self.path = services.settings.data_dir / MARKER_FILE

    def _recorded(self) -> str | None:
        try:
            return self.path.read_text(encoding="utf-8").strip() or None
        except OSError:
            return None

    def _record(self, marker_id: str) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.path.with_suffix(".tmp")
            tmp.write_text(marker_id + "\n", encoding="utf-8")
            tmp.replace(self.path)
        except OSError as exc:
            log.warning("redis marker not recorded in %s (%s)", self.path, exc.__class__.__name__)

    def tick(self) -> bool:
        from .stores import keys

        if not self.due(self.clock(), self.services.internals.alerts.marker_check_interval):
            return False
        r = self.services.redis
        previous = self.known or self._recorded()
        raw = r.get(keys.REDIS_MARKER)
        if raw is None:
            fresh = {"id": uuid.uuid4().hex, "at": int(time.time())}
            if previous:
                fresh["emptied"] = fresh["at"]
            r.set(keys.REDIS_MARKER, json.dumps(fresh), nx=True)
            raw = r.get(keys.REDIS_MARKER) or json.dumps(fresh)
            if not previous:
                log.info("redis initialised for this deployment (marker written)")
        try:
            current = str(json.loads(raw)["id"])
        except (ValueError, KeyError, TypeError):
            current = str(raw)
        if previous and previous != current:
            log.error("redis lost its data: the deployment's marker is gone (restarted empty or a new instance)")
            texts = self.services.texts.get()
            alert(self.services, "redis_emptied", current, texts.render("alerts.redis_emptied"))
        if current != self.known:
            self.known = current
            self._record(current)
        return False
