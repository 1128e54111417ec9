"""FAQ knowledge base: normaliser, loader/validator and matcher (no Flask, no Redis).

Matching is keyword-based over the FAQ's own vocabulary, which for short colloquial Chinese works
better than a general-purpose segmenter and costs microseconds:

1. Normalise: NFKC (full width -> half width), lower case, traditional -> simplified (a per-character
   table built once from opencc-python-reimplemented's own ``TSCharacters`` dictionary), drop
   punctuation and spaces (a ``.`` between digits is kept: ``3.5``), cap the length.
2. Canonicalise synonyms (``梯子``/``vpn``/``翻墙`` -> ``魔法``), leftmost-longest, with one dictionary
   scan; ASCII words also match a vocabulary word one edit away (``librechta`` -> ``librechat``).
3. Score every entry: an ``exact`` phrase equal to the whole message (after fillers like 请问…吗) wins
   outright, like the MP console's 全匹配; each ``contains`` phrase (半匹配) and weighted ``keyword``
   present adds its weight once; each ``pattern`` that matches adds its weight.
4. Decide: best score below ``threshold`` -> no answer; the runner-up within ``ambiguity_ratio`` of it
   (and of equal ``priority``) -> ask which one was meant; otherwise answer the best entry.

Everything is precomputed per FAQ version in ``compile_faq``; nothing is compiled per request.
Patterns are checked at load for constructs that backtrack catastrophically, and run on input capped
at ``max_chars`` characters, so one bad pattern cannot stall the webhook.
"""
from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from ...textnorm import ASCII_ALNUM as _ASCII_ALNUM
from ...textnorm import TEXT_LIMIT, fold, normalise, prepare

ANSWER_LIMIT = TEXT_LIMIT  # WeChat's limit for a passive text reply
PATTERN_MAX_LEN = 300
ROUTES = ("password", "tickets")

# -- masking ---------------------------------------------------------------------------------

_MASKS = (
    (re.compile(r"sk-[a-z0-9_\-]{4,}"), "«key»"),
    (re.compile(r"[\w.+-]+@[\w-]+\.[\w.]+"), "«email»"),
    (re.compile(r"(?<!\d)(?:\+?86[ -]?)?1[3-9]\d(?:[ -]?\d{4}){2}(?!\d)"), "«phone»"),
    (re.compile(r"(?<![a-z0-9])(?=[a-z0-9]*\d{6})[a-z0-9]{8,}(?![a-z0-9])"), "«order»"),
)
_MASK_DROP_RE = re.compile(r"[^\w«»]+|_+")


def mask(text: str, max_chars: int = 60) -> str:
    """Normalised text with API keys, e-mails, phone and order numbers replaced by «key» etc.

    Used for the unmatched-question log: no secret or personal number is ever stored.
    """
    text = fold(text[:2000])
    for regex, repl in _MASKS:
        text = regex.sub(repl, text)
    return _MASK_DROP_RE.sub("", text)[:max_chars]


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
                return "nested quantifier (e.g. (a+)+) can backtrack catastrophically"
            if hi == _sre_c.MAXREPEAT and any(o == _sre_c.BRANCH for o, _ in _flatten(sub)):
                return "unbounded repeat of an alternation (e.g. (a|ab)*) can backtrack catastrophically"
            problem = _walk(sub, in_repeat or hi > 1)
            if problem:
                return problem
        elif op in (_sre_c.GROUPREF, getattr(_sre_c, "GROUPREF_EXISTS", None)):
            return "backreferences are not allowed"
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
        return f"longer than {PATTERN_MAX_LEN} characters"
    try:
        parsed = _sre_p.parse(pattern)
    except re.error as exc:
        return f"invalid regex: {exc}"
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
            raise ValueError(f"answer is {size} bytes of UTF-8; WeChat's limit is {ANSWER_LIMIT}")
        return value

    @field_validator("patterns")
    @classmethod
    def _patterns_safe(cls, value: list[str]) -> list[str]:
        for pattern in value:
            problem = pattern_problem(pattern)
            if problem:
                raise ValueError(f"pattern {pattern!r}: {problem}")
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
    k1: float = Field(1.2, gt=0)
    b: float = Field(0.75, ge=0, le=1)


