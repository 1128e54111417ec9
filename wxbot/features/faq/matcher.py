"""The compiled FAQ and its matcher (no Flask, no Redis): ``compile_faq`` builds a ``Faq`` from the
validated file (``spec.py``) once per version; ``Faq.match`` decides one message.

Matching combines the FAQ's own rules with retrieval over its example questions:

1. Normalise (``textnorm.prepare``: NFKC, lower case, traditional -> simplified, no punctuation or
   spaces, ASCII word bounds and clause breaks kept aside), then canonicalise synonyms and glosses
   (``梯子``/``vpn`` -> ``魔法``, ``receipt`` -> ``发票``; ``phrases.Synonyms``, whole ASCII words only).
2. Rules: an ``exact`` phrase equal to the whole message (after fillers like 请问…吗) wins outright
   (the MP console's 全匹配); each ``contains`` phrase (半匹配) and weighted ``keyword`` present adds its
   weight once (``phrases.Phrases``: one Aho-Corasick pass); each ``pattern`` that matches adds its
   weight; ASCII words also match a vocabulary word one edit away (``librechta`` -> ``librechat``).
3. Similar questions: ``retrieval.Index`` ranks the message (or, when long, its question clauses)
   against every entry's examples by BM25 over character and pinyin n-grams, and a linear classifier
   over the same terms (``classifier.py``) re-scores the entries it reached; an entry gains
   ``retrieval.weight`` × the larger of its best example's confidence and the classifier's.
4. Decide: best score below ``threshold`` -> ask which one was meant when it is at least
   ``ask_threshold`` (both fitted by ``bench/faq_calibrate.py``), else no answer (greeting or fallback); the runner-up within
   ``ambiguity_ratio`` of it (and of equal ``priority``) -> ask which one was meant; two question
   clauses about different entries -> ask; otherwise answer the best entry.

Everything is precomputed per FAQ version; nothing is compiled per request.
"""
from __future__ import annotations

import hashlib
import re
import threading
from bisect import bisect_right
from typing import TYPE_CHECKING, Any

from ...textnorm import ASCII_ALNUM, normalise, prepare
from . import phrases
from .clauses import question_windows
from .masking import mask as mask  # re-exported: the stores mask what they keep
from .memory import trim_heap
from .phrases import Fillers, Hit, Homophones, Phrases, Synonyms, ascii_words, deletes, lengths_by_first, words_pattern
from .pinyin import vocabulary_table
from .results import Entry, Result
from .spec import FaqSpec, MatchOptions

if TYPE_CHECKING:
    from .classifier import Classifier

