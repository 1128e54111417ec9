"""The FAQ of this process: ``config/faq.yaml`` hot-reloaded and compiled, and one match per message.

The FAQ lives in memory, re-read when the file changes (every process checks its mtime), so answers
work with Redis down; a broken edit keeps the last good version and logs one error.
"""
from __future__ import annotations

import functools
from pathlib import Path
from typing import TYPE_CHECKING

from ...defaults import Faq as FaqInternals
from ...router import Ctx
from ...settings import FaqPolicy
from ...textnorm import normalise
from ...texts import ReloadingFile
from ...wechat.protocol import Message
from .matcher import Faq, MatchOptions, Result, compile_faq
from .store import UnmatchedStore

if TYPE_CHECKING:
    from ...services import Services

_CACHE = "faq.result"
_CACHE_CHARS = 400  # longer messages are matched every time rather than kept in the cache


def match_options(policy: FaqPolicy, internals: FaqInternals) -> MatchOptions:
    return MatchOptions(policy.threshold, policy.ambiguity_ratio, internals.max_candidates, internals.max_chars,
                        internals.fuzzy_min_len)


def faq_path(config_dir: Path, cfg: FaqPolicy) -> Path:
    path = Path(cfg.file)
    return path if path.is_absolute() else Path(config_dir) / path


class FaqKnowledge:
    """The hot-reloaded FAQ of this process, and the one match per message."""

    def __init__(self, services: "Services"):
        self.services = services
        self.cfg: FaqPolicy = services.bot.faq
        self.internals = services.internals.faq
        options = match_options(self.cfg, self.internals)
        self.path = faq_path(services.settings.config_dir, self.cfg)
        self.file: ReloadingFile[Faq] = ReloadingFile(
            self.path, lambda raw: compile_faq(raw, options), services.internals.webhook.config_reload_interval
        )
        self.unmatched = UnmatchedStore(services.redis, self.internals.unmatched_max, self.internals.unmatched_chars)
        self._cached: tuple[Faq | None, object] = (None, None)
        self._acks_raw = {w.lower() for w in self.cfg.ack_words}
        self._acks = sorted({normalise(w, 20) for w in self.cfg.ack_words} - {""}, key=len)


    def get(self) -> Faq:
        return self.file.get()

    def is_ack(self, text: str) -> bool:
        """Thanks/OK/emoji only (punctuation and repeats ignored, e.g. "谢谢！！", "好的好的")."""
        raw = text.strip().lower()
        if not raw or len(raw) > 20:
            return False
        if raw.rstrip("!！~～。.") in self._acks_raw:
            return True
        folded = normalise(raw, 20)
        if not folded:
            return False
        for word in self._acks:
            if word and len(folded) % len(word) == 0 and folded == word * (len(folded) // len(word)):
                return True
        return False

    def matcher(self):
        """``Faq.match`` of the current FAQ, behind an LRU cache that a reload replaces."""
        faq = self.get()
        owner, match = self._cached
        size = self.internals.cache_size
        if owner is not faq:
            match = _cached_match(faq.match, size) if size else faq.match
            self._cached = (faq, match)  # one assignment: threads never see a mismatched pair
        return match

    def result(self, msg: Message, ctx: Ctx) -> Result:
        """Match the message once per request; every route and handler that asks shares the result."""
        cached = ctx.extra.get(_CACHE)
        if cached is None:
            cached = self.matcher()(msg.text)
            ctx.extra[_CACHE] = cached
        return cached

    def says(self, msg: Message, ctx: Ctx) -> Result | None:
        """The confident answer entry for a text/voice message, or None."""
        res = self.result(msg, ctx)
        return res if res.kind == "answer" and res.entry is not None else None

    def topics(self, ctx: Ctx) -> str:
        faq = self.get()
        sep = ctx.text("faq.topic_separator")
        return sep.join(e.topic for e in faq.topics[: self.cfg.topics_shown])


def _cached_match(plain, size: int):
    cached = functools.lru_cache(size)(plain)

    def match(text: str):
        return cached(text) if len(text) <= _CACHE_CHARS else plain(text)  # bounded memory

    return match

