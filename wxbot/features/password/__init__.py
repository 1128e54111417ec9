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

import logging
import re
import time
from typing import TYPE_CHECKING, Callable
from urllib.parse import quote

from ... import metrics
from ...policy import PasswordPolicy
from ...router import ADMIN, ClaimNeeds, Ctx, Route, StaffCommand, hash_openid
from ...stores import keys
from ...textnorm import normalise
from ...wechat.protocol import Message
from .rotation import Passwords, ScheduleTask
from .store import PasswordState, Shown

if TYPE_CHECKING:
    from ...services import Services

__all__ = ["PasswordFeature", "Passwords"]

log = logging.getLogger(__name__)

_MAX_RAW = 120  # longer messages are never a request for the password


class KeywordMatcher:
    """Precompiled once: exact keywords, or a short message containing a password word and no
    word that means another password (支付密码, 微信密码忘了...)."""

    def __init__(self, cfg: PasswordPolicy, contains_max_len: int):
        self.exact = frozenset(normalise(k) for k in cfg.keywords if normalise(k))
        words = [normalise(w) for w in cfg.contains if normalise(w)]
        bad = [normalise(w) for w in cfg.exclude if normalise(w)]
        self.contains = re.compile("|".join(map(re.escape, words))) if words else None
        self.exclude = re.compile("|".join(map(re.escape, bad))) if bad else None
        self.max_len = contains_max_len

    def __call__(self, text: str) -> bool:
        if not text or len(text) > _MAX_RAW:
            return False
        norm = normalise(text)
        if norm in self.exact:
            return True
        if not norm or len(norm) > self.max_len or self.contains is None or not self.contains.search(norm):
            return False
        return self.exclude is None or not self.exclude.search(norm)



def render_reply(texts, cfg: PasswordPolicy, shown: Shown | None, now: float) -> str:
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



class PasswordFeature:
    """The password's routes, staff commands and worker tasks.

    ``faq_says_password`` tells whether the FAQ's best answer for a message is its ``route: password``
    entry ("公益版nextchat的密码在哪里看"); the composition passes the FAQ's check in.
    """

    def __init__(self, services: "Services", faq_says_password: Callable[[Message, Ctx], bool]):
        # The sync (the notifier, httpx) and the WeChat API load when the feature is built (at start),
        # not when a CLI command imports this package for its ``cli`` module.
        from ...wechat.api import install_log_redaction
        from .sync import PasswordSync

        self.services = services
        self.cfg: PasswordPolicy = services.bot.password
        self.passwords = Passwords(services)
        self.sync = PasswordSync(services, self.passwords)
        self.matcher = KeywordMatcher(self.cfg, services.internals.password.contains_max_len)
        self.menu_key = self.cfg.menu_key
        self._faq_says_password = faq_says_password
        # Both routes make the same claim (cooldown counter + shown-password snapshot) and share the
        # handler: one Redis round trip, one cooldown, whether the follower typed 密码 or asked the FAQ way.
        needs = ClaimNeeds(counter="password", window=self.cfg.cooldown_window, read_key=keys.password_shown())
        self.request = Route("password", self.is_request, self.answer, needs=needs)
        self.faq_way = Route("faq_password", self.is_faq_request, self.answer, needs=needs)
        install_log_redaction()  # the sync URL may carry a key in its query string

    # -- routes ----------------------------------------------------------------------------
    def is_request(self, msg: Message, ctx: Ctx) -> bool:
        if msg.type == "event":
            return msg.event == "click" and msg.event_key == self.menu_key
        return self.matcher(msg.text)

    def is_faq_request(self, msg: Message, ctx: Ctx) -> bool:
        if msg.type not in ("text", "voice") or not msg.text.strip():
            return False
        return self._faq_says_password(msg, ctx)

    def answer(self, msg: Message, ctx: Ctx) -> str:
        cfg = self.cfg
        claim = ctx.claim
        if claim is None:  # Redis unreachable: the password lives there
            ctx.outcome = "degraded"
            return ctx.text("password.unavailable")
        first = not claim.duplicate  # a WeChat retry re-renders the reply but counts nothing again
        if first and ctx.route == "faq_password":
            metrics.FAQ.labels("feature").inc()
        if claim.counter > cfg.cooldown_limit and not ctx.staff_allowed:
            if first:
                metrics.RATE_LIMITED.labels("password").inc()
            ctx.outcome = "cooldown"
            # The cooldown counter is a fixed window started by the first request.
            return ctx.text("password.cooldown", minutes=-(-cfg.cooldown_window // 60), seconds=cfg.cooldown_window)
        shown = Shown.parse(claim.read_value)
        if shown is None and claim.read_value:
            log.error("password snapshot unreadable; answering as if none is set")
        return render_reply(ctx.texts, cfg, shown, ctx.now)

    # -- staff -----------------------------------------------------------------------------
    def staff_commands(self) -> list[StaffCommand]:
        return [
            StaffCommand("密码", frozenset({ADMIN}), self._staff_show, "查看公益版密码和同步状态"),
            StaffCommand("换密码", frozenset({ADMIN}), self._staff_rotate, "更换公益版密码（可附新密码，不附则自动生成）"),
        ]

    def _staff_show(self, msg: Message, ctx: Ctx, args: str) -> str:
        return staff_status(ctx, self.passwords, self.passwords.store.state(), time.time())

    def _staff_rotate(self, msg: Message, ctx: Ctx, args: str) -> str:
        pw = self.passwords
        value = args.strip() or None
        try:
            rot, password = pw.rotate("chat", "wx:" + hash_openid(ctx.openid, self.services.log_salt), value)
        except ValueError:
            return ctx.text("password.staff_invalid", min_length=self.cfg.min_length)
        key = "password.staff_rotated_pending" if pw.sync_on else "password.staff_rotated_now"
        return ctx.text(key, version=rot.version, password=password)

    # -- the rest of the bot -----------------------------------------------------------------
    def forget(self, client, openid: str) -> None:
        """Unsubscribe: drop the follower's cooldown counter."""
        client.delete(keys.feature_counter("password", openid))

    def worker_tasks(self) -> list:
        from .sync import SyncTask

        return [SyncTask(self.sync), ScheduleTask(self.passwords)]


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

