"""FAQ answers: followers' own words find the seller's answers (``config/faq.yaml``).

Two routes in the ORDER_FAQ band, both reading one match per message (cached in ``ctx.extra``):

* ``faq_feature`` (not replayable): the best entry is really a feature (``route: password`` or
  ``route: tickets``); the message goes to that feature's intent, ``services.extensions["intents"]``,
  or gets the entry's own answer when the feature is not installed.
* ``faq`` (replayable, pure): every other text or recognised voice message gets the entry's answer, a
  "which one did you mean?" list, a greeting, or the fallback (the top-level ``fallback`` text). A
  first delivery that found no answer also counts the question (normalised and masked) in a bounded
  Redis sorted set, so ``wxbot faq unmatched`` shows what the FAQ is missing.

The FAQ lives in memory, re-read when the file changes (every process checks its mtime), so answers
work with Redis down; a broken edit keeps the last good version and logs one error.
"""
from __future__ import annotations

import functools
import logging
from pathlib import Path

import click
import yaml

from .. import metrics
from .. import router as r
from ..config import ReloadingFile, Section, load_bot_config, section
from ..faqmatch import Faq, MatchOptions, Result, compile_faq, lint, mask, normalise
from ..protocol import Message
from ..redisconn import REDIS_ERRORS
from ..router import Ctx, Route
from ..services import Services
from ..stores import keys

log = logging.getLogger(__name__)

_CACHE = "faq.result"
_CACHE_CHARS = 400  # longer messages are matched every time rather than kept in the cache


@section("faq")
class FaqConfig(Section):
    file: str = "faq.yaml"  # relative to WXBOT_CONFIG_DIR
    threshold: float = 2.5  # minimum score to answer
    ambiguity_ratio: float = 0.8  # runner-up at >= this share of the best score -> ask which one
    max_candidates: int = 3  # options listed in "which one did you mean?"
    max_chars: int = 200  # messages are cut to this many characters before matching
    fuzzy_min_len: int = 5  # ASCII words this long also match one edit away
    topics_shown: int = 8  # topics listed in the fallback and the greeting
    count_unmatched: bool = True
    unmatched_max: int = 1000  # distinct unmatched questions kept (least asked are dropped)
    unmatched_chars: int = 60  # a stored question is cut to this many characters
    # Results of recent messages, per FAQ version (followers send the same few questions over and
    # over, above all during a promotion); 0 turns the cache off.
    cache_size: int = 4096
    # Thanks and acknowledgements ("谢谢", "好的", "👍"): a short "you're welcome", not "I don't know",
    # and not counted as unanswered questions.
    ack_words: list[str] = ["谢谢", "谢谢你", "谢谢啦", "多谢", "感谢", "感谢感谢", "thanks", "thankyou", "thx", "3q",
                            "好的", "好", "好滴", "好嘞", "行", "可以", "收到", "ok", "okay", "嗯", "嗯嗯", "哦", "哦哦",
                            "明白", "明白了", "知道了", "了解", "懂了", "👍", "🙏", "👌", "[微笑]", "[强]", "[ok]",
                            "[抱拳]", "[玫瑰]", "[握手]", "[胜利]", "[耶]"]

    def options(self) -> MatchOptions:
        return MatchOptions(self.threshold, self.ambiguity_ratio, self.max_candidates, self.max_chars,
                            self.fuzzy_min_len)


def faq_path(config_dir: Path, cfg: FaqConfig) -> Path:
    path = Path(cfg.file)
    return path if path.is_absolute() else Path(config_dir) / path


class UnmatchedStore:
    """Unmatched questions, most frequent first: a sorted set bounded to about ``max_size`` members.

    When it grows past 1.25 × ``max_size`` the least asked are dropped, so a new question has some
    time to collect repeats before it competes with the ones kept.
    """

    def __init__(self, client, max_size: int, chars: int):
        self.redis = client
        self.max_size = max_size
        self.chars = chars
        self.key = keys.faq_unmatched()

    def record(self, text: str) -> str | None:
        member = mask(text, self.chars)
        if not member:
            return None
        pipe = self.redis.pipeline(transaction=False)
        pipe.zincrby(self.key, 1, member)
        pipe.zcard(self.key)
        _, size = pipe.execute()
        if size > self.max_size * 1.25:
            # Drop the least asked, but never the question just counted (ties sort by text, and a
            # new question would otherwise lose to older ones that were asked just as rarely).
            excess = size - self.max_size
            lowest = [m for m in self.redis.zrange(self.key, 0, excess) if m != member][:excess]
            if lowest:
                self.redis.zrem(self.key, *lowest)
        return member

    def top(self, limit: int) -> list[tuple[str, int]]:
        return [(m, int(s)) for m, s in self.redis.zrevrange(self.key, 0, limit - 1, withscores=True)]

    def clear(self) -> None:
        self.redis.delete(self.key)


