"""The FAQ of this process: ``config/faq.yaml`` plus the teachings in Redis, compiled, hot-reloaded,
and one match per message.

The FAQ lives in memory, so answers work with Redis down. Every ``config_reload_interval`` one request
(and, in gunicorn's workers, a ``watch`` thread, so a process without traffic keeps up too) starts a background check of the file's mtime and the teachings' version counter in Redis (one GET;
never per message, never on the request thread, skipped while the Redis breaker is open); when either
changed, that thread recompiles the FAQ while requests keep the current version (a 2,000-entry FAQ
takes about a second), then swaps it in one assignment; a teaching or console edit of this process
recompiles the same way (``refresh``), so no request ever compiles. A broken
edit keeps the last good version and logs one error. The first load happens when the process starts.
"""
from __future__ import annotations

import functools
import logging
import os
import threading
import time
import weakref
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml
from pydantic import ValidationError

from ...defaults import Faq as FaqInternals
from ...policy import FaqPolicy
from ...router import Ctx
from ...settings import ConfigError, one_line, yaml_load
from ...stores.redis import REDIS_ERRORS
from ...textnorm import normalise
from ...wechat.protocol import Message
from .edits import apply_edits, remove_teaching
from .masking import mask
from .matcher import Faq, MatchOptions, Result, compile_faq
from .store import EditStore, Teaching, TeachingStore, UnmatchedStore

if TYPE_CHECKING:
    from ...services import Services

_CACHE = "faq.result"
_CACHE_CHARS = 400  # longer messages are matched every time rather than kept in the cache


def match_options(policy: FaqPolicy, internals: FaqInternals) -> MatchOptions:
    return MatchOptions(policy.threshold, policy.ambiguity_ratio, policy.ask_threshold, internals.max_candidates,
                        internals.max_chars, internals.fuzzy_min_len)


def faq_path(config_dir: Path, cfg: FaqPolicy) -> Path:
    path = Path(cfg.file)
    return path if path.is_absolute() else Path(config_dir) / path


log = logging.getLogger(__name__)

_PARSE_ERRORS = (yaml.YAMLError, ValidationError, ValueError, TypeError, KeyError, OSError)


_FIRST_LOADS: dict[tuple, tuple[Any, Faq]] = {}  # at most a few: the last FAQs built in this process
_FIRST_LOADS_LOCK = threading.Lock()


def _first_load(path: Path, exists: bool, options: MatchOptions, edits: tuple,
                taught: tuple[tuple[str, tuple[str, ...]], ...]) -> tuple[Any, Faq]:
    """The parsed file and its compiled FAQ, for a process that builds its features more than once
    (the CLI, tests): the same file content, edits, teachings and options give the same FAQ, which
    nothing mutates, and compiling it costs a few hundred ms. Reloads always compile afresh."""
    key = (path.read_bytes() if exists else None, options, edits, taught)
    found = _FIRST_LOADS.get(key)
    if found is None:
        raw = yaml_load(path) if exists else None
        found = (raw, compile_faq(apply_edits(raw, list(edits)), options, {k: list(v) for k, v in taught}))
        with _FIRST_LOADS_LOCK:
            while len(_FIRST_LOADS) >= 4:
                _FIRST_LOADS.pop(next(iter(_FIRST_LOADS)))
            _FIRST_LOADS[key] = found
    return found


