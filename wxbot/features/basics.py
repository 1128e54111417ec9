"""The basics every account needs: welcome, unsubscribe clean-up, staff command grammar (#帮助,
#我的ID), replies to media and unknown events, and the fallback."""
from __future__ import annotations

import logging

from .. import router as r
from ..protocol import Message
from ..redisconn import REDIS_ERRORS
from ..router import Ctx, Route, StaffCommands
from ..services import Services
from ..stores import keys

log = logging.getLogger(__name__)

MY_ID_WORDS = frozenset({"我的id", "我的openid", "myid"})


def _is_event(msg: Message, *names: str) -> bool:
    return msg.type == "event" and msg.event in names


def register(services: Services) -> None:
    router = services.router
    staff = services.staff

    def is_my_id(msg: Message, ctx: Ctx) -> bool:
        parts = StaffCommands.split(msg.text)
        return parts is not None and parts[0].lower() in MY_ID_WORDS

    def my_id(msg: Message, ctx: Ctx) -> str:
        return ctx.text("staff.my_id", openid=msg.from_user)

    def is_staff(msg: Message, ctx: Ctx) -> bool:
        return msg.type == "text" and staff.find(msg.content, ctx) is not None

    def run_staff(msg: Message, ctx: Ctx) -> str:
        found = staff.find(msg.content, ctx)
        assert found is not None
        command, args = found
        log.info("staff command=%s", command.name)
        return command.handle(msg, ctx, args)

    @staff.add("帮助", {r.ADMIN, r.SUPPORT}, "列出可用的命令")
    def staff_help(msg: Message, ctx: Ctx, args: str) -> str:
        # Each command's line comes from texts.yaml (staff.commands.<name>) when present, else from the
        # command's own help; a line may start with its own usage ("#回复 工单号 内容：...").
        texts = ctx.texts
        lines = []
        for c in staff.available(ctx):
            key = f"staff.commands.{c.name}"
            help_text = texts.render(key) if key in texts else c.help
            lines.append(help_text if help_text.startswith("#" + c.name) else f"#{c.name} {help_text}")
        head = ctx.text("staff.unknown", name=args) + "\n" if args and args != "帮助" else ""
        return head + ctx.text("staff.help", commands="\n".join(lines))

    def welcome(msg: Message, ctx: Ctx) -> str:
        return ctx.text("welcome")

    def unsubscribe(msg: Message, ctx: Ctx) -> None:
        if ctx.claim is None or ctx.claim.duplicate:
            return None
        try:
            services.redis.delete(*keys.follower_keys(msg.from_user))
            for hook in services.forget_hooks:
                hook(services.redis, msg.from_user)
        except REDIS_ERRORS:
            ctx.redis_failed()
            log.warning("unsubscribe clean-up skipped: redis unavailable")
        return None

    def other_event(msg: Message, ctx: Ctx) -> None:
        return None

    def unknown_click(msg: Message, ctx: Ctx) -> str:
        return ctx.text("menu.unknown")

    def media(msg: Message, ctx: Ctx) -> str:
        if msg.type == "image":
            return ctx.text("media.image")
        if msg.type == "voice":
            return ctx.text("media.voice_unrecognized")
        return ctx.text("media.other")

    def fallback(msg: Message, ctx: Ctx) -> str:
        faq = services.extensions.get("faq")
        topics = faq.topics(ctx) if faq is not None else ctx.text("fallback_topics")
        return ctx.text("fallback", topics=topics)

    router.add(Route("my_id", is_my_id, my_id), r.ORDER_STAFF)
    router.add(Route("staff", is_staff, run_staff, replayable=False), r.ORDER_STAFF)
    router.add(Route("subscribe", lambda m, c: _is_event(m, "subscribe"), welcome), r.ORDER_EVENTS)
    router.add(Route("unsubscribe", lambda m, c: _is_event(m, "unsubscribe"), unsubscribe, shows_pending=False,
                     rate_limited=False), r.ORDER_EVENTS)
    router.add(Route("click_unknown", lambda m, c: _is_event(m, "click"), unknown_click), r.ORDER_MEDIA)
    # Events without a reply (VIEW, LOCATION, TEMPLATESENDJOBFINISH...): the follower sees nothing, so
    # waiting support replies stay for the next message.
    router.add(Route("event", lambda m, c: m.type == "event", other_event, shows_pending=False), r.ORDER_MEDIA)
    router.add(Route("media", lambda m, c: m.type != "text" and not m.text, media), r.ORDER_MEDIA)
    router.set_fallback(Route("fallback", lambda m, c: True, fallback))
