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
import threading
from array import array
from collections.abc import Iterable
from dataclasses import dataclass
from itertools import chain

import numpy as np

from .clauses import BREAKS
from .pinyin import split_latin

_DIGITS = frozenset("0123456789")


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


_LOOSE = 1 - 1e-9  # a bound used only to skip work, loosened past any rounding
# Up to this many documents one bincount over all of them is the cheapest sum (faq_bench: at 8,602 documents,
# the seed FAQ, np.add.at on the postings cost p99 538 µs against 232; at 44,000, the generated FAQ, 223 against 216)
_DENSE_DOCS = 65536


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
        rows_key = array("q")
        rows_tf = array("d")
        per_doc = array("q", bytes(8 * 2 * n))  # terms of each document (characters 0..n-1, pinyin n..2n-1)
        for d, units in enumerate(unit_lists):
            ck, pk = self._terms(units, grow=True)
            per_doc[d], per_doc[d + n] = len(ck), len(pk)
            rows_key.extend(ck)
            rows_key.extend(pk)
            rows_tf.extend(ck.values())
            rows_tf.extend(pk.values())
        # the rows are in document order, characters then pinyin per example: put the pinyin side after
        counts = np.frombuffer(per_doc, dtype=np.int64)
        by_doc = np.repeat(np.stack((np.arange(n), np.arange(n, 2 * n)), axis=1).ravel(),
                           np.stack((counts[:n], counts[n:]), axis=1).ravel())
        del per_doc, counts
        doc = by_doc
        tf = np.frombuffer(rows_tf, dtype=np.float64)
        self.keys, inv, dfc = np.unique(np.frombuffer(rows_key, dtype=np.int64), return_inverse=True,
                                        return_counts=True)
        del rows_key, by_doc
        df = dfc.astype(np.float64)
        idf = np.log(1 + (n - df + 0.5) / (df + 0.5)) if n else np.ones(len(df))
        self.unknown = math.log(1 + (n + 0.5) / 0.5) if n else 1.0
        typew = np.where(self.keys < WORD_BASE, opts.unigram_weight, 1.0)
        lengths = np.bincount(doc, weights=tf, minlength=2 * n)
        avg = np.array([lengths[:n].mean() if n else 1.0, lengths[n:].mean() if n else 1.0])
        avg[avg == 0] = 1.0
        side_avg = np.where(np.arange(2 * n) >= n, avg[1], avg[0])
        k1, b = opts.k1, opts.b
        norm = k1 * (1 - b + b * lengths / side_avg)
        tw = typew[inv]
        count = tf / tw  # tf carries the term type's weight: keep that factor, saturate the count
        del tf, rows_tf
        # w = tw * idf * count * (k1 + 1) / (count + norm), in place (the same floats, fewer arrays)
        w = idf[inv]
        w *= tw
        del tw
        own = np.bincount(doc, weights=w, minlength=2 * n)
        own[own == 0] = 1.0
        w *= count
        w *= k1 + 1
        den = norm[doc]
        den += count
        w /= den
        del den, count
        self.inv_own = 1.0 / own
        self.doc_side = (np.arange(2 * n) >= n).astype(np.intp)
        self.side_weight = np.array((1.0, opts.pinyin_weight))
        self._local = threading.local()
        order = np.argsort(inv, kind="stable")
        self.post_docs = doc[order].astype(np.int32)
        self.post_w = w[order]
        del doc, norm, w, order, inv  # the build's temporaries go before the next FAQ's
        offsets = np.concatenate(([0], np.cumsum(dfc)[:-1])) if len(dfc) else np.zeros(0, np.int64)
        # what a message's term needs, in one row (idf, strong, first posting, document frequency):
        # one gather and one tolist per message
        self.term_rows = np.column_stack((idf, self.keys >= WORD_BASE, offsets, dfc)) if len(dfc) \
            else np.zeros((0, 4))

    def __len__(self) -> int:
        return self.size

    def _terms(self, units: list[str], grow: bool = False) -> tuple[dict[int, float], dict[int, float]]:
        """(character terms, pinyin terms) of a unit list, key -> count × type weight, in the order
        first found; with ``grow`` (an example) every word gets an id, else (a message) only the words
        some example has. CJK characters, the bulk of any text, take the short path."""
        uw = self.options.unigram_weight
        words, char_syl, syl = self._words, self._char_syl, self._syl
        chars: dict[int, float] = {}
        pys: dict[int, float] = {}
        get_c, get_p = chars.get, pys.get
        prev = prev_py = None
        for u in units:
            if len(u) == 1 and u > "\x7f":  # a CJK character: its code point, its syllable
                uid = ord(u)
                chars[uid] = get_c(uid, 0.0) + uw
                first = last = char_syl.get(u)
                inner: tuple[int, ...] | list[int | None] = ()
            elif u in BREAKS:
                prev = prev_py = None
                continue
            else:
                uid = words.get(u)
                if uid is None and grow:
                    uid = words[u] = len(words)
                if uid is None and u[0] in _DIGITS:
                    # a number no example has (an order number, a serial, an amount) is no evidence
                    # either way: it neither counts against the match nor joins a bigram
                    prev = prev_py = None
                    continue
                split = None if uid is not None else split_latin(u)
                # an unknown word (only in a message) gets a negative key of its own: never found,
                # counted once against the confidence
                uid = uid + WORD_BASE if uid is not None else -1 - (hash(u) & 0xFFFFFFFF)
                chars[uid] = get_c(uid, 0.0) + 1.0
                first = last = None
                inner = [syl.get(x) for x in split] if split else ()
                if None in inner:
                    inner = ()
                if inner:
                    first, last = inner[0], inner[-1]
                else:
                    # A word without syllables is on the pinyin side as itself: a homophone match must
                    # cover the message's words too ("livebench是啥" is not "baseurl是啥").
                    k = _PINYIN_WORD + uid if uid >= 0 else uid - (1 << 34)
                    pys[k] = get_p(k, 0.0) + 1.0
            if prev is not None:
                k = (_BIGRAM + (prev << 22) + uid if prev >= 0 and uid >= 0
                     else -(1 << 33) - (hash((prev, uid)) & 0xFFFFFFFF))
                chars[k] = get_c(k, 0.0) + 1.0
            if prev_py is not None and first is not None:
                k = _PINYIN + (prev_py << 11) + first
                pys[k] = get_p(k, 0.0) + 1.0
            for x, y in zip(inner, inner[1:]):
                k = _PINYIN + (x << 11) + y  # type: ignore[operator]
                pys[k] = get_p(k, 0.0) + 1.0
            prev, prev_py = uid, last
        return chars, pys

    def _scratch(self) -> np.ndarray:
        """This thread's accumulator, one float per document, all zero between calls."""
        acc = getattr(self._local, "acc", None)
        if acc is None:
            acc = self._local.acc = np.zeros(2 * self.size)
        return acc

    def score(self, units: list[str], floor: float = 0.0) -> dict[int, float]:
        """Entry index -> confidence in [0, ~1] of its best example (kept when >= ``floor``), for
        entries with a strong term (a word or two units, not only single characters) in common.

        Per message a fixed handful of numpy calls on arrays the size of its postings (numpy's cost
        per call, not per element, dominates at this size); sums run in posting order, so every
        score is the float a ``bincount`` over all examples gives."""
        return self.score_terms(*self._terms(units), floor)

    def score_terms(self, cw: dict[int, float], pw: dict[int, float], floor: float = 0.0) -> dict[int, float]:
        """``score`` from a message's terms (``_terms``), when the caller needs them too.

        The per-term work is vectorised (a long message has ~100 terms); the two denominators are
        still summed term by term in message order, so they are the floats a loop gives. Candidates
        are the documents a strong term reaches, each once."""
        if not self.entries or not len(self.keys) or not cw:
            return {}
        nc = len(cw)
        q = np.fromiter(chain(cw, pw), dtype=np.int64, count=nc + len(pw))
        keys = self.keys
        pos = keys.searchsorted(q)
        np.minimum(pos, len(keys) - 1, out=pos)
        found = keys[pos] == q
        rows = self.term_rows[pos]  # (idf, strong, first posting, document frequency)
        strong = rows[:, 1] > 0
        if not (found[:nc] & strong[:nc]).any():
            return {}  # only single characters in common: never a confident match
        # each term's share of the denominator: its type weight (its count does not matter) × idf,
        # or the unknown-term idf for a term no example has
        uw = self.options.unigram_weight
        share = np.where((q >= 0) & (q < WORD_BASE), uw, 1.0)
        share *= np.where(found, rows[:, 0], self.unknown)
        shares = share.tolist()
        den_c = sum(shares[:nc]) or 1.0
        den_p = sum(shares[nc:]) or 1.0
        # the known terms' postings, end to end, the strong terms' first: their documents are the
        # candidates
        hit = found & strong
        known = rows[np.concatenate((hit.nonzero()[0], (found & ~strong).nonzero()[0]))]
        lens = known[:, 3].astype(np.int64)
        ends = np.cumsum(lens)
        idx = np.repeat(known[:, 2].astype(np.int64) - (ends - lens), lens)
        idx += np.arange(int(ends[-1]))
        docs = self.post_docs[idx]
        strong_docs = docs[:int(ends[int(hit.sum()) - 1])]
        ndocs = len(self.doc_side)
        thr = max(floor, 1e-9)
        n = self.size
        if ndocs <= _DENSE_DOCS:
            acc_all = np.bincount(docs, self.post_w[idx], ndocs)
            reached = np.zeros(ndocs, dtype=bool)
            reached[strong_docs] = True
            # conf <= min(acc / den, 1) (its other factors are at most 1): only documents over the floor
            # by that bound (loosened by a rounding's worth) get the rest computed
            reached[:n] &= acc_all[:n] >= thr * den_c * _LOOSE
            reached[n:] &= acc_all[n:] >= thr * den_p * _LOOSE
            cand = reached.nonzero()[0]
            acc = acc_all[cand]
        else:  # a big FAQ: no array the size of the index per message
            cand = np.unique(strong_docs)
            acc_all = self._scratch()
            try:
                np.add.at(acc_all, docs, self.post_w[idx])  # in posting order, like bincount
                acc = acc_all[cand]
            finally:
                acc_all[docs] = 0.0
        side = self.doc_side[cand]
        conf = np.minimum(acc / np.array((den_c, den_p))[side], 1.0)
        conf *= np.minimum(acc * self.inv_own[cand], 1.0) ** self.options.doc_weight
        conf *= self.side_weight[side]
        keep = (conf >= max(floor, 1e-9)).nonzero()[0]
        best: dict[int, float] = {}
        for e, c in zip(self.doc_entry[cand[keep]].tolist(), conf[keep].tolist()):
            if c > best.get(e, 0.0):
                best[e] = c
        return dict(sorted(best.items()))