class FaqKnowledge:
    """The hot-reloaded FAQ of this process (file + teachings), and the one match per message."""

    def __init__(self, services: "Services", clock=time.monotonic):
        self.services = services
        self.cfg: FaqPolicy = services.bot.faq
        self.internals = services.internals.faq
        self.options = match_options(self.cfg, self.internals)
        self.path = faq_path(services.settings.config_dir, self.cfg)
        self.unmatched = UnmatchedStore(services.redis, self.internals.unmatched_max, self.internals.unmatched_chars)
        self.teachings = TeachingStore(services.redis)
        self.edits = EditStore(services.redis)
        self._clock = clock
        self._interval = services.internals.webhook.config_reload_interval
        self._background = self.internals.reload_in_background
        self._lock = threading.Lock()
        self._next_check = 0.0
        self._worker: threading.Thread | None = None
        self.error: str | None = None
        self._stamp = self._stat()
        self._version, taught, self._edits = self._read_teachings()
        try:
            self._raw, self._faq = _first_load(self.path, self._stamp is not None, self.options, tuple(self._edits),
                                               tuple((k, tuple(v)) for k, v in sorted(taught.items())))
        except _PARSE_ERRORS as exc:
            raise ConfigError(f"{self.path}: {one_line(exc)}") from None
        self._next_check = clock() + self._interval  # just loaded
        self._cached: tuple[Faq | None, object] = (None, None)
        self._acks_raw = {w.lower() for w in self.cfg.ack_words}
        self._acks = sorted({normalise(w, 20) for w in self.cfg.ack_words} - {""}, key=len)

    def _stat(self) -> tuple[int, int] | None:
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            return None
        return (st.st_mtime_ns, st.st_size)

    def _read_teachings(self) -> tuple[int | None, dict[str, list[str]], list]:
        """(version, teachings, console edits), or (None, {}, []) with Redis down: answers from the
        file alone, and the next check tries again."""
        if not self.services.breaker.available():
            return None, {}, []
        try:
            return self.edits.layers()
        except REDIS_ERRORS as exc:
            self.services.breaker.trip()
            log.warning("faq teachings not read: redis unavailable (%s)", exc.__class__.__name__)
            return None, {}, []

    def get(self) -> Faq:
        """The current FAQ; at most once per interval, start a reload if the file or teachings moved."""
        now = self._clock()
        if now >= self._next_check:
            with self._lock:
                if now >= self._next_check and (self._worker is None or not self._worker.is_alive()):
                    self._next_check = now + self._interval
                    self._check()
        return self._faq

    def warm(self) -> None:
        """Train what the FAQ trains at first use (its classifier) now, for a server before its first
        message; the next reload check is an interval after the FAQ is ready, as after any load."""
        self._faq.warm()
        self._next_check = self._clock() + self._interval

    def watch(self) -> bool:
        """Check every interval on a thread of this process as well, not only on the next message: a
        web process that gets no message still swaps a teaching or edit in within about a second, so
        the first follower to ask after it gets the new answer. For server processes (gunicorn's
        ``post_worker_init``); False (nothing started) without background reloads or an interval."""
        if not self._background or self._interval <= 0:
            return False
        ref = weakref.ref(self)
        interval = self._interval

        def tick() -> None:
            while True:
                time.sleep(interval)  # a pace, not a measurement: the thread has nothing else to do
                knowledge = ref()
                if knowledge is None:
                    return
                try:
                    knowledge.get()
                except Exception:  # the thread's edge: keep watching
                    log.exception("faq watch failed; the next message checks again")
                del knowledge

        threading.Thread(target=tick, name="faq-watch", daemon=True).start()
        return True

    def _check(self) -> None:
        if self._background:
            # The teachings' version is read off the request thread too: a hung Redis costs no request.
            self._worker = threading.Thread(target=self._poll_in_thread, name="faq-reload", daemon=True)
            self._worker.start()
        else:
            self._poll()

    def _poll_in_thread(self) -> None:
        try:
            self._poll()
        except Exception:  # the thread's edge: an unexpected error must not kill reloads for good
            log.exception("faq reload check failed; keeping the current version")

    def _poll(self) -> None:
        stamp = self._stat()
        version = self._version
        breaker = self.services.breaker
        if breaker.available():
            try:
                version = self.teachings.version()
            except REDIS_ERRORS:
                breaker.trip()  # keep what we have; the file check still counts
        if stamp == self._stamp and version == self._version:
            return
        file_changed = stamp != self._stamp
        self._stamp = stamp
        self._reload(file_changed)

    def _reload(self, file_changed: bool) -> None:
        raw = self._raw
        try:
            if file_changed:
                raw = yaml_load(self.path) if self._stamp is not None else None
            version, taught, edits = self._read_teachings()
            faq = compile_faq(apply_edits(raw, edits), self.options, taught).warm()  # off the request thread
        except _PARSE_ERRORS as exc:
            self.error = f"{self.path}: {one_line(exc)}"
            log.error("config file broken, keeping last good version: %s", self.error)
            return
        self._raw, self._version, self._edits, self._faq = raw, version, edits, faq
        log.info("faq reloaded file=%s version=%s entries=%d%s", self.path, faq.version, len(faq.entries),
                 " (error cleared)" if self.error else "")
        self.error = None

    def refresh(self) -> None:
        """Recompile with the current teachings (after this process taught or edited one). With
        background reloads (the default) a thread compiles after any reload in progress and swaps the
        new version in, so the request that asked (a staff ``#教``, a console edit) never compiles and
        every message meanwhile gets the current version; else (tests, the CLI) it compiles here."""
        with self._lock:
            if not self._background:
                self.settle()
                self._reload(False)
                return
            self._worker = threading.Thread(target=self._refresh_in_thread, args=(self._worker,),
                                            name="faq-refresh", daemon=True)
            self._worker.start()

    def _refresh_in_thread(self, previous: threading.Thread | None) -> None:
        if previous is not None:
            previous.join()  # one compile at a time, the newest last
        try:
            self._reload(False)
        except Exception:  # the thread's edge, as in _poll_in_thread
            log.exception("faq refresh failed; keeping the current version")

    def settle(self, timeout: float | None = None) -> None:
        """Wait for a reload in progress (tests, the CLI)."""
        worker = self._worker
        if worker is not None:
            worker.join(timeout)

    def current_raw(self) -> Any:
        """The parsed faq.yaml the current FAQ was compiled from."""
        return self._raw

    def current_edits(self) -> list:
        """The console's edits the current FAQ was compiled with."""
        return self._edits

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
            if cached.unsure and self.is_ack(msg.text):
                # "ok", "收到" in the ask band: an acknowledgement, never "which one did you mean?"
                cached = Result("none", cached.text, None, cached.score, cached.candidates)
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



