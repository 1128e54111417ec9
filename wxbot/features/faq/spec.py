"""The format of ``faq.yaml``, validated (pydantic), and the matching knobs from ``bot.yaml``.

Patterns are checked here for constructs that backtrack catastrophically; the matcher runs them on
input capped at ``max_chars`` characters, so one bad pattern cannot stall the webhook.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from ...textnorm import TEXT_LIMIT

ANSWER_LIMIT = TEXT_LIMIT  # WeChat's limit for a passive text reply
PATTERN_MAX_LEN = 300
ROUTES = ("password", "tickets")

# -- pattern safety --------------------------------------------------------------------------

try:  # Python 3.11+
    from re import _constants as _sre_c  # type: ignore[attr-defined]
    from re import _parser as _sre_p
except ImportError:  # pragma: no cover
    import sre_constants as _sre_c  # type: ignore[no-redef]
    import sre_parse as _sre_p  # type: ignore[no-redef]

_REPEATS = {_sre_c.MAX_REPEAT, _sre_c.MIN_REPEAT}
if hasattr(_sre_c, "POSSESSIVE_REPEAT"):
    _REPEATS.add(_sre_c.POSSESSIVE_REPEAT)


def _walk(items, in_repeat: bool) -> str | None:
    for op, av in items:
        if op in _REPEATS:
            lo, hi, sub = av
            if hi > 1 and in_repeat:
                return "嵌套的重复（例如 (a+)+）可能让匹配卡死"
            if hi == _sre_c.MAXREPEAT and any(o == _sre_c.BRANCH for o, _ in _flatten(sub)):
                return "对“或”分支的无限重复（例如 (a|ab)*）可能让匹配卡死"
            problem = _walk(sub, in_repeat or hi > 1)
            if problem:
                return problem
        elif op in (_sre_c.GROUPREF, getattr(_sre_c, "GROUPREF_EXISTS", None)):
            return "不能用反向引用"
        elif op == _sre_c.SUBPATTERN:
            problem = _walk(av[-1], in_repeat)
            if problem:
                return problem
        elif op == _sre_c.BRANCH:
            for branch in av[1]:
                problem = _walk(branch, in_repeat)
                if problem:
                    return problem
        elif op in (_sre_c.ASSERT, _sre_c.ASSERT_NOT):
            problem = _walk(av[1], in_repeat)
            if problem:
                return problem
    return None


def _flatten(items):
    for op, av in items:
        yield op, av
        if op == _sre_c.SUBPATTERN:
            yield from _flatten(av[-1])


def pattern_problem(pattern: str) -> str | None:
    """Why ``pattern`` is unsafe or invalid, or None. Patterns run on normalised text (no spaces or
    punctuation) capped at ``max_chars``; nested or alternating unbounded repeats are refused."""
    if len(pattern) > PATTERN_MAX_LEN:
        return f"超过 {PATTERN_MAX_LEN} 个字符"
    try:
        parsed = _sre_p.parse(pattern)
    except re.error as exc:
        return f"不是有效的正则表达式：{exc}"
    return _walk(parsed, False)


# -- file format -----------------------------------------------------------------------------

class EntrySpec(BaseModel):
    """One FAQ entry as written in ``faq.yaml``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9_]{0,47}$")
    topic: str = Field(min_length=1, max_length=20)  # keyword a follower can send; an exact rule too
    question: str = Field(min_length=1)
    answer: str = Field(min_length=1)
    exact: list[str] = []
    contains: list[str] = []
    keywords: dict[str, float] = {}
    patterns: list[str] = []
    priority: int = 0
    route: Literal["password", "tickets"] | None = None
    # Similar questions (相似问法) in followers' words; a message is ranked against them (retrieval).
    examples: list[str] = []

    @field_validator("answer")
    @classmethod
    def _answer_fits(cls, value: str) -> str:
        value = value.strip("\n")
        size = len(value.encode("utf-8"))
        if size > ANSWER_LIMIT:
            raise ValueError(f"答案有 {size} 字节（UTF-8），微信最多 {ANSWER_LIMIT} 字节")
        return value

    @field_validator("patterns")
    @classmethod
    def _patterns_safe(cls, value: list[str]) -> list[str]:
        for pattern in value:
            problem = pattern_problem(pattern)
            if problem:
                raise ValueError(f"正则 {pattern!r}：{problem}")
        return value


