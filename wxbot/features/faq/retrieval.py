"""Ranked retrieval of a message among the FAQ's example questions (相似问法): BM25 over character and
pinyin n-grams, on flat numpy arrays with int64 term keys and precomputed idf and per-(term, example)
weights.

Terms of a unit list (units are CJK characters and ASCII words; ``|`` and ``\n`` are breaks that no
n-gram crosses):

* a CJK character (weight ``unigram_weight``, low: single characters are ambiguous), an ASCII word,
  two adjacent units;
* on the pinyin side: two adjacent toneless syllables (IME homophones such as 冲直 / 充值 share them;
  a single syllable is never a term: too many false friends), and each ASCII word as itself, so a
  homophone match still has to cover the message's words. Pinyin scores count less than characters
  (``pinyin_weight`` < 1), so the original characters win when both match. An ASCII word that is
  no example's word but spells pinyin ("mima") is read as syllables.

An example is a candidate only when a *strong* term (a word, two units, two syllables) reaches it:
single characters in common are never a match. Confidence is the share of the message's term
weight (idf) the example covers, times how much of the example the message covers
(``** doc_weight``): roughly [0, 1] whatever the length; unknown terms count against it, so
off-topic messages stay low. Each entry keeps its best example.

Measured against ``bm25s`` 0.3.16 with the same tokens (``get_scores`` only, without the confidence,
the strong-term rule or the per-entry maximum; µs of thread CPU p50/p99 on a loaded 2-core machine):
seed FAQ (624 examples) this index 47-54/76-130, bm25s 41-44/116-121; generated FAQ (22,000
examples) this index 166-181/275-311, bm25s 64-76/139-177. bm25s's raw scoring is faster at scale,
but both are within budget and bm25s would still need the normalisation on top (and scipy).
"""
from __future__ import annotations

import math
from array import array
from collections.abc import Iterable
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


WORD_BASE = 1 << 21  # unit ids: a character is its code point (< 2**21), an ASCII word WORD_BASE + its id
_BIGRAM = 1 << 44  # two units u, v: _BIGRAM + (u << 22) + v
_PINYIN = 1 << 62  # two syllables s, t: _PINYIN + (s << 11) + t; pinyin examples are docs n..2n-1
_PINYIN_WORD = _PINYIN + (1 << 40)  # a word on the pinyin side: _PINYIN_WORD + its unit id