TEACH_MAX_CHARS = 200  # a taught phrasing is one follower message, cut like the matcher cuts one


def find_entry(faq: Faq, ref: str):
    """An entry by id or by topic (as a follower would type it), or None."""
    ref = ref.strip()
    if ref in faq.by_id:
        return faq.by_id[ref]
    want = normalise(ref)
    return next((e for e in faq.entries if normalise(e.topic) == want), None) if want else None


class Teacher:
    """Teach and unteach phrasings: Redis first (every host sees it at its next check), the audit
    log, then this process's FAQ recompiled at once so its next message already knows."""

    def __init__(self, knowledge: FaqKnowledge, audit):
        self.knowledge = knowledge
        self.audit = audit

    def teach(self, ref: str, text: str, actor: str) -> tuple[str, Any]:
        """("taught", Teaching) | ("unknown", None) | ("empty", None) | ("taken", other entry id)."""
        kn = self.knowledge
        faq = kn.get()
        entry = find_entry(faq, ref)
        if entry is None:
            return "unknown", None
        text = " ".join(text.split())[:TEACH_MAX_CHARS]
        if not normalise(text):
            return "empty", None
        owner = faq.exact_owner(text)
        if owner is not None and owner != entry.id:
            return "taken", owner
        teaching_id = kn.teachings.teach(entry.id, text, actor)
        self.audit.record(actor, "faq.teach", entry.id, detail=f"#{teaching_id} {mask(text, 80)}")
        kn.refresh()
        return "taught", Teaching(teaching_id, entry.id, text, actor, time.time())

    def unteach(self, teaching_id: int, actor: str) -> Teaching | None:
        return remove_teaching(self.knowledge, self.audit, teaching_id, actor, "faq.unteach")
