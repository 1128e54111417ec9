"""The channels of a ticket job, each attempted once per call by the delivery task (``delivery.py``):

* ``fetch:<n>``     download screenshot n (WeChat media by media_id, else the PicUrl when its host is in
                    ``tickets.picture_hosts``) into ``<data_dir>/tickets/<id>/``
* ``webhook``       signed JSON to ``WXBOT_TICKET_WEBHOOK_URL`` with ``Idempotency-Key``; never unsigned:
                    without ``WXBOT_TICKET_WEBHOOK_SECRET`` the channel is dead-lettered with that reason
* ``wecom``         markdown to the WeCom robot, through the shared budget and the digest (``digest.py``);
                    ``wecom_img:<n>`` the screenshot as an image message, as the budget allows
* ``support:<h>``   WeChat message to one support openid (template message when configured)
* ``follower``      a support reply / closing notice to the follower (customer-service message)

An attempt returns its final state, or raises: ``Failure``/transport errors (a failed attempt),
``Deferred`` (shown at the recipient's next message), ``Waiting`` (not now and not a failure: the
robot's budget, its 45009, or the MP API's daily quota, spent until midnight China time).
"""
from __future__ import annotations

import hashlib
import logging
import os
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable
from urllib.parse import urlsplit

import httpx

from ...alerts import alert
from ...notifiers import wecom
from ...notifiers.throttle import RATE_LIMITED_HOLD, RobotBudget
from ...notifiers.webhook import (
    BodyTooLarge,
    DeadlineExceeded,
    DeliveryError,
    get_bounded,
    post_signed_json,
    transport_reason,
)
from ...router import hash_openid
from ...texts import show_time
from ...wechat.api import CS_WINDOW_ERRORS, QUOTA_SPENT, WeChatAPIError, quota_reset_at
from .digest import RobotDigest, item_name
from .messages import support_text, template_data, texts_of, ticket_vars, webhook_payload, wecom_markdown
from .runtime import Runtime
from .shots import ShotStoreError

log = logging.getLogger(__name__)

# WeChat errcodes a retry will not fix: invalid openid, follower unsubscribed, bad template.
WECHAT_PERMANENT = {40003, 43004, 40037, 47003}
# The account cannot send customer-service messages at all right now (no API credentials, an
# unverified account's 48001, a server IP missing from the allow-list's 40164): like the 48-hour
# window errors, the text waits for the person's next message instead of being lost.
CANNOT_SEND = {48001, 40164}
MEDIA_INVALID = 40007  # media/get: invalid (or expired) media_id


UNSIGNED_REASON = "WXBOT_TICKET_WEBHOOK_SECRET is not set; refusing to send unsigned"


class Failure(Exception):
    """One failed attempt; ``str()`` is safe to log and to store (no URL, no secret).

    ``config`` marks a deployment mistake (the same for every ticket): it is alerted once as
    ``ticket_config``, not once per ticket."""

    def __init__(self, reason: str, retryable: bool = True, config: bool = False):
        super().__init__(reason)
        self.retryable = retryable
        self.config = config


class NotNow(Exception):
    """Not sent now, and not a failed attempt; ``note`` (safe to store) says why."""

    def __init__(self, note: str):
        super().__init__(note)
        self.note = note


class Waiting(NotNow):
    """Not sent now, and not a failed attempt: try again at ``until`` (unix time)."""

    def __init__(self, until: float, note: str):
        super().__init__(note)
        self.until = until


class Deferred(NotNow):
    """The recipient is outside WeChat's window: show ``text`` at their next message."""

    def __init__(self, openid: str, text: str, note: str):
        super().__init__(note)
        self.openid = openid
        self.text = text


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


# -- the channels ---------------------------------------------------------------------------------

