"""AI answers: the seller's own OpenAI-compatible API answers what the FAQ cannot, grounded in the FAQ.

Off unless ``WXBOT_AI_API_KEY`` is set: then the route list and the worker's tasks are exactly
today's. On, one route (``ai``) sits right before the FAQ's answer route and takes a text or voice
message only when the FAQ has no answer for it (not when it would ask "which one did you mean?", not a
greeting or a thanks), it is a real question (at least ``ai.min_chars`` characters) and not a staff
``#`` command; the password, ticket and FAQ routes come earlier and keep what is theirs.

WeChat waits 5 s for a reply and tries a message three times. The webhook never calls the model: it
enqueues the question keyed by the message's dedupe id (store.py; the tries share it, so they share
one model call) and waits for a worker to answer it, polling with short GETs (no Redis connection is
held across the wait). The claim counts WeChat's deliveries: tries 1 and 2 wait until WeChat has
given up on them (``ai.wechat_timeout`` + ``ai.hold_margin``), unless the answer comes first; the
last try always replies by ``webhook.reply_deadline``: the answer if it is ready, else "正在整理答案",
and the worker sends the answer as a customer-service message when it is done (or, where the account
cannot send one, it is shown at the follower's next message). At most ``ai.max_waiters`` threads
per web process wait; beyond that the follower gets "正在整理答案" at once. The route is replayable
(every try runs its handler, whose Redis state makes it idempotent): its claim carries no lease, so
no delivery can take a live wait over.
"""
from __future__ import annotations

import logging
import threading
import time
from typing import TYPE_CHECKING, Callable

from ... import metrics
from ...router import ClaimNeeds, Ctx, Route, StaffCommands
from ...textnorm import normalise
from ...wechat.protocol import Message
from .prompt import SystemPrompt
from .store import DONE, FAILED, AiStore

if TYPE_CHECKING:
    from ...services import Services
    from ..faq import FaqKnowledge
    from .client import ModelClient, ModelError
    from .task import AiTask

__all__ = ["AiFeature", "ModelClient", "ModelError"]

log = logging.getLogger(__name__)


def __getattr__(name: str):
    # The model client (httpx) and the worker's task load when used, not with the ``ai`` CLI group.
    if name in ("ModelClient", "ModelError"):
        from . import client

        return getattr(client, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


class AiFeature:
    def __init__(self, services: "Services", knowledge: FaqKnowledge,
                 clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep):
        self.services = services
        self.knowledge = knowledge
        self.cfg = services.bot.ai
        self.tune = services.internals.ai
        self.enabled = services.settings.ai_enabled
        self.clock = clock
        self.sleep = sleep
        self.store = AiStore(services.redis, services.internals.webhook.dedupe_ttl,
                             services.bot.zone, self.tune.answers_max)
        self.waiters = threading.BoundedSemaphore(self.cfg.max_waiters) if self.cfg.max_waiters else None
        # The system prompt is checked at start (a missing file or one without {faq} is a config error).
        self.system_prompt = SystemPrompt(services.settings.config_dir / self.cfg.prompt_file) if self.enabled else None
        self.route = Route("ai", self.match, self.answer,
                           needs=ClaimNeeds(deliveries=True, visible=False))

    @property
    def routes(self) -> list[Route]:
        """The route composed before the FAQ's answer route; none when AI answers are off."""
        return [self.route] if self.enabled else []

    def worker_tasks(self) -> list:
        return [self.task()] if self.enabled else []

    def task(self) -> AiTask:
        from .task import AiTask

        assert self.system_prompt is not None
        return AiTask(self.services, self.knowledge, self.store, self.system_prompt)

    # -- when it answers --------------------------------------------------------------------------
    def is_question(self, text: str) -> bool:
        """A real question: long enough, not a staff command, not thanks/OK."""
        if StaffCommands.split(text) is not None:
            return False
        if len(normalise(text)) < self.cfg.min_chars:
            return False
        return not self.knowledge.is_ack(text)

    def match(self, msg: Message, ctx: Ctx) -> bool:
        if msg.type not in ("text", "voice") or not msg.text.strip():
            return False
        if not self.is_question(msg.text):
            return False
        return self.knowledge.result(msg, ctx).kind == "none"

    # -- the webhook side -------------------------------------------------------------------------
    def fallback(self, ctx: Ctx) -> str:
        return ctx.text("fallback", topics=self.knowledge.topics(ctx))

    def answer(self, msg: Message, ctx: Ctx) -> str | None:
        started = self.clock()
        claim = ctx.claim
        if claim is None or not ctx.redis_ok:
            return self.fallback(ctx)  # Redis is down: no queue, no worker; today's answer
        first = not claim.duplicate
        member = ""
        if first:
            metrics.FAQ.labels("unmatched").inc()
            if self.knowledge.cfg.count_unmatched:
                member = self.knowledge.unmatched.record(msg.text) or ""
        faq = self.knowledge.get()
        cache_key = AiStore.cache_key(faq.version, normalise(msg.text, self.tune.question_chars))
        kind, value = self.store.enqueue(
            msg.dedupe_id, msg.from_user, msg.text[: self.tune.question_chars], self.fallback(ctx), cache_key, member,
            self.cfg.follower_daily_quota, self.cfg.daily_token_budget, time.time())
        if kind == "cache":
            return self._done(ctx, "cache", value)
        if kind in ("quota", "budget"):
            metrics.AI_ANSWERS.labels(kind).inc()
            ctx.outcome = f"ai_{kind}"
            return ctx.text(f"ai.{kind}", topics=self.knowledge.topics(ctx))
        last = max(claim.deliveries, 1) >= self.tune.tries
        if self.waiters is None or not self.waiters.acquire(blocking=False):
            return self._settle(msg, ctx, "busy")
        try:
            return self._wait(msg, ctx, started, last)
        finally:
            self.waiters.release()

    def _wait(self, msg: Message, ctx: Ctx, started: float, last: bool) -> str | None:
        web = self.services.internals.webhook
        limit = web.reply_deadline if last else self.tune.wechat_timeout + self.tune.hold_margin
        deadline = started + limit
        while True:
            status, answer, told = self.store.poll(msg.dedupe_id)
            if told:
                return self._interim(ctx)
            if status in (DONE, FAILED):
                return self._done(ctx, "answered" if status == DONE else "fallback", answer or self.fallback(ctx))
            if status is None:  # expired (or flushed): answer as today
                return self.fallback(ctx)
            left = deadline - self.clock()
            if left <= 0:
                break
            self.sleep(min(self.tune.poll_interval, left))
        if last:
            return self._settle(msg, ctx, "late")
        # WeChat has given up on this try; the next one finds the answer (or waits on).
        ctx.outcome = "ai_held"
        return None

    def _settle(self, msg: Message, ctx: Ctx, mode: str) -> str:
        stale = self.cfg.call_deadline + self.tune.wechat_timeout
        kind, value = self.store.settle(msg.dedupe_id, mode, time.time(), stale)
        if kind == "answer":
            return self._done(ctx, "answered", value)
        if kind == "gone":
            return self.fallback(ctx)
        if mode == "busy":
            metrics.AI_ANSWERS.labels("busy").inc()
        return self._interim(ctx)

    def _interim(self, ctx: Ctx) -> str:
        metrics.AI_ANSWERS.labels("interim").inc()
        ctx.outcome = "ai_interim"
        return ctx.text("ai.working")

    def _done(self, ctx: Ctx, how: str, text: str) -> str:
        metrics.AI_ANSWERS.labels(how).inc()
        ctx.outcome = f"ai_{how}"
        return text
