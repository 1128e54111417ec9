"""FAQ answers: followers' own words find the seller's answers (``config/faq.yaml``).

Two routes, both reading one match per message (``FaqKnowledge.result``, cached in ``ctx.extra``):

* ``faq_feature`` (not replayable): the best entry is really a feature (``route: tickets``); the
  message goes to the handler the composition gives for that route (``route: password`` entries are
  taken earlier by the password feature's ``faq_password`` route).
* ``faq`` (replayable, pure): every other text or recognised voice message gets the entry's answer, a
  "which one did you mean?" list, a greeting, or the fallback (the top-level ``fallback`` text). A
  first delivery that found no answer also counts the question (normalised and masked) in a bounded
  Redis sorted set, so ``wxbot faq unmatched`` shows what the FAQ is missing.
"""
from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

from ... import metrics
from ...audit import AuditLog
from ...router import ADMIN, Ctx, Handler, Route, StaffCommand, hash_openid
from ...stores.redis import REDIS_ERRORS
from ...wechat.protocol import Message
from .masking import mask
from .questions import KIND_WORDS, explain, open_questions
from .spec import ANSWER_LIMIT

if TYPE_CHECKING:
    from ...services import Services
    from .export import merged_yaml
    from .knowledge import FaqKnowledge

__all__ = ["ANSWER_LIMIT", "KIND_WORDS", "FaqFeature", "FaqKnowledge", "explain", "mask", "merged_yaml", "open_questions"]

log = logging.getLogger(__name__)


def __getattr__(name: str):
    # The matcher and its libraries load when a process builds the feature (``FaqFeature``, at start)
    # or asks for these names, not when a CLI command imports this package for its ``cli`` module.
    if name == "FaqKnowledge":
        from .knowledge import FaqKnowledge

        return FaqKnowledge
    if name == "merged_yaml":
        from .export import merged_yaml

        return merged_yaml
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _count(ctx: Ctx, result: str) -> None:
    """Count a lookup once per message: a WeChat retry re-renders the reply but is not a new question."""
    if ctx.claim is None or not ctx.claim.duplicate:
        metrics.FAQ.labels(result).inc()


def _is_question(msg: Message) -> bool:
    return msg.type in ("text", "voice") and bool(msg.text.strip())



