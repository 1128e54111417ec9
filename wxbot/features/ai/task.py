"""The worker's side: take queued questions, call the model (a few calls in flight per worker, in a
small thread pool, so ticket delivery and alerts in the same loop are never held up by a slow model),
check the answer, store it, and send it as a follow-up when a try already told the follower
"正在整理答案". A failing call gives the follower today's fallback; after
``ai.alert_after_failures`` failures in a row the admins are alerted (once per alert cooldown).
"""
from __future__ import annotations

import logging
import time
from concurrent.futures import Future, ThreadPoolExecutor, wait
from typing import TYPE_CHECKING

from ... import metrics
from ...alerts import alert
from ...textnorm import clip_utf8
from ...wechat.api import CS_WINDOW_ERRORS, WeChatAPIError
from .checks import Grounding, check_answer
from .client import ModelClient, ModelError
from .prompt import SystemPrompt, build_prompt, mask_secrets
from .store import DONE, FAILED, AiStore, Job

if TYPE_CHECKING:
    from ...services import Services
    from ..faq import FaqKnowledge

log = logging.getLogger(__name__)

# Where a customer-service message cannot go now (as for support replies): show it at the next message.
CANNOT_SEND = CS_WINDOW_ERRORS | {48001, 40164}


class AiTask:
    name = "ai"

    def __init__(self, services: "Services", knowledge: "FaqKnowledge", store: AiStore, system_prompt: SystemPrompt):
        self.services = services
        self.knowledge = knowledge
        self.store = store
        self.system_prompt = system_prompt
        self.cfg = services.bot.ai
        self.tune = services.internals.ai
        settings = services.settings
        self.client = ModelClient(services.http, settings.ai_base_url, settings.ai_api_key or "",
                                  self.tune.connect_timeout)
        self.pool = ThreadPoolExecutor(max_workers=self.cfg.concurrency, thread_name_prefix="wxbot-ai")
        self.inflight: set[Future] = set()

    def tick(self) -> bool:
        self.inflight = {f for f in self.inflight if not f.done()}
        did = False
        while len(self.inflight) < self.cfg.concurrency:
            job = self.store.take(time.time())
            if job is None:
                break
            self.inflight.add(self.pool.submit(self.process, job))
            did = True
        return did

    def drain(self, timeout: float) -> None:
        """Wait for the calls in flight (tests and shutdown)."""
        wait(list(self.inflight), timeout=timeout)

    # -- one question -------------------------------------------------------------------------------
    def prompt_for(self, question: str):
        entries = self.knowledge.get().entries
        return build_prompt(self.system_prompt.get(), entries, question, self.tune.question_chars), entries

    def ask(self, question: str, deadline: float):
        """Call the model for ``question`` and check its answer: (Checked, Completion, Prompt)."""
        prompt, entries = self.prompt_for(question)
        completion = self.client.complete(prompt.messages, self.cfg.model, self.cfg.temperature, self.cfg.max_tokens,
                                          deadline)
        note = self.services.texts.get().render("ai.note")
        checked = check_answer(completion.text, Grounding.of_entries(entries), question, note)
        return checked, completion, prompt

    def process(self, job: Job) -> None:
        try:
            self._process(job)
        except Exception:  # a thread of the pool: log, never lose the reason
            log.exception("ai question failed unexpectedly")

    def _process(self, job: Job) -> None:
        remaining = job.asked_at + self.cfg.call_deadline - time.time()
        started = time.monotonic()
        status, text, how, tokens, cache = FAILED, job.fallback, "failed", 0, 0
        try:
            if remaining < 0.1:
                raise ModelError("timeout", "the question waited past its deadline")
            checked, completion, _ = self.ask(job.question, remaining)
            tokens = completion.tokens
            metrics.AI_TOKENS.inc(tokens)
            cache = self.cfg.cache_hours * 3600
            if checked.refused:
                status, text, how = DONE, job.fallback, "refused"
            else:
                status, text, how = DONE, checked.text, "model"
            metrics.AI_CALLS.labels("refused" if checked.refused else "ok").inc()
            log.info("ai answered how=%s tokens=%d %s ms=%.0f", how, tokens, checked.summary(),
                     (time.monotonic() - started) * 1000)
            self.store.succeeded()
        except ModelError as exc:
            metrics.AI_CALLS.labels(exc.kind).inc()
            log.warning("ai call failed kind=%s (%s); the follower gets the fallback", exc.kind, exc.detail)
            self._count_failure(exc)
        finally:
            metrics.AI_LATENCY.observe(time.monotonic() - started)
        owed = self.store.finish(job, status, text, cache, how, tokens, time.time())
        if owed == 1:
            self.follow_up(job, text)
        if owed >= 0:
            self.store.keep_answer(job.member, mask_secrets(text), how, time.time())

    def _count_failure(self, exc: ModelError) -> None:
        n = self.store.failed()
        if n >= self.cfg.alert_after_failures:
            texts = self.services.texts.get()
            reason = texts.render(f"ai.reason_{exc.kind}", detail=exc.detail)
            message = texts.render("ai.alert_failing", count=n, reason=reason)
            alert(self.services, "ai_failing", "model", message)

    def follow_up(self, job: Job, answer: str) -> None:
        """The answer as a customer-service message; where the account cannot send one now, it waits
        for the follower's next message (keys.pending_replies, shown by the claim)."""
        texts = self.services.texts.get()
        question = job.question.strip().replace("\n", " ")
        short = question if len(question) <= 20 else question[:20] + "…"
        text = clip_utf8(texts.render("ai.followup", question=short, answer=answer))
        api = self.services.wechat_api
        try:
            if not api.configured:
                raise WeChatAPIError(-1, "WECHAT_APP_ID/WECHAT_APP_SECRET not set")
            api.send_text(job.openid, text)
            metrics.AI_ANSWERS.labels("followup_sent").inc()
        except WeChatAPIError as exc:
            if not (exc.errcode in CANNOT_SEND or not api.configured):
                log.warning("ai follow-up not sent (errcode=%s); shown at the next message", exc.errcode)
            self.store.defer(job.openid, text)
            metrics.AI_ANSWERS.labels("followup_deferred").inc()