class FaqSpec(BaseModel):
    """The whole ``faq.yaml``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    # English (and pinyin) words -> the FAQ's canonical word, matched on whole ASCII words only
    glosses: dict[str, list[str]] = {}
    noise: list[str] = []  # fillers and pleasantries ignored by the retrieval anywhere in a message
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
    max_candidates: int = 3
    max_chars: int = 200
    fuzzy_min_len: int = 5


# -- compiled matcher ------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Entry:
    index: int
    id: str
    topic: str
    question: str
    answer: str
    priority: int
    route: str | None


@dataclass(frozen=True, slots=True)
class Result:
    """The outcome for one message: ``answer``, ``ambiguous``, ``greeting``, ``none`` or ``empty``."""

    kind: str
    text: str  # the normalised message
    entry: Entry | None = None
    score: float = 0.0
    candidates: list[tuple[Entry, float]] = field(default_factory=list)  # best first
    reasons: dict[int, list[str]] = field(default_factory=dict)  # entry index -> what matched (explain)
    ranking: list[tuple[Entry, float]] = field(default_factory=list)  # every scored entry (explain)

    @property
    def answered(self) -> bool:
        return self.kind == "answer"


_EXACT = 1_000.0


class Faq:
    """A compiled FAQ version: entries plus the precomputed structures the matcher scans."""

    def __init__(self, spec: FaqSpec, options: MatchOptions, teachings: dict[str, list[str]] | None = None):
        self.spec = spec
        self.options = options
        self.entries = [Entry(i, e.id, e.topic, e.question, e.answer, e.priority, e.route)
                        for i, e in enumerate(spec.entries)]
        self.by_id = {e.id: e for e in self.entries}
        if len(self.by_id) != len(self.entries):
            seen: set[str] = set()
            dup = next(e.id for e in self.entries if e.id in seen or seen.add(e.id))  # type: ignore[func-returns-value]
            raise ValueError(f"entries: duplicate id {dup!r}")
        for tid in spec.topics:
            if tid not in self.by_id:
                raise ValueError(f"topics: unknown entry id {tid!r}")
        self.topics = [self.by_id[t] for t in spec.topics]
        mc = options.max_chars

        # Synonyms: variant -> canonical, scanned leftmost-longest.
        syn: dict[str, str] = {}
        for canon, variants in [*spec.synonyms.items(), *spec.glosses.items()]:
            c = normalise(canon, mc)
            for v in variants:
                nv = normalise(v, mc)
                if not nv or nv == c:
                    continue
                if syn.get(nv, c) != c:
                    raise ValueError(f"synonyms/glosses: {v!r} is a variant of both {syn[nv]!r} and {c!r}")
                syn[nv] = c
        self._syn = syn
        self._syn_lens = _lengths_by_first(syn)

        # Fillers around exact phrases, and greetings.
        fillers = sorted({self._canon(f) for f in spec.fillers if f.strip()}, key=len, reverse=True)
        self._filler_re = (re.compile("^(?:%s)+|(?:%s)+$" % ((("|".join(map(re.escape, fillers))),) * 2))
                           if fillers else None)
        self._greetings = {self._canon(g): True for g in spec.greetings if normalise(g, mc)}
        self._greet_lens = _lengths_by_first(self._greetings)
        self._greet_rest = set(fillers) | set("啊呀呢吗嘛么哦噢喔吖哈啦~")

        # Vocabulary: phrase -> [(entry index, weight, label)].
        exact: dict[str, list[int]] = {}
        vocab: dict[str, list[tuple[int, float]]] = {}
        patterns: list[tuple[int, re.Pattern[str], str]] = []
        for entry, e in zip(self.entries, spec.entries):
            for phrase in [e.topic, *e.exact]:
                p = self._strip_fillers(self._canon(phrase))
                if not p:
                    raise ValueError(f"entry {e.id}: exact phrase {phrase!r} is empty after normalising")
                owners = exact.setdefault(p, [])
                if owners and entry.index not in owners:
                    other = self.entries[owners[0]].id
                    raise ValueError(f"entry {e.id}: exact phrase {phrase!r} already belongs to {other}")
                owners.append(entry.index)
            weights: dict[str, float] = {}
            for phrase in e.contains:
                p = self._canon(phrase)
                if p:
                    weights[p] = max(weights.get(p, 0.0), spec.contains_weight)
            for phrase, w in e.keywords.items():
                p = self._canon(phrase)
                if p:
                    weights[p] = max(weights.get(p, 0.0), float(w))
            for p, w in weights.items():
                vocab.setdefault(p, []).append((entry.index, w))
            for pattern in e.patterns:
                patterns.append((entry.index, re.compile(pattern), pattern))
        self._exact = {p: owners[0] for p, owners in exact.items()}
        self._vocab = vocab
        self._vocab_lens = _lengths_by_first(vocab)
        self._patterns = patterns

        # ASCII words one edit away (symmetric deletes): "librechta" -> "librechat".
        fuzzy: dict[str, set[str]] = {}
        for word in {w for w in (*vocab, *syn) if w.isascii() and w.isalnum()}:
            if len(word) >= options.fuzzy_min_len:
                for variant in _deletes(word):
                    fuzzy.setdefault(variant, set()).add(word)
        self._fuzzy = {k: sorted(v) for k, v in fuzzy.items()}
        self._ascii_re = re.compile(r"[a-z0-9.]+")

        # Retrieval over the example questions (and each entry's own question).
        noise = sorted({self._canon(w) for w in spec.noise} - {""}, key=len, reverse=True)
        self._noise_re = (re.compile("|".join(
            (r"(?<![a-z0-9])%s(?![a-z0-9])" % re.escape(w)) if w[0] in _ASCII_ALNUM or w[-1] in _ASCII_ALNUM
            else re.escape(w) for w in noise)) if noise else None)
        self._cue_re = re.compile("|".join(map(re.escape, spec.question_cues))) if spec.question_cues else None
        rs = spec.retrieval
        self._index = None
        taught = self.taught = {k: tuple(v) for k, v in (teachings or {}).items() if k in self.by_id and v}
        if rs.weight > 0 and (taught or any(e.examples for e in spec.entries)):
            from .pinyin import vocabulary_table
            from .retrieval import Index, RetrievalOptions

            owners: list[int] = []
            marked: list[str] = []
            for entry, e in zip(self.entries, spec.entries):
                for example in (e.question, *e.examples, *taught.get(e.id, ())):
                    text = self._marked(*self._scan(*prepare(example, mc)))
                    if text.strip("|\n "):
                        owners.append(entry.index)
                        marked.append(text)
            # rule phrases first: their polyphones are the FAQ's own vocabulary
            table = vocabulary_table([*vocab, *syn, *(m.replace("|", "").replace("\n", "") for m in marked)])
            self._index = Index(owners, (_UNIT_RE.findall(m) for m in marked), table,
                                RetrievalOptions(rs.k1, rs.b, rs.unigram_weight, rs.pinyin_weight, rs.doc_weight))
        # A taught phrasing is also a whole-message rule of its entry, unless a rule of the file
        # already owns it (`wxbot faq teach` refuses those); a later teaching of the same phrasing wins.
        self.taught_exact: set[str] = set()
        file_exact = set(self._exact)
        for entry_id, texts in taught.items():
            for text in texts:
                p = self._strip_fillers(self._canon(text))
                if p and p not in file_exact:
                    self._exact[p] = self.by_id[entry_id].index
                    self.taught_exact.add(p)
        digest = hashlib.sha256(spec.model_dump_json().encode())
        for entry_id in sorted(taught):
            digest.update(repr((entry_id, taught[entry_id])).encode())
        self.version = digest.hexdigest()[:12]

    def exact_owner(self, text: str) -> str | None:
        """The id of the entry whose whole-message rule in faq.yaml ``text`` is (not a teaching), or None."""
        p = self._strip_fillers(self._canon(text))
        idx = None if p in self.taught_exact else self._exact.get(p)
        return None if idx is None else self.entries[idx].id

    # -- pieces ---------------------------------------------------------------------------

    def _canon(self, text: str) -> str:
        """Normalise and replace synonym variants by their canonical word."""
        return self._scan(*prepare(text, self.options.max_chars))[0]

    def _synonyms(self, text: str) -> str:
        return self._scan(text, frozenset(), frozenset())[0]

    def _scan(self, text: str, bounds: frozenset[int], breaks: frozenset[int]):
        """Synonym/gloss variants -> canonical words, leftmost-longest, ASCII variants on whole words;
        ``bounds`` and ``breaks`` are moved along with the text."""
        syn, lens = self._syn, self._syn_lens
        if not syn:
            return text, bounds, breaks
        out: list[str] = []
        reps: list[tuple[int, int, int]] = []  # (start, end, new length)
        i, n, start = 0, len(text), 0
        while i < n:
            ls = lens.get(text[i])
            if ls:
                for length in ls:
                    canon = syn.get(text[i:i + length])
                    if canon is not None and _whole(text, i, i + length, bounds):
                        out.append(text[start:i])
                        out.append(canon)
                        reps.append((i, i + length, len(canon)))
                        i += length
                        start = i
                        break
                else:
                    i += 1
            else:
                i += 1
        if not out:
            return text, bounds, breaks
        out.append(text[start:])
        return "".join(out), _moved(bounds, reps, True), _moved(breaks, reps, False)

    def _marked(self, text: str, bounds: frozenset[int], breaks: frozenset[int]) -> str:
        """The text with " " at ASCII word bounds, "\n" at clause breaks and "|" for noise words."""
        if bounds or breaks:
            pieces, last = [], 0
            for pos in sorted(bounds | breaks):
                pieces.append(text[last:pos])
                pieces.append("\n" if pos in breaks else " ")
                last = pos
            pieces.append(text[last:])
            text = "".join(pieces)
        if self._noise_re is not None:
            text = self._noise_re.sub("|", text)
        return text

    def _retrieve(self, text: str, bounds: frozenset[int], breaks: frozenset[int], floor: float) -> dict[int, float]:
        """Entry index -> confidence of its best example (>= ``floor``).

        A short message is scored whole. A long one (more than ``long_units`` units) is scored by the
        clauses that ask something (the last two with a question cue, else the last clause), each cut
        to its last ``long_units`` units: the question of a long message comes last, and scoring the
        whole of it would cost more and dilute the match with the context.
        """
        index = self._index
        assert index is not None
        rs = self.spec.retrieval
        marked = self._marked(text, bounds, breaks)
        units = _UNIT_RE.findall(marked)
        cap = rs.long_units
        if len(units) <= cap:
            return index.score(units, floor)
        clauses = [c for c in marked.split("\n") if c.strip("| ")]
        cue = self._cue_re
        picks = [c for c in clauses if cue is not None and cue.search(c)][-2:] or clauses[-1:]
        cov: dict[int, float] = {}
        factor = rs.clause_factor
        for clause in picks:
            cu = _UNIT_RE.findall(clause)[-cap:]
            if len(cu) < 3:
                continue
            for e, v in index.score(cu, floor / factor if factor else floor).items():
                v *= factor
                if v > cov.get(e, 0.0):
                    cov[e] = v
        return cov

    def _rules(self, text: str, bounds: frozenset[int], scores: dict[int, float],
               reasons: dict[int, list[str]] | None) -> None:
        """Add the contains/keyword and pattern scores of ``text`` to ``scores``."""
        per_entry: dict[int, list[tuple[str, float]]] = {}
        for phrase in self._hits(text, bounds):
            for i, w in self._vocab[phrase]:
                per_entry.setdefault(i, []).append((phrase, w))
        for i, hits in per_entry.items():
            if len(hits) > 1:
                # Within one entry the longest phrase wins: 购买地址 does not also count 购买 and 地址.
                hits = [(p, w) for p, w in hits if not any(p != q and p in q for q, _ in hits)]
            scores[i] = scores.get(i, 0.0) + sum(w for _, w in hits)
            if reasons is not None:
                reasons.setdefault(i, []).extend(f"{p}+{w:g}" for p, w in hits)
        if self._patterns:
            pw = self.spec.pattern_weight
            for i, regex, source in self._patterns:
                if regex.search(text):
                    scores[i] = scores.get(i, 0.0) + pw
                    if reasons is not None:
                        reasons.setdefault(i, []).append(f"/{source}/+{pw:g}")

    def _clause_winners(self, text: str, bounds: frozenset[int], breaks: frozenset[int]) -> list[int]:
        """The best entry (by the rules) of each clause that asks something, when two or more such
        clauses ask about different entries ("能开票吗 可以对公吗"); else []."""
        cue = self._cue_re
        if cue is None:
            return []
        winners: list[int] = []
        cuts = [0, *sorted(breaks), len(text)]
        for start, end in zip(cuts, cuts[1:]):
            clause = text[start:end]
            if len(clause) < 2 or not cue.search(clause):
                continue
            scores: dict[int, float] = {}
            idx = self._exact.get(self._strip_fillers(clause))
            if idx is not None:
                scores[idx] = _EXACT
            self._rules(clause, frozenset(b - start for b in bounds if start < b < end), scores, None)
            if scores:
                i, s = max(scores.items(), key=lambda kv: kv[1])
                if s >= self.options.threshold and i not in winners:
                    winners.append(i)
        return winners if len(winners) > 1 else []

    def _strip_fillers(self, text: str) -> str:
        if self._filler_re is None:
            return text
        stripped = self._filler_re.sub("", text)
        return stripped or text

    def _hits(self, text: str, bounds: frozenset[int] = frozenset()) -> set[str]:
        vocab, lens = self._vocab, self._vocab_lens
        found: set[str] = set()
        for i in range(len(text)):
            ls = lens.get(text[i])
            if ls:
                for length in ls:
                    p = text[i:i + length]
                    if p in vocab and _whole(text, i, i + length, bounds):
                        found.add(p)
        if self._fuzzy:
            for word in _ascii_words(self._ascii_re, text, bounds):
                if len(word) >= self.options.fuzzy_min_len and word not in vocab:
                    for variant in (word, *_deletes(word)):
                        for target in self._fuzzy.get(variant, ()):
                            if target in vocab and target not in text:
                                found.add(target)
        return found

    def _is_greeting(self, text: str) -> bool:
        greetings, lens = self._greetings, self._greet_lens
        i, n, seen = 0, len(text), False
        while i < n:
            for length in lens.get(text[i], ()):
                if text[i:i + length] in greetings:
                    i += length
                    seen = True
                    break
            else:
                if text[i] not in self._greet_rest:
                    return False
                i += 1
        return seen

    # -- the matcher ----------------------------------------------------------------------

    def match(self, raw_text: str, explain: bool = False) -> Result:
        opts = self.options
        text, bounds, breaks = self._scan(*prepare(raw_text, opts.max_chars))
        if not text:
            return Result("empty", text)
        core = self._strip_fillers(text)
        idx = self._exact.get(core)
        if idx is None:
            idx = self._exact.get(text)
        scores: dict[int, float] = {}
        reasons: dict[int, list[str]] = {}
        if idx is not None:
            scores[idx] = _EXACT
            if explain:
                reasons[idx] = [f"exact:{core}"]
        self._rules(text, bounds, scores, reasons if explain else None)
        if self._index is not None:
            rs = self.spec.retrieval
            for i, c in self._retrieve(text, bounds, breaks, rs.min_confidence).items():
                if c >= rs.min_confidence:
                    scores[i] = scores.get(i, 0.0) + rs.weight * c
                    if explain:
                        reasons.setdefault(i, []).append(f"similar:{c:.2f}+{rs.weight * c:.2f}")
        entries = self.entries
        ranked = sorted(scores.items(), key=lambda kv: (-kv[1], -entries[kv[0]].priority, kv[0]))
        cands = [(entries[i], s) for i, s in ranked[: max(opts.max_candidates, 3)]]
        ranking = [(entries[i], s) for i, s in ranked] if explain else []
        if not ranked or ranked[0][1] < opts.threshold:
            kind = "greeting" if self._is_greeting(text) else "none"
            return Result(kind, text, None, ranked[0][1] if ranked else 0.0, cands, reasons, ranking)
        best, best_score = entries[ranked[0][0]], ranked[0][1]
        if best_score < _EXACT and breaks:
            # Two questions about different entries: ask which one, unless one has the top priority.
            winners = self._clause_winners(text, bounds, breaks)
            if winners:
                top = max(entries[i].priority for i in winners)
                winners = [i for i in winners if entries[i].priority == top]
                if len(winners) > 1:
                    options = sorted(((entries[i], scores.get(i, 0.0)) for i in winners), key=lambda es: -es[1])
                    options = options[: opts.max_candidates]
                    return Result("ambiguous", text, options[0][0], options[0][1], options, reasons, ranking)
                best, best_score = entries[winners[0]], scores.get(winners[0], 0.0)
                return Result("answer", text, best, best_score, cands, reasons, ranking)
        if best_score < _EXACT:
            close = [(entries[i], s) for i, s in ranked
                     if s >= opts.threshold and s >= best_score * opts.ambiguity_ratio]
            if len(close) > 1:
                # A close call: the one entry with the highest priority wins it; otherwise ask.
                top = max(e.priority for e, _ in close)
                close = [(e, s) for e, s in close if e.priority == top]
                if len(close) > 1:
                    options = close[: opts.max_candidates]
                    return Result("ambiguous", text, options[0][0], options[0][1], options, reasons, ranking)
                best, best_score = close[0]
        return Result("answer", text, best, best_score, cands, reasons, ranking)


_UNIT_RE = re.compile(r"[a-z]+|[0-9.]+|[^ ]")


def _whole(text: str, i: int, j: int, bounds: frozenset[int]) -> bool:
    """text[i:j] does not start or end inside an ASCII word (a CJK neighbour is a boundary, and so is
    a change between letters and digits: "3.5" is a word of "gpt3.5turbo", "word" none of "password")."""
    if i > 0 and i not in bounds:
        a, b = text[i - 1], text[i]
        if a in _ASCII_ALNUM and b in _ASCII_ALNUM and a.isdigit() == b.isdigit():
            return False
    if j < len(text) and j not in bounds:
        a, b = text[j - 1], text[j]
        if a in _ASCII_ALNUM and b in _ASCII_ALNUM and a.isdigit() == b.isdigit():
            return False
    return True


def _ascii_words(regex: re.Pattern[str], text: str, bounds: frozenset[int]) -> list[str]:
    if not bounds:
        return regex.findall(text)
    words = []
    for m in regex.finditer(text):
        last = m.start()
        for pos in sorted(b for b in bounds if m.start() < b < m.end()):
            words.append(text[last:pos])
            last = pos
        words.append(text[last:m.end()])
    return words


def _moved(positions: frozenset[int], reps: list[tuple[int, int, int]], edges: bool) -> frozenset[int]:
    """Positions after replacing text[start:end] by ``new`` characters for each (start, end, new)."""
    out: set[int] = set()
    for p in positions:
        delta = 0
        for start, end, new in reps:
            if end <= p:
                delta += new - (end - start)
            elif start < p:
                p = -1
                break
        if p >= 0:
            out.add(p + delta)
    if edges:
        delta = 0
        for start, end, new in reps:
            out.add(start + delta)
            delta += new - (end - start)
            out.add(end + delta)
    return frozenset(out)


def _lengths_by_first(words) -> dict[str, tuple[int, ...]]:
    by_first: dict[str, set[int]] = {}
    for w in words:
        if w:
            by_first.setdefault(w[0], set()).add(len(w))
    return {c: tuple(sorted(ls, reverse=True)) for c, ls in by_first.items()}


def _deletes(word: str) -> list[str]:
    return [word[:i] + word[i + 1:] for i in range(len(word))]


def compile_faq(raw: Any, options: MatchOptions | None = None, teachings: dict[str, list[str]] | None = None) -> Faq:
    """Validate the parsed YAML and build the matcher, with ``teachings`` (entry id -> phrasings
    taught in Redis) added to the entries' examples; ValueError/ValidationError on any problem."""
    if raw is None:
        raise ValueError("file is missing or empty")
    if not isinstance(raw, dict):
        raise ValueError("top level must be a mapping with 'entries'")
    spec = FaqSpec.model_validate(raw)
    return Faq(spec, options or MatchOptions(), teachings)