def _ranges(starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """The concatenation of ``range(s, s + n)`` for each (s, n), without a Python loop."""
    ends = np.cumsum(lengths)
    return np.arange(int(ends[-1]) if len(ends) else 0) + np.repeat(starts - (ends - lengths), lengths)


class Index:
    """Every example question's terms, built once per FAQ version, as flat arrays: the sorted term
    keys (int64), their idf and document frequency, and their postings (CSR by term: example ids
    and precomputed BM25 weights). Character and pinyin terms share the arrays; an example's pinyin
    side is document ``n + i``, so one ``bincount`` scores both."""

    def __init__(self, owners: list[int], unit_lists: Iterable[list[str]], table: dict[str, str],
                 options: RetrievalOptions | None = None):
        """``owners[i]`` is the entry of example i, whose units ``unit_lists`` yields (lazily: a big
        FAQ's examples are never all held as unit lists)."""
        self.options = opts = options or RetrievalOptions()
        n = self.size = len(owners)
        self.entries = max(owners, default=-1) + 1
        entry = np.array(owners, dtype=np.int32)
        self.doc_entry = np.concatenate((entry, entry))
        syllables = sorted(set(table.values()))
        self._syl = {s: i for i, s in enumerate(syllables)}
        self._char_syl = {ch: self._syl[s] for ch, s in table.items()}
        self._words: dict[str, int] = {}
        # flat typed arrays, not lists: building a 20,000-example index keeps no Python object per term
        rows_doc = array("q")
        rows_key = array("q")
        rows_tf = array("d")
        for d, units in enumerate(unit_lists):
            ck, pk = self._keys(units, grow=True)
            for side, keys in ((d, ck), (d + n, pk)):
                counts: dict[int, float] = {}
                for k, w in keys:
                    counts[k] = counts.get(k, 0.0) + w
                rows_doc.extend([side] * len(counts))
                rows_key.extend(counts)
                rows_tf.extend(counts.values())
        keys = np.frombuffer(rows_key, dtype=np.int64)
        doc = np.frombuffer(rows_doc, dtype=np.int64)
        tf = np.frombuffer(rows_tf, dtype=np.float64)
        self.keys, inv, self.df = np.unique(keys, return_inverse=True, return_counts=True)
        df = self.df.astype(np.float64)
        self.idf = np.log(1 + (n - df + 0.5) / (df + 0.5)) if n else np.ones(len(df))
        self.unknown = math.log(1 + (n + 0.5) / 0.5) if n else 1.0
        typew = np.where(self.keys < WORD_BASE, opts.unigram_weight, 1.0)
        self.strong = self.keys >= WORD_BASE
        lengths = np.bincount(doc, weights=tf, minlength=2 * n)
        avg = np.array([lengths[:n].mean() if n else 1.0, lengths[n:].mean() if n else 1.0])
        avg[avg == 0] = 1.0
        side_avg = np.where(np.arange(2 * n) >= n, avg[1], avg[0])
        k1, b = opts.k1, opts.b
        norm = k1 * (1 - b + b * lengths / side_avg)
        tw = typew[inv]
        count = tf / tw  # tf carries the term type's weight: keep that factor, saturate the count
        w = tw * self.idf[inv] * count * (k1 + 1) / (count + norm[doc])
        own = np.bincount(doc, weights=tw * self.idf[inv], minlength=2 * n)
        own[own == 0] = 1.0
        self.inv_own = 1.0 / own
        self.idf_list: list[float] = self.idf.tolist()
        self.strong_list: list[bool] = self.strong.tolist()
        order = np.argsort(inv, kind="stable")
        self.post_docs = doc[order].astype(np.int32)
        self.post_w = w[order]
        self.offsets = np.concatenate(([0], np.cumsum(self.df)[:-1])) if len(self.df) else np.zeros(0, np.int64)

    def __len__(self) -> int:
        return self.size

    def _keys(self, units: list[str], grow: bool = False) -> tuple[list[tuple[int, float]], list[tuple[int, float]]]:
        """(character terms, pinyin terms) of a unit list as (key, type weight); with ``grow`` (an
        example) every word gets an id, else (a message) only the words some example has."""
        uw = self.options.unigram_weight
        words, char_syl, syl = self._words, self._char_syl, self._syl
        chars: list[tuple[int, float]] = []
        pys: list[tuple[int, float]] = []
        prev = prev_py = None
        for u in units:
            if u in BREAKS:
                prev = prev_py = None
                continue
            inner: tuple[int, ...] = ()
            if len(u) == 1 and not u.isascii():
                uid = ord(u)
                chars.append((uid, uw))
                first = last = char_syl.get(u)
            else:
                uid = words.get(u)
                if uid is None and grow:
                    uid = words[u] = len(words)
                split = None if uid is not None else split_latin(u)
                # an unknown word (only in a message) gets a negative key of its own: never found,
                # counted once against the confidence
                uid = uid + WORD_BASE if uid is not None else -1 - (hash(u) & 0xFFFFFFFF)
                chars.append((uid, 1.0))
                first = last = None
                if split:
                    ids = [syl.get(x) for x in split]
                    if None not in ids:
                        inner = tuple(ids)  # type: ignore[arg-type]
                        first, last = inner[0], inner[-1]
                if not inner:
                    # A word without syllables is on the pinyin side as itself: a homophone match must
                    # cover the message's words too ("livebench是啥" is not "baseurl是啥").
                    pys.append((_PINYIN_WORD + uid if uid >= 0 else uid - (1 << 34), 1.0))
            if prev is not None:
                chars.append((_BIGRAM + (prev << 22) + uid if prev >= 0 and uid >= 0
                              else -(1 << 33) - (hash((prev, uid)) & 0xFFFFFFFF), 1.0))
            if prev_py is not None and first is not None:
                pys.append((_PINYIN + (prev_py << 11) + first, 1.0))
            for a, b in zip(inner, inner[1:]):
                pys.append((_PINYIN + (a << 11) + b, 1.0))
            prev, prev_py = uid, last
        return chars, pys

    def score(self, units: list[str], floor: float = 0.0) -> dict[int, float]:
        """Entry index -> confidence in [0, ~1] of its best example (kept when >= ``floor``), for
        entries with a strong term (a word or two units, not only single characters) in common."""
        if not self.entries or not len(self.keys):
            return {}
        chars, pys = self._keys(units)
        if not chars:
            return {}
        cw = dict(chars)
        pw = dict(pys)
        nc = len(cw)
        q = np.array([*cw, *pw], dtype=np.int64)
        keys = self.keys
        pos = np.searchsorted(keys, q)
        np.minimum(pos, len(keys) - 1, out=pos)
        found = (keys[pos] == q).tolist()
        idf, unknown, strong_of = self.idf_list, self.unknown, self.strong_list
        plist = pos.tolist()
        den_c = den_p = 0.0
        known: list[int] = []
        strong: list[bool] = []
        any_strong = False
        for i, (w, ok, p) in enumerate(zip((*cw.values(), *pw.values()), found, plist)):
            if not ok:
                if i < nc:
                    den_c += w * unknown
                else:
                    den_p += w * unknown
                continue
            if i < nc:
                den_c += w * idf[p]
                if strong_of[p]:
                    any_strong = True
            else:
                den_p += w * idf[p]
            known.append(p)
            strong.append(strong_of[p])
        if not any_strong:
            return {}  # only single characters in common: never a confident match
        den_c = den_c or 1.0
        den_p = den_p or 1.0
        starts, lengths = self.offsets[known], self.df[known]
        n2 = 2 * self.size
        sm = np.array(strong)
        cand = np.flatnonzero(np.bincount(self.post_docs[_ranges(starts[sm], lengths[sm])], minlength=n2))
        idx = _ranges(starts, lengths)
        acc = np.bincount(self.post_docs[idx], self.post_w[idx], n2)[cand]
        pinyin = cand >= self.size
        conf = np.minimum(acc / np.where(pinyin, den_p, den_c), 1.0)
        conf *= np.minimum(acc * self.inv_own[cand], 1.0) ** self.options.doc_weight
        conf *= np.where(pinyin, self.options.pinyin_weight, 1.0)
        best = np.zeros(self.entries)
        np.maximum.at(best, self.doc_entry[cand], conf)
        hit = np.flatnonzero(best >= max(floor, 1e-9))
        return dict(zip(hit.tolist(), best[hit].tolist()))
