"""Ranked retrieval of a message among the FAQ's example questions (相似问法): BM25 over character and
pinyin n-grams, with integer term ids and precomputed per-(term, example) weights.

Why not ``bm25s``: it is built for batch retrieval over many documents (numpy/scipy sparse matrices,
its own tokenizer); one short query costs it ~150 µs of fixed overhead before any scoring (see
``bench/faq_bench.py``), while this index answers in tens of µs, loads a 20,000-example FAQ in well
under a second and needs no numpy.

Terms of a unit list (units are CJK characters and ASCII words; ``|`` and ``\\n`` are breaks that no
n-gram crosses):

* a CJK character (weight ``unigram_weight``, low: single characters are ambiguous), an ASCII word,
  two adjacent units;
* two adjacent toneless syllables, in a separate index: IME homophones (冲直 / 充值) share them. A
  single syllable is never a term (too many false friends), and pinyin scores count less than
  characters (``pinyin_weight`` < 1), so the original characters win when both match. An ASCII word
  that spells pinyin ("mima") is read as syllables when it is not a known word.

Candidates come only from the *strong* terms (words, bigrams, pinyin bigrams): single characters in
common are never a match, and their postings (long for common characters) are never walked; they are
added to the best ``rerank`` candidates only, from each example's own short table.

Confidence is the share of the message's term weight (idf) that the best example covers, times how
much of the example the message covers (``** doc_weight``), roughly in [0, 1] whatever the length:
unknown terms count against it, so off-topic messages stay low. Each entry keeps its best example.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .pinyin import split_latin

BREAKS = ("|", "\n")


@dataclass(frozen=True, slots=True)
class RetrievalOptions:
    k1: float = 1.2
    b: float = 0.75
    unigram_weight: float = 0.3
    pinyin_weight: float = 0.8
    doc_weight: float = 0.3  # confidence = message coverage × example coverage ** doc_weight


class _Part:
    """One index (characters or pinyin): term -> id, idf, and every term's postings as flat arrays
    (CSR by term id: ``docs[offsets[t]:offsets[t + 1]]`` with their BM25 weights)."""

    __slots__ = ("ids", "idf", "strong", "offsets", "docs", "weights", "unknown", "own", "size")

    def __init__(self, docs: list[dict[str, float]], opts: RetrievalOptions):
        n = self.size = len(docs)
        ids: dict[str, int] = {}
        df: list[int] = []
        lengths = []
        for d in docs:
            lengths.append(sum(d.values()))
            for t in d:
                tid = ids.get(t)
                if tid is None:
                    ids[t] = tid = len(df)
                    df.append(0)
                df[tid] += 1
        avg = (sum(lengths) / n) if n else 1.0
        self.ids = ids
        self.idf = [math.log(1 + (n - k + 0.5) / (k + 0.5)) for k in df]
        self.strong = [t[0] != "1" for t in ids]  # ids are assigned in insertion order
        self.unknown = math.log(1 + (n + 0.5) / 0.5) if n else 1.0
        k1, b, uw = opts.k1, opts.b, opts.unigram_weight
        idf = self.idf
        rows: list[list[tuple[int, float]]] = [[] for _ in df]
        own = np.ones(n)
        for i, d in enumerate(docs):
            norm = k1 * (1 - b + b * (lengths[i] / avg if avg else 1.0))
            total = 0.0
            for t, tf in d.items():
                tid = ids[t]
                weight = uw if t[0] == "1" else 1.0  # tf carries the term type's weight
                count = tf / weight
                rows[tid].append((i, weight * idf[tid] * count * (k1 + 1) / (count + norm)))
                total += weight * idf[tid]
            if total:
                own[i] = total
        self.own = own
        sizes = np.fromiter((len(r) for r in rows), dtype=np.int64, count=len(rows))
        self.offsets = np.concatenate(([0], np.cumsum(sizes))).tolist()
        flat = [x for r in rows for x in r]
        self.docs = np.fromiter((d for d, _ in flat), dtype=np.int32, count=len(flat))
        self.weights = np.fromiter((w for _, w in flat), dtype=np.float64, count=len(flat))


class Index:
    """Postings of every example question, built once per FAQ version."""

    def __init__(self, docs: list[tuple[int, list[str]]], table: dict[str, str],
                 options: RetrievalOptions | None = None):
        self.options = opts = options or RetrievalOptions()
        self.table = table
        self.doc_entry = np.fromiter((entry for entry, _ in docs), dtype=np.int32, count=len(docs))
        self.entries = int(self.doc_entry.max()) + 1 if len(docs) else 0
        self._known = {u for _, units in docs for u in units if len(u) > 1 or u.isascii()}
        terms = [self.terms(units) for _, units in docs]
        self.chars = _Part([c for c, _ in terms], opts)
        self.pinyin = _Part([p for _, p in terms], opts)

    def __len__(self) -> int:
        return len(self.doc_entry)

    def terms(self, units: list[str]) -> tuple[dict[str, float], dict[str, float]]:
        """Character and pinyin terms of a unit list, each with its type weight (tf counted).

        Keys: ``1x`` a CJK character, ``wabc`` an ASCII word, ``2xy`` two units, ``pa b`` two syllables.
        """
        uw = self.options.unigram_weight
        table, known = self.table, self._known
        chars: dict[str, float] = {}
        pys: dict[str, float] = {}
        prev = prev_py = None
        for u in units:
            if u in BREAKS:
                prev = prev_py = None
                continue
            inner: tuple[str, ...] = ()
            if len(u) == 1 and not u.isascii():
                key = "1" + u
                chars[key] = chars.get(key, 0.0) + uw
                first = last = table.get(u)
            else:
                key = "w" + u
                chars[key] = chars.get(key, 0.0) + 1.0
                split = None if u in known else split_latin(u)
                if split:
                    first, last, inner = split[0], split[-1], split
                else:
                    first = last = None
            if prev is not None:
                key = "2" + prev + u
                chars[key] = chars.get(key, 0.0) + 1.0
            if prev_py is not None and first is not None:
                key = "p" + prev_py + " " + first
                pys[key] = pys.get(key, 0.0) + 1.0
            for a, b in zip(inner, inner[1:]):
                key = "p" + a + " " + b
                pys[key] = pys.get(key, 0.0) + 1.0
            prev, prev_py = u, last
        return chars, pys

    def score(self, units: list[str], floor: float = 0.0) -> dict[int, float]:
        """Entry index -> confidence in [0, ~1] of its best example (kept when >= ``floor``), for
        entries with a strong term (not only single characters) in common with the message."""
        if not self.entries:
            return {}
        chars, pys = self.terms(units)
        best = np.zeros(self.entries)
        hit = self._into(best, self.chars, chars, 1.0)
        if not hit:
            return {}
        if pys:
            self._into(best, self.pinyin, pys, self.options.pinyin_weight)
        found = np.flatnonzero(best >= max(floor, 1e-9))
        return dict(zip(found.tolist(), best[found].tolist()))

    def _into(self, best: np.ndarray, part: _Part, terms: dict[str, float], factor: float) -> bool:
        """Raise ``best[entry]`` to the confidence of each example that shares a strong term."""
        ids, idf, strong, off, unknown = part.ids, part.idf, part.strong, part.offsets, part.unknown
        uw = self.options.unigram_weight
        den = 0.0
        spans: list[tuple[int, int]] = []
        weak: list[tuple[int, int]] = []
        for t in terms:
            tid = ids.get(t)
            w = uw if t[0] == "1" else 1.0
            if tid is None:
                den += w * unknown
                continue
            den += w * idf[tid]
            (spans if strong[tid] else weak).append((off[tid], off[tid + 1]))
        if not spans:
            return False
        docs, weights, size = part.docs, part.weights, part.size
        if len(spans) == 1:
            a, b = spans[0]
            cand = np.unique(docs[a:b])
        else:
            cand = np.flatnonzero(np.bincount(np.concatenate([docs[a:b] for a, b in spans]), minlength=size))
        spans += weak
        acc = np.bincount(np.concatenate([docs[a:b] for a, b in spans]),
                          np.concatenate([weights[a:b] for a, b in spans]), size)[cand]
        conf = np.minimum(acc / den, 1.0) if den else np.ones(len(cand))
        conf *= np.minimum(acc / part.own[cand], 1.0) ** self.options.doc_weight
        if factor != 1.0:
            conf *= factor
        np.maximum.at(best, self.doc_entry[cand], conf)
        return True