class Channels:
    """One attempt of one channel of a ticket job. ``clock`` is unix time (a test's clock drives it)."""

    def __init__(self, rt: Runtime, clock: Callable[[], float] = time.time):
        self.rt = rt
        self.services = rt.services
        self.clock = clock
        tune = rt.internals
        self.budget = RobotBudget(self.services.redis)
        self.digest = RobotDigest(self.services, self.budget, tune.markdown_limit,
                                  tune.attempt_deadline + tune.lease_margin)

    @property
    def cfg(self):
        return self.rt.cfg

    @property
    def tune(self):
        return self.rt.internals

    def attempt(self, tid: str, job: str, kind: str, ref: str, ch: str, rec: dict) -> tuple[str, str]:
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
            return self.wecom(tid, job, rec, shots)
        if name == "wecom_img":
            shot = shots.get(int(arg)) or {}
            if not shot.get("file"):
                return "skipped", "screenshot unavailable"
            data = (settings.data_dir / shot["file"]).read_bytes()
            if len(data) > wecom.IMAGE_LIMIT or image_ext(data) not in ("jpg", "png"):
                return "skipped", "not a JPG/PNG within 2 MB"
            self.wecom_image(data)
            return "done", ""
        if name == "support":
            return self.to_support(arg, rec, shots)
        if name == "follower":
            return self.to_follower(tid, kind, ref, rec)
        return "skipped", f"unknown channel {name}"

    def wecom(self, tid: str, job: str, rec: dict, shots: dict[int, dict]) -> tuple[str, str]:
        """Queue the ticket's markdown for the robot, then flush the queue while the budget allows:
        done when a message (the ticket's own or a digest) carried it, else Waiting for the budget."""
        url = self.services.settings.wecom_webhook_url
        item = item_name(tid, job)
        now = self.clock()
        self.digest.enqueue(url, item, wecom_markdown(self.services, rec, shots, self.tune.markdown_limit), now)
        wait, why = 0.0, "waiting for the WeCom robot's budget (20 messages a minute)"
        for _ in range(5):  # older texts go first: a few messages may leave before this one
            try:
                sent, wait, why = self.digest.flush(url, now, self.tune.attempt_deadline)
            except DeliveryError as exc:
                if not exc.retryable:
                    self.digest.drop(url, item)
                raise
            if item in sent:
                return "done", (f"in a digest of {len(sent)}" if len(sent) > 1 else "")
            if wait > 0:
                break
        raise Waiting(now + max(wait, 0.001), why)

    def wecom_image(self, data: bytes) -> None:
        url = self.services.settings.wecom_webhook_url
        now = self.clock()
        wait = self.budget.take(url, now)
        if wait > 0:
            raise Waiting(now + wait, "waiting for the WeCom robot's budget (20 messages a minute)")
        try:
            wecom.send_image(self.services.http, url, data, self.tune.attempt_deadline)
        except DeliveryError as exc:
            if exc.rate_limited:
                self.budget.hold(url, now + RATE_LIMITED_HOLD, now)
                raise Waiting(now + RATE_LIMITED_HOLD, "WeCom robot rate-limited (45009)") from None
            if exc.retry_after is not None:
                self.budget.hold(url, now + self.digest.retry_after_cap(exc.retry_after), now)
            raise

    # -- WeChat's daily API quota (45009) ----------------------------------------------------------
    def _quota_open(self) -> None:
        """Raise Waiting while the MP API's daily quota is known to be spent (any worker noticed)."""
        now = self.clock()
        until = self.services.wechat_api.quota_spent_until()
        if until is not None and until > now:
            raise Waiting(until, "WeChat's daily API quota is spent; sent after it resets")

    def _quota_spent(self) -> Waiting:
        """WeChat said 45009: hold every customer-service send until the quota resets; alert once."""
        now = self.clock()
        reset = quota_reset_at(now) + 60  # a minute past midnight: WeChat's clock may lag ours
        self.services.wechat_api.note_quota_spent(reset, now)
        when = datetime.fromtimestamp(reset, timezone.utc)
        log.error("wechat daily API quota spent (45009): customer-service sends wait until %s", when.isoformat())
        alert(self.services, "wechat_quota", when.strftime("%Y-%m-%d"),
              texts_of(self.services).render("alerts.wechat_quota",
                                             reset=show_time(reset, self.services.bot.zone, "%m-%d %H:%M")))
        return Waiting(reset, "WeChat's daily API quota is spent; sent after it resets")

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
            where = self.rt.shots.put(tid, n, data, content_type, self.clock())
        except ShotStoreError as exc:
            raise Failure(str(exc)) from None
        shot.update(file=str(rel), bytes=len(data), sha256=hashlib.sha256(data).hexdigest(),
                    content_type=content_type, fetched_at=int(self.clock()), store=where)
        shot.pop("error", None)
        self.rt.store.update_screenshot(tid, n, shot)
        return "done", ""

    def to_support(self, who: str, rec: dict, shots: dict[int, dict]) -> tuple[str, str]:
        settings = self.services.settings
        openid = next((o for o in settings.support_openids if hash_openid(o, self.services.log_salt) == who), None)
        if openid is None:
            return "skipped", "support openid no longer configured"
        api = self.services.wechat_api
        self._quota_open()
        try:
            if not api.configured:
                raise WeChatAPIError(-1, "WECHAT_APP_ID/WECHAT_APP_SECRET not set")
            if settings.support_template_id:
                api.send_template(openid, settings.support_template_id,
                                  template_data(self.services, rec, shots, self.cfg.support_template_fields))
            else:
                api.send_text(openid, support_text(self.services, rec, shots))
        except WeChatAPIError as exc:
            if exc.errcode == QUOTA_SPENT:
                raise self._quota_spent() from None
            if exc.errcode in CS_WINDOW_ERRORS or exc.errcode in CANNOT_SEND or not api.configured:
                notice = texts_of(self.services).render("tickets.support.deferred", **ticket_vars(self.services, rec, shots))
                raise Deferred(openid, notice, f"errcode={exc.errcode}: shown at support's next message") from None
            raise
        return "done", ""

    def to_follower(self, tid: str, kind: str, ref: str, rec: dict) -> tuple[str, str]:
        texts = texts_of(self.services)
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
        self._quota_open()
        try:
            if not api.configured:
                raise WeChatAPIError(-1, "WECHAT_APP_ID/WECHAT_APP_SECRET not set")
            api.send_text(openid, text)
        except WeChatAPIError as exc:
            if exc.errcode == QUOTA_SPENT:
                raise self._quota_spent() from None
            if exc.errcode in CS_WINDOW_ERRORS or exc.errcode in CANNOT_SEND or not api.configured:
                # Outside the 48-hour window (or out of quota): show it at the follower's next message.
                raise Deferred(openid, text, f"errcode={exc.errcode}: shown at the follower's next message") from None
            raise
        return "done", ""


def reason_of(exc: Exception) -> tuple[str, bool]:
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