class RetrievalSpec(BaseModel):
    """How the example questions count (``retrieval:`` in ``faq.yaml``); calibrated on the tune set."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    weight: float = Field(5.0, ge=0)  # an entry gains weight × confidence of its best example
    min_confidence: float = Field(0.3, ge=0, le=1)  # below this an example adds nothing
    clause_factor: float = Field(0.95, ge=0, le=1)  # a question clause of a long message, vs the whole
    long_units: int = Field(40, ge=8, le=200)  # longer messages are scored by their question clauses
    pinyin_weight: float = Field(0.8, ge=0, le=1)  # a homophone-only match, vs the same characters
    unigram_weight: float = Field(0.3, ge=0, le=1)  # single CJK characters, vs two-unit n-grams
    doc_weight: float = Field(0.3, ge=0, le=2)  # how much covering little of a long example costs
    # the linear classifier beside BM25 (classifier.py): an entry gains weight x the larger of its
    # best example's confidence and the classifier's, when the classifier's is >= classifier_floor
    classifier: bool = True
    classifier_floor: float = Field(0.75, ge=0, le=1)
    classifier_min_units: int = Field(7, ge=1)  # shorter messages are left to the rules and BM25 ("收到", "用支付宝付的")
    k1: float = Field(1.2, gt=0)
    b: float = Field(0.75, ge=0, le=1)


class FaqSpec(BaseModel):
    """The whole ``faq.yaml``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    # English (and pinyin) words -> the FAQ's canonical word, matched on whole ASCII words only
    glosses: dict[str, list[str]] = {}
    # Cantonese words -> Mandarin (after traditional -> simplified), like synonyms; never a homophone target
    cantonese: dict[str, list[str]] = {}
    noise: list[str] = []  # fillers and pleasantries ignored by the retrieval anywhere in a message
    # other products and services (显卡, 路由器, 火车票): a message about one is not this FAQ's, unless a
    # whole-message rule (exact) says so
    elsewhere: list[str] = []
    # this seller's own products (gpt, nextchat, 公益版): a message naming one is about them, whatever
    # other product or service it also names ("酒店wifi连不上外网，gpt-4o还能用吗")
    ours: list[str] = []
    question_cues: list[str] = ["吗", "么", "嘛", "呢", "怎", "咋", "如何", "多少", "哪", "什么", "啥", "能不能", "可不可以",
                                "是不是", "有没有", "会不会", "要不要", "几", "多久", "多长"]
    retrieval: RetrievalSpec = RetrievalSpec()

    topics: list[str] = []  # entry ids listed in the fallback and the greeting, most asked first
    greetings: list[str] = []
    fillers: list[str] = []  # words ignored around an exact phrase: 请问, 吗, 呢...
    synonyms: dict[str, list[str]] = {}  # canonical word -> variants followers write
    contains_weight: float = 3.0
    pattern_weight: float = 3.0
    entries: list[EntrySpec] = Field(min_length=1)


@dataclass(frozen=True, slots=True)
class MatchOptions:
    """Knobs from ``bot.yaml`` (section ``faq``) that compile into the matcher."""

    threshold: float = 2.5
    ambiguity_ratio: float = 0.8
    # from ask_threshold up to threshold: ask "which one did you mean?" instead of the fallback (None: never)
    ask_threshold: float | None = None
    max_candidates: int = 3
    max_chars: int = 200
    fuzzy_min_len: int = 5
