"""From an authenticated, parsed message to reply text: route -> claim -> limit -> handle.

One Redis round trip on the hot path (the claim); routes with side effects add one more to store
their reply for retries. Redis errors never escape: the follower gets a degraded answer instead.
"""
from __future__ import annotations

import logging
import time

import redis

from . import metrics
from .protocol import TEXT_LIMIT, Message, clip_utf8
from .redisconn import REDIS_ERRORS
from .router import Ctx
from .services import Services

log = logging.getLogger(__name__)

# Any Redis failure (not only connection errors: NOREPLICAS, MISCONF, BUSY...) degrades the answer;
# none may take the reply away.
REDIS_FAILURES = (redis.RedisError, *REDIS_ERRORS)


def handle_message(services: Services, msg: Message, now: float | None = None) -> tuple[str | None, Ctx]:
    """Return (reply text or None for ``success``, the request context for logging)."""
    started = time.monotonic()
    cfg = services.webhook_cfg
    ctx = Ctx(services, msg.from_user, now=time.time() if now is None else now)
    router = services.router
    route = router.resolve(msg, ctx)

    claim = None
    if services.breaker.available():
        try:
            claim = services.dedupe.claim(
                msg.dedupe_id, msg.from_user, route.feature, route.feature_window, route.snapshot_key,
                take_pending=route.shows_pending,
            )
        except REDIS_FAILURES as exc:
            log.warning("redis unavailable at claim (%s); answering in degraded mode", exc.__class__.__name__)
            metrics.REDIS_ERRORS.labels("claim").inc()
            ctx.redis_failed()
    else:
        ctx.redis_ok = False
    ctx.claim = claim

    if claim is not None:
        if claim.reply is not None:
            metrics.DEDUPE_HITS.inc()
            ctx.route, ctx.outcome = "replay", "duplicate"
            return claim.reply or None, ctx
        if claim.dialog is not None:
            route = router.resolve(msg, ctx)
        if claim.duplicate:
            metrics.DEDUPE_HITS.inc()
            if not route.replayable:
                ctx.route, ctx.outcome = route.name, "duplicate"
                remaining = cfg.reply_deadline - (time.monotonic() - started) - 0.5
                try:
                    reply = services.dedupe.wait_reply(msg.dedupe_id, max(0.0, min(cfg.pending_wait, remaining)))
                except REDIS_FAILURES:
                    reply = None
                return reply, ctx
        if claim.count > cfg.msg_limit and route.rate_limited and not ctx.staff_allowed:
            metrics.RATE_LIMITED.labels("messages").inc()
            ctx.route, ctx.outcome = "rate_limit", "limited"
            if claim.count != cfg.msg_limit + 1:
                return None, ctx
            return ctx.text("limits.slow_down", minutes=max(1, -(-cfg.msg_window // 60))), ctx

    ctx.route = route.name
    try:
        reply = route.handle(msg, ctx)
        ctx.outcome = ctx.outcome or ("replied" if reply else "silent")
    except REDIS_FAILURES as exc:
        log.warning("redis error in route=%s (%s)", route.name, exc.__class__.__name__)
        metrics.REDIS_ERRORS.labels(route.name).inc()
        ctx.redis_failed()
        reply = ctx.text("errors.busy")
        ctx.outcome = "degraded"
    except Exception:
        log.exception("handler failed route=%s", route.name)
        reply = ctx.text("errors.internal")
        ctx.outcome = "error"

    if claim is not None and claim.pending:
        reply = _with_pending(services, ctx, reply, claim.pending, first=not claim.duplicate)

    if claim is not None and not claim.duplicate and not route.replayable and ctx.redis_ok:
        try:
            services.dedupe.store_reply(msg.dedupe_id, reply or "")
        except REDIS_FAILURES:
            metrics.REDIS_ERRORS.labels("store_reply").inc()
            ctx.redis_failed()
    if reply and (claim is None or not claim.duplicate):
        metrics.REPLIES.labels(ctx.route).inc()
    return reply or None, ctx


def _with_pending(services: Services, ctx: Ctx, reply: str | None, pending: list[str], first: bool) -> str:
    """Put support replies waiting for the follower before the answer, never cutting the answer.

    What does not fit in WeChat's 2048 bytes goes back to the follower's list for the next message; a
    single text too long for any reply is shown clipped rather than blocking the ones behind it. Only
    the first delivery confirms (a retry replays the same texts and must not queue them twice).
    """
    size = len(reply.encode("utf-8")) if reply else 0
    shown: list[str] = []
    left: list[str] = []
    for text in pending:
        sep = 2 if (shown or reply) else 0
        add = len(text.encode("utf-8")) + sep
        if not left and size + add > TEXT_LIMIT and not shown and TEXT_LIMIT - size - sep > 200:
            text = clip_utf8(text, TEXT_LIMIT - size - sep)  # too long for any reply: show its start
            add = len(text.encode("utf-8")) + sep
        if left or size + add > TEXT_LIMIT:
            left.append(text)
            continue
        shown.append(text)
        size += add
    if first and ctx.redis_ok:
        try:
            services.dedupe.confirm_pending(ctx.openid, left)
        except REDIS_FAILURES:
            ctx.redis_failed()
    return "\n\n".join([*shown, reply] if reply else shown)