class FaqFeature:
    def __init__(self, services: "Services"):
        from .edits import Editor
        from .knowledge import FaqKnowledge, Teacher

        self.services = services
        self.knowledge = FaqKnowledge(services)
        self.teacher = Teacher(self.knowledge, AuditLog(services.redis))
        self.editor = Editor(self.knowledge, AuditLog(services.redis))
        self.answer_route = Route("faq", lambda m, c: _is_question(m), self.answer, stat=self.result_kind)

    def staff_commands(self) -> list[StaffCommand]:
        return [StaffCommand("教", frozenset({ADMIN}), self._staff_teach, "#教 条目 问法：把一种新问法教给一个条目")]

    def _staff_teach(self, msg: Message, ctx: Ctx, args: str) -> str:
        """``#教 ENTRY TEXT``: ENTRY is an id or a topic (the first word), TEXT the follower's phrasing."""
        parts = args.split(None, 1)
        topics = self.knowledge.topics(ctx)
        if len(parts) < 2:
            return ctx.text("faq.teach_usage", topics=topics)
        actor = "wx:" + hash_openid(ctx.openid, self.services.log_salt)
        try:
            status, value = self.teacher.teach(parts[0], parts[1], actor)
        except REDIS_ERRORS as exc:
            log.warning("faq teaching not stored: redis unavailable (%s)", exc.__class__.__name__)
            return ctx.text("faq.teach_failed")
        if status == "unknown":
            return ctx.text("faq.teach_unknown", entry=parts[0], topics=topics)
        if status == "empty":
            return ctx.text("faq.teach_usage", topics=topics)
        if status == "taken":
            return ctx.text("faq.teach_taken", other=value)
        entry = self.knowledge.get().by_id[value.entry]
        ctx.detail = f"faq_teach:{value.id}"
        return ctx.text("faq.taught", id=value.id, text=value.text, topic=entry.topic, entry=entry.id)

    def topics(self, ctx: Ctx) -> str:
        return self.knowledge.topics(ctx)

    def says_route(self, route: str):
        """A matcher: the FAQ's confident answer for the message is an entry with this ``route``."""

        def match(msg: Message, ctx: Ctx) -> bool:
            res = self.knowledge.says(msg, ctx) if _is_question(msg) else None
            return res is not None and res.entry.route == route

        return match

    def handover_route(self, handlers: dict[str, Handler],
                       declines: dict[str, Callable[[str], bool]] | None = None) -> Route:
        """``faq_feature``: entries that are really a feature go to that feature's handler, unless the
        feature ``declines`` the message (a hypothetical "what if I pay and get nothing?" is no report):
        then the entry's own answer is the reply (the ``faq`` route)."""
        declines = declines or {}

        def match(msg: Message, ctx: Ctx) -> bool:
            res = self.knowledge.says(msg, ctx) if _is_question(msg) else None
            if res is None or res.entry.route is None:
                return False
            decline = declines.get(res.entry.route)
            return decline is None or not decline(msg.text or "")

        def handle(msg: Message, ctx: Ctx) -> str | None:
            entry = self.knowledge.result(msg, ctx).entry
            assert entry is not None and entry.route is not None
            metrics.FAQ.labels("feature").inc()
            ctx.detail = f"faq:{entry.id}"
            handler = handlers.get(entry.route)
            return entry.answer if handler is None else handler(msg, ctx)

        return Route("faq_feature", match, handle, replayable=False)

    def result_kind(self, msg: Message, ctx: Ctx) -> str:
        """What ``answer`` will reply to the message (answered, ambiguous, greeting, ack, unmatched), for
        the dashboard's counters; the match is the one the routes before already computed."""
        res = self.knowledge.result(msg, ctx)
        if res.kind == "answer" and res.entry is not None:
            return "answered"
        if res.kind in ("ambiguous", "greeting"):
            return res.kind
        return "ack" if self.knowledge.is_ack(msg.text) else "unmatched"

    def answer(self, msg: Message, ctx: Ctx) -> str:
        base = self.knowledge
        res = base.result(msg, ctx)
        if res.kind == "answer" and res.entry is not None:
            _count(ctx, "answered")
            ctx.outcome = "answered"
            ctx.detail = f"faq:{res.entry.id}"  # in the message's log line: one line per message
            return res.entry.answer
        if res.kind == "ambiguous":
            _count(ctx, "ambiguous")
            ctx.outcome = "ambiguous"
            if res.unsure:
                self._count_unmatched(msg, ctx)  # asked for want of confidence: the FAQ did not know it
            options = "\n".join(ctx.text("faq.option", topic=e.topic, question=e.question)
                                for e, _ in res.candidates)
            return ctx.text("faq.which_one", options=options)
        if res.kind == "greeting":
            _count(ctx, "greeting")
            ctx.outcome = "greeting"
            return ctx.text("faq.greeting", topics=base.topics(ctx))
        if base.is_ack(msg.text):
            _count(ctx, "ack")
            ctx.outcome = "ack"
            return ctx.text("faq.thanks")
        _count(ctx, "unmatched")
        ctx.outcome = "unmatched"
        self._count_unmatched(msg, ctx)
        # The generic fallback (top-level `fallback` text) lists topics and the human contact; it may
        # use {topics} to list faq.yaml's topics instead of a fixed list.
        return ctx.text("fallback", topics=base.topics(ctx))

    def _count_unmatched(self, msg: Message, ctx: Ctx) -> None:
        # The only side effect of a replayable route: once per delivery, never for a retry.
        base = self.knowledge
        if not base.cfg.count_unmatched or ctx.claim is None or ctx.claim.duplicate or not ctx.redis_ok:
            return
        try:
            base.unmatched.record(msg.text)
        except REDIS_ERRORS as exc:
            log.warning("faq unmatched not counted: redis unavailable (%s)", exc.__class__.__name__)
            metrics.REDIS_ERRORS.labels("faq_unmatched").inc()
            ctx.redis_failed()
