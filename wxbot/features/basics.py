"""The basics every account needs: welcome, unsubscribe clean-up, the staff command grammar (#帮助,
#我的ID), replies to media and unknown events, and the fallback."""
from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Callable

from ..router import ClaimNeeds, Ctx, Route, StaffCommands, hash_openid
from ..stores import keys
from ..stores.redis import REDIS_ERRORS
from ..wechat.protocol import Message

if TYPE_CHECKING:
    from ..services import Services

log = logging.getLogger(__name__)

MY_ID_WORDS = frozenset({"我的id", "我的openid", "myid"})

ForgetHook = Callable[[object, str], None]


def _is_event(msg: Message, *names: str) -> bool:
    return msg.type == "event" and msg.event in names


class Basics:
    """``staff`` are the composed ``#`` commands; ``topics`` lists the FAQ's topics for the fallback;
    ``forget`` are the features' clean-ups run when a follower unsubscribes."""

    def __init__(self, services: "Services", staff: StaffCommands, topics: Callable[[Ctx], str],
                 forget: list[ForgetHook]):
        self.services = services
        self.staff_commands = staff
        self._topics = topics
        self._forget = forget
        self.my_id = Route("my_id", self.is_my_id, self.reply_my_id)
        self.staff = Route("staff", self.is_staff, self.run_staff, replayable=False)
        self.subscribe = Route("subscribe", lambda m, c: _is_event(m, "subscribe"), self.welcome)
        self.unsubscribe = Route("unsubscribe", lambda m, c: _is_event(m, "unsubscribe"), self.clean_up,
                                 needs=ClaimNeeds(visible=False, limited=False))
        self.click_unknown = Route("click_unknown", lambda m, c: _is_event(m, "click"),
                                   lambda m, c: c.text("menu.unknown"))
        # Events without a reply (VIEW, LOCATION, TEMPLATESENDJOBFINISH...): the follower sees nothing, so
        # waiting support replies stay for the next message.
        self.event = Route("event", lambda m, c: m.type == "event", lambda m, c: None,
                           needs=ClaimNeeds(visible=False))
        self.media = Route("media", lambda m, c: m.type != "text" and not m.text, self.reply_media)
        self.fallback = Route("fallback", lambda m, c: True, self.reply_fallback)

    def is_my_id(self, msg: Message, ctx: Ctx) -> bool:
        parts = StaffCommands.split(msg.text)
        return parts is not None and parts[0].lower() in MY_ID_WORDS

    def reply_my_id(self, msg: Message, ctx: Ctx) -> str:
        return ctx.text("staff.my_id", openid=msg.from_user)

    def is_staff(self, msg: Message, ctx: Ctx) -> bool:
        if msg.type != "text":
            return False
        if self.staff_commands.find(msg.content, ctx) is not None:
            return True
        word = self.staff_commands.refused(msg.content, ctx)
        if word is not None:
            self._audit_refusal(msg, ctx, word)
        return False

    def _audit_refusal(self, msg: Message, ctx: Ctx, word: str) -> None:
        """A refused staff command, once per message (WeChat's retries are not new attempts)."""
        who = "wx:" + hash_openid(msg.from_user, self.services.log_salt)
        why = "plaintext account" if not ctx.settings.safe_mode else "not staff"
        try:
            if self.services.redis.set(keys.audit_seen(msg.dedupe_id), "1", nx=True,
                                       ex=int(self.services.internals.webhook.dedupe_ttl)):
                self.services.audit.record(who, "staff.refused", "#" + word, "refused", why)
        except REDIS_ERRORS:
            log.warning("audit record of a refused staff command lost: redis unavailable")

    def run_staff(self, msg: Message, ctx: Ctx) -> str:
        found = self.staff_commands.find(msg.content, ctx)
        assert found is not None
        command, args = found
        log.info("staff command=%s", command.name)
        return command.handle(msg, ctx, args)

    def welcome(self, msg: Message, ctx: Ctx) -> str:
        return ctx.text("welcome")

    def clean_up(self, msg: Message, ctx: Ctx) -> None:
        if ctx.claim is None or ctx.claim.duplicate:
            return None
        client = self.services.redis
        try:
            client.delete(*keys.follower_keys(msg.from_user))
            for forget in self._forget:
                forget(client, msg.from_user)
        except REDIS_ERRORS:
            ctx.redis_failed()
            log.warning("unsubscribe clean-up skipped: redis unavailable")
        return None

    def reply_media(self, msg: Message, ctx: Ctx) -> str:
        if msg.type == "image":
            return ctx.text("media.image")
        if msg.type == "voice":
            return ctx.text("media.voice_unrecognized")
        return ctx.text("media.other")

    def reply_fallback(self, msg: Message, ctx: Ctx) -> str:
        return ctx.text("fallback", topics=self._topics(ctx))