def lint(raw: Any, options: MatchOptions | None = None) -> list[str]:
    """Every problem in a parsed ``faq.yaml`` (empty when it is good), one line each."""
    problems: list[str] = []
    if not isinstance(raw, dict):
        return ["top level must be a mapping with 'entries'"]
    try:
        spec = FaqSpec.model_validate(raw)
    except ValidationError as exc:
        for err in exc.errors():
            loc = list(err["loc"])
            if len(loc) >= 2 and loc[0] == "entries" and isinstance(loc[1], int):
                entries = raw.get("entries") or []
                ident = entries[loc[1]].get("id", loc[1]) if isinstance(entries[loc[1]], dict) else loc[1]
                loc[1] = ident
            problems.append(f"{'.'.join(str(p) for p in loc)}: {err['msg']}")
        return problems
    ids: dict[str, int] = {}
    for e in spec.entries:
        ids[e.id] = ids.get(e.id, 0) + 1
    problems += [f"entries: duplicate id {i!r}" for i, n in ids.items() if n > 1]
    if problems:
        return problems
    try:
        Faq(spec, options or MatchOptions())
    except (ValueError, re.error) as exc:
        problems.append(str(exc))
    return problems


# -- evaluation ------------------------------------------------------------------------------

@dataclass
class Evaluation:
    """Scores of a labelled set (``tests/data/faq_eval_*.yaml``) against one FAQ version."""

    on_topic: int = 0
    top1: int = 0
    ambiguous: int = 0  # "which one did you mean?": not top-1, reported on its own
    ambiguous_with_right: int = 0  # ... of which the right entry was among the options
    off_topic: int = 0
    off_topic_answered: int = 0
    off_topic_ambiguous: int = 0
    greetings: int = 0
    greetings_recognised: int = 0
    misses: list[tuple[str, str, str]] = field(default_factory=list)  # (text, expected, got)

    @property
    def top1_rate(self) -> float:
        return self.top1 / self.on_topic if self.on_topic else 0.0

    def summary(self) -> str:
        return (f"top-1 {self.top1}/{self.on_topic} ({self.top1_rate:.1%}), "
                f"ambiguous {self.ambiguous} ({self.ambiguous_with_right} with the right entry listed), "
                f"off-topic answered {self.off_topic_answered}/{self.off_topic} "
                f"(+{self.off_topic_ambiguous} asked which one), "
                f"greetings {self.greetings_recognised}/{self.greetings}")