class FaqBase:
    """The hot-reloaded FAQ of this process, and the one match per message."""

    def __init__(self, services: Services):
        self.services = services
        self.cfg: FaqConfig = services.bot.section("faq")
        options = self.cfg.options()
        self.path = faq_path(services.settings.config_dir, self.cfg)
        self.file: ReloadingFile[Faq] = ReloadingFile(
            self.path, lambda raw: compile_faq(raw, options), services.webhook_cfg.config_reload_interval
        )
        self.unmatched = UnmatchedStore(services.redis, self.cfg.unmatched_max, self.cfg.unmatched_chars)
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
        if owner is not faq:
            match = _cached_match(faq.match, self.cfg.cache_size) if self.cfg.cache_size else faq.match
            self._cached = (faq, match)  # one assignment: threads never see a mismatched pair
        return match

    def result(self, msg: Message, ctx: Ctx) -> Result:
        """Match the message once per request; both routes and the handler share the result."""
        cached = ctx.extra.get(_CACHE)
        if cached is None:
            cached = self.matcher()(msg.text)
            ctx.extra[_CACHE] = cached
        return cached

    def topics(self, ctx: Ctx) -> str:
        faq = self.get()
        sep = ctx.text("faq.topic_separator")
        return sep.join(e.topic for e in faq.topics[: self.cfg.topics_shown])


def _cached_match(plain, size: int):
    cached = functools.lru_cache(size)(plain)

    def match(text: str):
        return cached(text) if len(text) <= _CACHE_CHARS else plain(text)  # bounded memory

    return match


def _count(ctx: Ctx, result: str) -> None:
    """Count a lookup once per message: a WeChat retry re-renders the reply but is not a new question."""
    if ctx.claim is None or not ctx.claim.duplicate:
        metrics.FAQ.labels(result).inc()


def _is_question(msg: Message) -> bool:
    return msg.type in ("text", "voice") and bool(msg.text.strip())


def register(services: Services) -> None:
    base = FaqBase(services)
    services.extensions["faq"] = base

    def feature_match(msg: Message, ctx: Ctx) -> bool:
        if not _is_question(msg):
            return False
        res = base.result(msg, ctx)
        return res.kind == "answer" and res.entry is not None and res.entry.route is not None

    def feature(msg: Message, ctx: Ctx) -> str:
        entry = base.result(msg, ctx).entry
        assert entry is not None and entry.route is not None
        metrics.FAQ.labels("feature").inc()
        intent = services.extensions.get("intents", {}).get(entry.route)
        ctx.detail = f"faq:{entry.id}"
        log.debug("faq entry=%s route=%s intent=%s", entry.id, entry.route, "yes" if intent else "missing")
        if intent is None:
            return entry.answer
        return intent(msg, ctx)

    def answer(msg: Message, ctx: Ctx) -> str:
        res = base.result(msg, ctx)
        if res.kind == "answer" and res.entry is not None:
            _count(ctx, "answered")
            ctx.outcome = "answered"
            ctx.detail = f"faq:{res.entry.id}"  # in the message's log line: one line per message
            return res.entry.answer
        if res.kind == "ambiguous":
            _count(ctx, "ambiguous")
            ctx.outcome = "ambiguous"
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
        _count_unmatched(msg, ctx)
        # The generic fallback (top-level `fallback` text) lists topics and the human contact; it may
        # use {topics} to list faq.yaml's topics instead of a fixed list.
        return ctx.text("fallback", topics=base.topics(ctx))

    def _count_unmatched(msg: Message, ctx: Ctx) -> None:
        # The only side effect of a replayable route: once per delivery, never for a retry.
        if not base.cfg.count_unmatched or ctx.claim is None or ctx.claim.duplicate or not ctx.redis_ok:
            return
        try:
            base.unmatched.record(msg.text)
        except REDIS_ERRORS as exc:
            log.warning("faq unmatched not counted: redis unavailable (%s)", exc.__class__.__name__)
            metrics.REDIS_ERRORS.labels("faq_unmatched").inc()
            ctx.redis_failed()

    services.router.add(Route("faq_feature", feature_match, feature, replayable=False), r.ORDER_FAQ)
    services.router.add(Route("faq", lambda m, c: _is_question(m), answer), r.ORDER_FAQ)