# -- compiled matcher ------------------------------------------------------------------------

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
            raise ValueError(f"entries: id {dup!r} 重复了")
        for tid in spec.topics:
            if tid not in self.by_id:
                raise ValueError(f"topics: 没有 id 为 {tid!r} 的条目")
        self.topics = [self.by_id[t] for t in spec.topics]
        mc = options.max_chars

        # Synonyms: variant -> canonical, scanned leftmost-longest.
        syn: dict[str, str] = {}
        for canon, variants in [*spec.synonyms.items(), *spec.glosses.items(), *spec.cantonese.items()]:
            c = normalise(canon, mc)
            for v in variants:
                nv = normalise(v, mc)
                if not nv or nv == c:
                    continue
                if syn.get(nv, c) != c:
                    raise ValueError(f"synonyms/glosses: {v!r} 同时是 {syn[nv]!r} 和 {c!r} 的变体")
                syn[nv] = c
        # An everyday word that contains a CJK variant stays itself (手续费 holds 续费 but is no 充值): as
        # a longer match the synonym scan takes it first and leaves it as it is.
        from .lexicon import containing

        cjk = {v for v in syn if all("\u4e00" <= ch <= "\u9fff" for ch in v)}
        self._syn = syn
        self._synonyms = Synonyms({**{w: w for w in containing(cjk) if w not in syn}, **syn})

        # Fillers around exact phrases, and greetings.
        fillers = sorted({self._canon(f) for f in spec.fillers if f.strip()}, key=len, reverse=True)
        self._fillers = Fillers(fillers) if fillers else None
        self._greetings = {self._canon(g): True for g in spec.greetings if normalise(g, mc)}
        self._greet_lens = lengths_by_first(self._greetings)
        self._greet_rest = set(fillers) | set("啊呀呢吗嘛么哦噢喔吖哈啦~")

        # Vocabulary: phrase -> [(entry index, weight, label)].
        exact: dict[str, list[int]] = {}
        vocab: dict[str, list[tuple[int, float]]] = {}
        patterns: list[tuple[int, re.Pattern[str], str]] = []
        for entry, e in zip(self.entries, spec.entries):
            for phrase in [e.topic, *e.exact]:
                p = self._strip_fillers(self._canon(phrase))
                if not p:
                    raise ValueError(f"条目 {e.id}：全匹配规则 {phrase!r} 规范化后是空的")
                owners = exact.setdefault(p, [])
                if owners and entry.index not in owners:
                    other = self.entries[owners[0]].id
                    raise ValueError(f"条目 {e.id}：全匹配规则 {phrase!r} 已经属于条目 {other}")
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
        self._phrases = Phrases(vocab)
        self._patterns = patterns

        # ASCII words one edit away (symmetric deletes): "librechta" -> "librechat".
        fuzzy: dict[str, set[str]] = {}
        for word in {w for w in (*vocab, *syn) if w.isascii() and w.isalnum()}:
            if len(word) >= options.fuzzy_min_len:
                for variant in deletes(word):
                    fuzzy.setdefault(variant, set()).add(word)
        self._fuzzy = {k: sorted(v) for k, v in fuzzy.items()}

        # Retrieval over the example questions (and each entry's own question).
        self._noise_re = words_pattern(map(self._canon, spec.noise))
        self._elsewhere_re = words_pattern(map(self._canon, spec.elsewhere))
        self._ours_re = words_pattern(map(self._canon, spec.ours))
        self._cue_re = re.compile("|".join(map(re.escape, spec.question_cues))) if spec.question_cues else None
        rs = spec.retrieval
        self._index = None
        taught = self.taught = {k: tuple(v) for k, v in (teachings or {}).items() if k in self.by_id and v}
        if rs.weight > 0 and (taught or any(e.examples for e in spec.entries)):
            from .retrieval import Index, RetrievalOptions

            owners: list[int] = []
            marked: list[str] = []
            domain: list[str] = []  # the texts as followers typed them (fillers, synonyms' variants)
            for entry, e in zip(self.entries, spec.entries):
                for example in (e.question, *e.examples, *taught.get(e.id, ())):
                    prepared = prepare(example, mc)
                    domain.append(prepared[0])
                    text = self._marked(*self._scan(*prepared))
                    if text.strip("|\n "):
                        owners.append(entry.index)
                        marked.append(text)
            # rule phrases first: their polyphones are the FAQ's own vocabulary
            table = vocabulary_table([*vocab, *syn, *(m.replace("|", "").replace("\n", "") for m in marked)])
            self._index = Index(owners, (_UNIT_RE.findall(m) for m in marked), table,
                                RetrievalOptions(rs.k1, rs.b, rs.unigram_weight, rs.pinyin_weight, rs.doc_weight))
            from .classifier import MAX_ENTRIES

            # the examples' texts are kept for the classifier's training only where it will train
            train = (owners, marked) if rs.classifier and 2 <= len(self.entries) <= MAX_ENTRIES else None
        else:
            train = None
            table = vocabulary_table([*vocab, *syn])
            domain = []
        # Homophone targets: the FAQ's topical words (rules, synonyms), not the glosses' or Cantonese
        # question words (哪个 would swallow every 那个); a filler or noise word is never corrected.
        topical = phrases.distinct_sounding(((normalise(c, mc), [normalise(v, mc) for v in vs]) for c, vs in spec.synonyms.items()),
                                    table)
        protected = {normalise(w, mc) for w in (*spec.noise, *spec.fillers)}
        self._homophones = Homophones([*vocab, *topical, *self._exact], table, protected, domain=domain)
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
        self._train = train if self._index is not None else None
        self._trained: Classifier | None = None
        self._train_lock = threading.Lock()

    @property
    def _classifier(self) -> Classifier | None:
        """The linear classifier, trained at first use: a process that never matches (most CLI
        commands) does not pay for it, and servers train it before any message (``warm``). Kept per
        version and index options (``classifier.trained``): the same file and teachings train once."""
        if self._train is None:
            return self._trained
        with self._train_lock:
            if self._train is not None:
                from .classifier import trained

                owners, marked = self._train
                self._trained = trained(f"{self.version}:{self.spec.retrieval.model_dump_json()}", self._index,
                                        owners, _LazyUnits(marked), len(self.entries))
                self._train = None  # trained (or not trained: too many entries): the texts are not needed
            return self._trained

    def warm(self) -> Faq:
        """Train what is trained at first use now (a server, before its first message)."""
        _ = self._classifier
        trim_heap()
        return self

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
        return self._synonyms.replace(text, bounds, breaks)

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

        A short message is scored whole; a long one (more than ``long_units`` units) by its question
        windows (``clauses.question_windows``), each's confidence times ``clause_factor``.
        """
        index = self._index
        assert index is not None
        rs = self.spec.retrieval
        marked = self._marked(text, bounds, breaks)
        units = _UNIT_RE.findall(marked)
        cap = rs.long_units
        if len(units) <= cap:
            return self._similar(units, floor)
        cov: dict[int, float] = {}
        factor = rs.clause_factor
        for window in question_windows(units, self._cue_re, cap):
            for e, v in self._similar(window, floor / factor if factor else floor).items():
                v *= factor
                if v > cov.get(e, 0.0):
                    cov[e] = v
        return cov

    def _similar(self, units: list[str], floor: float) -> dict[int, float]:
        """Entry -> confidence (>= ``floor``): its best example's, or the classifier's where that is
        higher and at least ``classifier_floor``; messages shorter than ``classifier_min_units`` are
        left to the rules and BM25 (too few terms for the classifier's softmax to mean much)."""
        index = self._index
        assert index is not None
        clf = self._classifier
        rs = self.spec.retrieval
        if clf is None or len(units) < rs.classifier_min_units:
            return index.score(units, floor)
        terms = index._terms(units)
        found = index.score_terms(*terms, floor)
        p = clf.proba_terms(*terms)
        for i in (p >= max(rs.classifier_floor, floor)).nonzero()[0].tolist():
            v = float(p[i])
            if v > found.get(i, 0.0):
                found[i] = v
        return found

    def _elsewhere(self, text: str, bounds: frozenset[int]) -> bool:
        """About another product or service and none of ours; ASCII names as whole words ("reset my
        gmail password": the text is "resetmygmail密码", its bounds say where the words were)."""
        rx = self._elsewhere_re
        if rx is None:
            return False
        cuts = [0, *sorted(b for b in bounds if 0 < b < len(text) and text[b - 1] in ASCII_ALNUM
                           and text[b] in ASCII_ALNUM), len(text)]
        if len(cuts) > 2:  # a bound between two ASCII words (pinyin read as characters has none left)
            text = " ".join(text[a:b] for a, b in zip(cuts, cuts[1:]))
        return rx.search(text) is not None and (self._ours_re is None or self._ours_re.search(text) is None)

    def _rules(self, text: str, hits: list[Hit], scores: dict[int, float],
               reasons: dict[int, list[str]] | None) -> None:
        """Add the contains/keyword scores of ``hits`` (phrases found in ``text``) and the pattern
        scores of ``text`` to ``scores``."""
        per_entry: dict[int, list[tuple[str, float]]] = {}
        for phrase in dict.fromkeys(h[2] for h in hits):  # in scan order: sums and reasons never vary
            for i, w in self._vocab[phrase]:
                per_entry.setdefault(i, []).append((phrase, w))
        for i, found in per_entry.items():
            if len(found) > 1:
                # Within one entry the longest phrase wins: 购买地址 does not also count 购买 and 地址.
                found = [(p, w) for p, w in found if not any(p != q and p in q for q, _ in found)]
            scores[i] = scores.get(i, 0.0) + sum(w for _, w in found)
            if reasons is not None:
                reasons.setdefault(i, []).extend(f"{p}+{w:g}" for p, w in found)
        if self._patterns:
            pw = self.spec.pattern_weight
            for i, regex, source in self._patterns:
                if regex.search(text):
                    scores[i] = scores.get(i, 0.0) + pw
                    if reasons is not None:
                        reasons.setdefault(i, []).append(f"/{source}/+{pw:g}")

    def _clause_winners(self, text: str, hits: list[Hit], breaks: frozenset[int]) -> list[int]:
        """The best entry (by the rules) of each clause that asks something, when two or more such
        clauses ask about different entries ("能开票吗 可以对公吗"); else []. The phrases of a clause
        are those of the whole message's scan that lie inside it."""
        cue = self._cue_re
        if cue is None:
            return []
        winners: list[int] = []
        cuts = [0, *sorted(breaks), len(text)]
        inside: dict[int, list[Hit]] = {}  # clause start -> its hits
        for h in hits:
            k = bisect_right(cuts, h[0]) - 1
            if h[1] <= cuts[k + 1]:
                inside.setdefault(cuts[k], []).append(h)
        seen: set[str] = set()
        for start, end in zip(cuts, cuts[1:]):
            clause = text[start:end]
            if len(clause) < 2 or clause in seen or not cue.search(clause):
                continue
            seen.add(clause)  # a clause said twice asks one thing
            scores: dict[int, float] = {}
            idx = self._exact.get(self._strip_fillers(clause))
            if idx is not None:
                scores[idx] = _EXACT
            self._rules(clause, inside.get(start, []), scores, None)
            if scores:
                # ties go as in the message's ranking (priority, then file order), never by hash order
                i, s = min(scores.items(), key=lambda kv: (-kv[1], -self.entries[kv[0]].priority, kv[0]))
                if s >= self.options.threshold and i not in winners:
                    winners.append(i)
        return winners if len(winners) > 1 else []

    def _strip_fillers(self, text: str) -> str:
        if self._fillers is None:
            return text
        stripped = self._fillers.strip(text)
        return stripped or text

    def _hits(self, text: str, bounds: frozenset[int] = frozenset()) -> list[Hit]:
        """Every rule phrase in ``text`` (whole ASCII words), and vocabulary words one edit away from
        an ASCII word of the message."""
        found = self._phrases.find(text, bounds)
        if self._fuzzy:
            vocab = self._vocab
            for start, word in ascii_words(text, bounds):
                if len(word) >= self.options.fuzzy_min_len and word not in vocab:
                    for variant in (word, *deletes(word)):
                        for target in self._fuzzy.get(variant, ()):
                            if target in vocab and target not in text:
                                found.append((start, start + len(word), target))
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
        text, bounds, breaks = self._scan(*self._homophones.correct(*prepare(raw_text, opts.max_chars)))
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
        hits = self._hits(text, bounds)
        self._rules(text, hits, scores, reasons if explain else None)
        if self._index is not None:
            rs = self.spec.retrieval
            for i, c in self._retrieve(text, bounds, breaks, rs.min_confidence).items():
                if c >= rs.min_confidence:
                    scores[i] = scores.get(i, 0.0) + rs.weight * c
                    if explain:
                        reasons.setdefault(i, []).append(f"similar:{c:.2f}+{rs.weight * c:.2f}")
        if idx is None and self._elsewhere(text, bounds):
            if explain:
                reasons.setdefault(-1, []).append("elsewhere")
            scores = {}  # about another product or service ("路由器密码忘了"): no answer of ours
        entries = self.entries
        ranked = sorted(scores.items(), key=lambda kv: (-kv[1], -entries[kv[0]].priority, kv[0]))
        cands = [(entries[i], s) for i, s in ranked[: max(opts.max_candidates, 3)]]
        ranking = [(entries[i], s) for i, s in ranked] if explain else []
        if not ranked or ranked[0][1] < opts.threshold:
            if self._is_greeting(text):
                return Result("greeting", text, None, ranked[0][1] if ranked else 0.0, cands, reasons, ranking)
            ask = opts.ask_threshold
            if ask is not None and ranked and ranked[0][1] >= ask:
                # not confident enough to answer, too likely to fall back: ask which one was meant
                options = [(entries[i], s) for i, s in ranked[: opts.max_candidates] if s >= ask]
                return Result("ambiguous", text, options[0][0], options[0][1], options, reasons, ranking, True)
            return Result("none", text, None, ranked[0][1] if ranked else 0.0, cands, reasons, ranking)
        best, best_score = entries[ranked[0][0]], ranked[0][1]
        if best_score < _EXACT and breaks:
            # Two questions about different entries: ask which one, unless one has the top priority.
            winners = self._clause_winners(text, hits, breaks)
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


class _LazyUnits:
    """The unit lists of marked examples, split only if the classifier is trained (not when cached)."""

    def __init__(self, marked: list[str]):
        self._marked = marked

    def __len__(self) -> int:
        return len(self._marked)

    def __iter__(self):
        return (_UNIT_RE.findall(m) for m in self._marked)


def compile_faq(raw: Any, options: MatchOptions | None = None, teachings: dict[str, list[str]] | None = None) -> Faq:
    """Validate the parsed YAML and build the matcher, with ``teachings`` (entry id -> phrasings
    taught in Redis) added to the entries' examples; ValueError/ValidationError on any problem."""
    if raw is None:
        raise ValueError("文件不存在或是空的")
    if not isinstance(raw, dict):
        raise ValueError("最外层必须是含有 entries: 的映射")
    spec = FaqSpec.model_validate(raw)
    faq = Faq(spec, options or MatchOptions(), teachings)
    trim_heap()
    return faq