def evaluate(faq: Faq, labelled: dict) -> Evaluation:
    ev = Evaluation()
    for expected, messages in (labelled.get("on_topic") or {}).items():
        for text in messages:
            r = faq.match(str(text))
            ev.on_topic += 1
            if r.kind == "answer" and r.entry is not None and r.entry.id == expected:
                ev.top1 += 1
                continue
            if r.kind == "ambiguous":
                ev.ambiguous += 1
                if any(e.id == expected for e, _ in r.candidates):
                    ev.ambiguous_with_right += 1
                got = "ambiguous:" + "/".join(e.id for e, _ in r.candidates)
            else:
                got = r.entry.id if r.kind == "answer" and r.entry else r.kind
            ev.misses.append((text, expected, got))
    for text in labelled.get("off_topic") or []:
        r = faq.match(str(text))
        ev.off_topic += 1
        if r.kind == "answer":
            ev.off_topic_answered += 1
            ev.misses.append((text, "off_topic", r.entry.id if r.entry else "?"))
        elif r.kind == "ambiguous":
            ev.off_topic_ambiguous += 1
            ev.misses.append((text, "off_topic", "ambiguous"))
    for text in labelled.get("greeting") or []:
        r = faq.match(str(text))
        ev.greetings += 1
        if r.kind == "greeting":
            ev.greetings_recognised += 1
        else:
            ev.misses.append((text, "greeting", r.entry.id if r.entry else r.kind))
    return ev