# -- CLI ----------------------------------------------------------------------------------------

@click.group("faq")
def cli() -> None:
    """FAQ knowledge base: lint the file, explain a match, list unmatched questions."""


def _faq_config(obj, config_dir: Path | None) -> tuple[Path, FaqConfig]:
    """The configured faq.yaml and knobs; with ``--config-dir`` no other setting (secret) is needed."""
    from ..cli import exit_on_config_error

    config_dir = config_dir or obj.settings.config_dir
    with exit_on_config_error():
        cfg = load_bot_config(config_dir).section("faq")
    return faq_path(config_dir, cfg), cfg


_config_dir_option = click.option(
    "--config-dir", type=click.Path(file_okay=False, exists=True, path_type=Path),
    help="Read bot.yaml and faq.yaml from here instead of WXBOT_CONFIG_DIR (no other settings needed).")


def _read_yaml(path: Path):
    try:
        with open(path, "rb") as fh:
            return yaml.safe_load(fh)
    except FileNotFoundError:
        click.echo(f"{path}: file not found", err=True)
        raise SystemExit(1) from None
    except yaml.YAMLError as exc:
        click.echo(f"{path}: not valid YAML: {' '.join(str(exc).split())}", err=True)
        raise SystemExit(1) from None


@cli.command("lint")
@click.option("--file", "file_", type=click.Path(dir_okay=False, path_type=Path),
              help="Check this file instead of the configured one.")
@_config_dir_option
@click.pass_obj
def lint_cmd(obj, file_: Path | None, config_dir: Path | None) -> None:
    """Validate faq.yaml: unique ids, answers within 2048 bytes, safe patterns, known topics."""
    path, cfg = _faq_config(obj, config_dir)
    path = file_ or path
    raw = _read_yaml(path)
    problems = lint(raw, cfg.options())
    if problems:
        for line in problems:
            click.echo(f"{path}: {line}", err=True)
        raise SystemExit(1)
    faq = compile_faq(raw, cfg.options())
    click.echo(f"{path}: ok, {len(faq.entries)} entries, version {faq.version}")


@cli.command("match")
@click.argument("text")
@click.option("--top", default=3, show_default=True, help="Runners-up to show.")
@_config_dir_option
@click.pass_obj
def match_cmd(obj, text: str, top: int, config_dir: Path | None) -> None:
    """Show how TEXT is matched: the decision, the chosen entry, its score and the runners-up."""
    path, cfg = _faq_config(obj, config_dir)
    raw = _read_yaml(path)
    problems = lint(raw, cfg.options())
    if problems:
        click.echo(f"{path}: {problems[0]} (run `wxbot faq lint`)", err=True)
        raise SystemExit(1)
    faq = compile_faq(raw, cfg.options())
    res = faq.match(text, explain=True)
    click.echo(f"normalised: {res.text}")
    if res.kind in ("answer", "ambiguous") and res.entry is not None:
        shown = res.entry if res.kind == "answer" else None
        if shown is not None:
            route = f" -> route {shown.route}" if shown.route else ""
            click.echo(f"decision: answer {shown.id} (score {res.score:g}, threshold {cfg.threshold:g}){route}")
        else:
            ids = ", ".join(e.id for e, _ in res.candidates)
            click.echo(f"decision: ambiguous, asks which one: {ids}")
    else:
        click.echo(f"decision: {res.kind} (best score {res.score:g} < threshold {cfg.threshold:g})")
    for rank, (entry, score) in enumerate(res.ranking[: top + 1], 1):
        why = " ".join(res.reasons.get(entry.index, []))
        click.echo(f"  {rank}. {entry.id:<20} score {score:<7g} topic {entry.topic}  [{why}]")
    if not res.ranking:
        click.echo("  (no entry matched any rule)")


@cli.command("unmatched")
@click.option("--limit", default=30, show_default=True, help="How many to list.")
@click.option("--clear", is_flag=True, help="Forget the list after showing it.")
@click.pass_obj
def unmatched_cmd(obj, limit: int, clear: bool) -> None:
    """List questions the FAQ did not answer, most frequent first (masked, normalised)."""
    from ..cli import redis_errors_exit

    services = obj.services
    base: FaqBase = services.extensions["faq"]
    with redis_errors_exit():
        rows = base.unmatched.top(limit)
        if not rows:
            click.echo("no unmatched questions recorded")
        for member, count in rows:
            click.echo(f"{count:>6}  {member}")
        if clear:
            base.unmatched.clear()
            click.echo("cleared")
