"""A linear classifier over the retrieval's own terms (character and pinyin n-grams of
``retrieval.Index``): trained on every entry's example questions (and teachings) when the FAQ
compiles, it gives each entry a confidence for a message, which the matcher takes beside the
nearest example's BM25 confidence (the larger of the two counts).

The model is scikit-learn's ``LinearSVC`` over sublinear TF-IDF of the terms, its decision values
turned into a confidence by a softmax at temperature 1/5; chosen in ``bench/faq_model_compare.py``
against BM25 alone, ``LogisticRegression`` and ``ComplementNB`` on the tune and blind held-out sets.
Inference is not scikit-learn's (its per-call checks cost more than the arithmetic): the message's
known terms gather rows of a dense (terms x entries) weight matrix, one sum and one softmax.

Bounded: a FAQ with more than ``MAX_ENTRIES`` entries gets no classifier (retrieval alone), since
the weight matrix and the training grow with entries x terms; trained models are kept per FAQ
version in the process, so reloading an unchanged FAQ does not train again.
"""
from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence
from itertools import chain

import numpy as np

from .retrieval import Index

MAX_ENTRIES = 200  # beyond this the matcher uses retrieval alone (training cost, matrix size)
SVC_C = 1.0
SVC_SCALE = 5.0  # softmax temperature 1/5 over LinearSVC's decision values (about -1..1)
_CACHE_SIZE = 4
_cache: OrderedDict[str, Classifier] = OrderedDict()
_cache_lock = threading.Lock()


class Classifier:
    """Entry probabilities of a message's units, from weights trained on the examples."""

    def __init__(self, columns: dict[int, int], idf: np.ndarray, weights: np.ndarray, bias: np.ndarray,
                 pinyin_weight: float):
        # rows in term-key order: a message's terms are found by one searchsorted
        order = np.array(sorted(columns, key=columns.__getitem__), dtype=np.int64)
        by_key = np.argsort(order, kind="stable")
        self._keys = order[by_key]
        self._idf = idf[by_key]
        self._weights = weights[by_key]  # (terms, entries)
        self._bias = bias
        self._idf_max = float(idf.max()) if len(idf) else 1.0
        self._pinyin_weight = pinyin_weight

    @classmethod
    def train(cls, index: Index, owners: Sequence[int], unit_lists: Sequence[list[str]], entries: int,
              c: float = 10.0, model: str = "logistic", scale: float = 1.0) -> Classifier:
        """Fit on ``unit_lists`` (example i belongs to entry ``owners[i]``), over ``index``'s terms."""
        from scipy.sparse import csr_matrix

        columns: dict[int, int] = {}
        rows, cols, vals = [], [], []
        for r, units in enumerate(unit_lists):
            for key, v in _features(index, units, index.options.pinyin_weight).items():
                col = columns.setdefault(key, len(columns))
                rows.append(r)
                cols.append(col)
                vals.append(v)
        n = len(unit_lists)
        x = csr_matrix((np.log1p(np.array(vals)), (rows, cols)), shape=(n, len(columns)))
        df = np.bincount(np.array(cols, dtype=np.int64), minlength=len(columns)).astype(np.float64)
        idf = np.log((1 + n) / (1 + df)) + 1.0
        x = x.multiply(idf).tocsr()
        x = _l2_rows(x)
        y = np.asarray(owners)
        weights = np.zeros((len(columns), entries))
        bias = np.full(entries, -1e9)
        classes = np.unique(y)
        if len(classes) == 1:
            bias[classes[0]] = 0.0
            return cls(columns, idf, weights, bias, index.options.pinyin_weight)
        if model == "logistic":
            from sklearn.linear_model import LogisticRegression

            # saga: ~0.2 s on the seed FAQ's 1,474 examples x 12,000 terms, where lbfgs took ~3.5 s
            fit = LogisticRegression(C=c, solver="saga", tol=1e-3, max_iter=100, random_state=0).fit(x, y)
        elif model == "svc":
            from sklearn.svm import LinearSVC

            fit = LinearSVC(C=c, random_state=0).fit(x, y)
        else:
            from sklearn.naive_bayes import ComplementNB

            fit = ComplementNB(alpha=c).fit(x, y)
        coef = fit.coef_ if model != "nb" else fit.feature_log_prob_
        intercept = fit.intercept_ if model != "nb" else np.zeros(len(classes))
        if len(classes) == 2 and coef.shape[0] == 1:
            coef = np.vstack((-coef[0] / 2, coef[0] / 2))
            intercept = np.array((-intercept[0] / 2, intercept[0] / 2))
        weights[:, fit.classes_] = coef.T * scale  # scale: a softmax temperature for non-logistic models
        bias[fit.classes_] = intercept * scale
        return cls(columns, idf, weights, bias, index.options.pinyin_weight)

    def proba(self, index: Index, units: list[str]) -> np.ndarray:
        """Every entry's probability for ``units`` (uniform when no term is known)."""
        return self.proba_terms(*index._terms(units))

    def proba_terms(self, chars: dict[int, float], pys: dict[int, float]) -> np.ndarray:
        """The same from the message's terms (``Index._terms``: the retrieval computed them already)."""
        n, nc = len(chars) + len(pys), len(chars)
        keys = self._keys
        if not n or not len(keys):
            return np.full(len(self._bias), 1.0 / len(self._bias))
        q = np.fromiter(chain(chars, pys), np.int64, n)
        v = np.fromiter(chain(chars.values(), pys.values()), np.float64, n)
        v[nc:] *= self._pinyin_weight
        np.log1p(v, out=v)
        pos = keys.searchsorted(q)
        np.minimum(pos, len(keys) - 1, out=pos)
        ok = keys[pos] == q
        known = pos[ok]
        kv = v[ok] * self._idf[known]
        rest = v[~ok]
        # unknown terms count in the norm (at the highest idf), so a mostly unknown message stays unsure
        norm = float(np.sqrt(kv @ kv + (rest @ rest) * self._idf_max ** 2)) or 1.0
        logits = kv @ self._weights[known] / norm + self._bias
        logits -= logits.max()
        p = np.exp(logits)
        return p / p.sum()


def _features(index: Index, units: list[str], pinyin_weight: float) -> dict[int, float]:
    chars, pys = index._terms(units)
    out = dict(chars)
    for k, v in pys.items():
        out[k] = v * pinyin_weight
    return out


def _l2_rows(x):
    from scipy.sparse import diags

    norms = np.sqrt(np.asarray(x.multiply(x).sum(axis=1)).ravel())
    norms[norms == 0] = 1.0
    return diags(1.0 / norms) @ x


def trained(key: str, index: Index, owners: Sequence[int], unit_lists: Sequence[list[str]],
            entries: int) -> Classifier | None:
    """The classifier of a FAQ version (``key``), trained once per process; None beyond ``MAX_ENTRIES``."""
    if entries > MAX_ENTRIES or entries < 2:
        return None
    with _cache_lock:
        hit = _cache.get(key)
        if hit is not None:
            _cache.move_to_end(key)
            return hit
    clf = Classifier.train(index, owners, unit_lists, entries, c=SVC_C, model="svc", scale=SVC_SCALE)
    with _cache_lock:
        _cache[key] = clf
        while len(_cache) > _CACHE_SIZE:
            _cache.popitem(last=False)
    return clf