# -- styled evaluation (``wxbot faq eval``) ----------------------------------------------------

@dataclass
class Tally:
    right: int = 0
    wrong: int = 0
    asked: int = 0  # "which one did you mean?"
    fallback: int = 0

    @property
    def total(self) -> int:
        return self.right + self.wrong + self.asked + self.fallback

    def add(self, outcome: str) -> None:
        setattr(self, outcome, getattr(self, outcome) + 1)

    def line(self) -> str:
        t = self.total or 1
        return (f"{self.right}/{self.total} right ({self.right / t:.1%}), wrong {self.wrong}, "
                f"asked {self.asked}, fallback {self.fallback}")


@dataclass
class SetReport:
    """A labelled set scored through the routes (password, tickets, then the FAQ)."""

    overall: Tally = field(default_factory=Tally)
    by_entry: dict[str, Tally] = field(default_factory=dict)
    by_style: dict[str, Tally] = field(default_factory=dict)
    confusion: dict[tuple[str, str], int] = field(default_factory=dict)  # (expected, got) -> count
    password: Tally = field(default_factory=Tally)
    order_reports: Tally = field(default_factory=Tally)
    off_topic: Tally = field(default_factory=Tally)  # right = not answered with a fact
    misses: list[tuple[str, str, str, str]] = field(default_factory=list)  # (style, text, expected, got)


def _items(raw) -> list[tuple[str, str]]:
    out = []
    for item in raw or []:
        if isinstance(item, dict):
            out.append((str(item.get("text", "")), str(item.get("style") or "unstyled")))
        else:
            out.append((str(item), "unstyled"))
    return out


def evaluate_set(faq: Faq, data: dict, pre=None) -> SetReport:
    """Score ``data`` ({on_topic: {id: [text | {text, style}]}, password, order_reports, off_topic}).

    ``pre(text)`` names the route that takes a message before the FAQ ("password", "tickets") or
    returns None, as the router does. An on-topic message is right when it reaches its entry's
    answer (or the route of an entry with ``route:``); "which one did you mean?" is counted apart.
    """
    rep = SetReport()
    routes = {e.id: e.route for e in faq.entries}
    # ``styled_on_topic``/``styled_off_topic``: the same with styles, kept apart in files whose plain
    # ``on_topic`` list older readers (the routing regression test) still iterate as strings.
    on_topic: dict[str, list] = {}
    for part in (data.get("on_topic") or {}, data.get("styled_on_topic") or {}):
        for key, items in part.items():
            on_topic.setdefault(key, []).extend(items or [])
    off_topic = [*(data.get("off_topic") or []), *(data.get("styled_off_topic") or [])]

    def decide(text: str) -> tuple[str, Result | None]:
        early = pre(text) if pre is not None else None
        if early:
            return "route:" + early, None
        res = faq.match(text)
        if res.kind == "answer" and res.entry is not None:
            return ("route:" + res.entry.route) if res.entry.route else res.entry.id, res
        if res.kind == "ambiguous":
            return "ambiguous", res
        return res.kind, res

    for expected, items in on_topic.items():
        want = ("route:" + routes[expected]) if routes.get(expected) else expected
        for text, style in _items(items):
            got, res = decide(text)
            if got == want:
                outcome = "right"
            elif got == "ambiguous":
                outcome = "asked"
            elif got.startswith("route:") or got in routes:
                outcome = "wrong"
            else:
                outcome = "fallback"
            for t in (rep.overall, rep.by_entry.setdefault(expected, Tally()),
                      rep.by_style.setdefault(style, Tally())):
                t.add(outcome)
            if outcome != "right":
                rep.misses.append((style, text, expected, got))
                if outcome == "wrong":
                    key = (expected, got.removeprefix("route:"))
                    rep.confusion[key] = rep.confusion.get(key, 0) + 1
    for section, tally, want in (("password", rep.password, "route:password"),
                                 ("order_reports", rep.order_reports, "route:tickets")):
        for text, style in _items(data.get(section)):
            got, _ = decide(text)
            outcome = "right" if got == want else (
                "asked" if got == "ambiguous" else "fallback" if got in ("none", "greeting", "empty") else "wrong")
            tally.add(outcome)
            if outcome != "right":
                rep.misses.append((style, text, section, got))
    for text, style in _items(off_topic):
        got, _ = decide(text)
        if got in ("none", "greeting", "empty", "ambiguous"):
            rep.off_topic.add("right" if got != "ambiguous" else "asked")
        else:
            rep.off_topic.add("wrong")
            rep.misses.append((style, text, "off_topic", got))
    return rep
