"""A linear classifier over the retrieval's own terms (character and pinyin n-grams of
``retrieval.Index``): trained on every entry's example questions (and teachings) at the FAQ
version's first match (``Faq._classifier``; the web app and reloads train it before any message), it gives each entry a confidence for a message, which the matcher takes beside the
nearest example's BM25 confidence (the larger of the two counts).

The model is a linear SVM (``LinearSVC``'s problem and solver, trained in ``linear_svm``) over sublinear TF-IDF of the terms, its decision values
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
              c: float = 10.0, model: str = "svc", scale: float = 1.0) -> Classifier:
        """Fit on ``unit_lists`` (example i belongs to entry ``owners[i]``), over ``index``'s terms.
        ``svc`` (shipped) is trained here with numpy; ``logistic`` and ``nb`` (bench/faq_model_compare.py
        only) need scikit-learn."""
        columns: dict[int, int] = {}
        raw_rows: list[tuple[np.ndarray, np.ndarray]] = []
        for units in unit_lists:
            feats = _features(index, units, index.options.pinyin_weight)
            cols = np.fromiter((columns.setdefault(k, len(columns)) for k in feats), np.int64, len(feats))
            raw_rows.append((cols, np.log1p(np.fromiter(feats.values(), np.float64, len(feats)))))
        n = len(raw_rows)
        df = np.bincount(np.concatenate([r[0] for r in raw_rows]) if raw_rows else np.zeros(0, np.int64),
                         minlength=len(columns)).astype(np.float64)
        idf = np.log((1 + n) / (1 + df)) + 1.0
        rows = []
        for cols, v in raw_rows:  # sublinear TF-IDF, each row of unit length
            v = v * idf[cols]
            rows.append((cols, v / (float(np.sqrt(v @ v)) or 1.0)))
        y = np.asarray(owners)
        weights = np.zeros((len(columns), entries))
        bias = np.full(entries, -1e9)
        classes = np.unique(y)
        if len(classes) == 1:
            bias[classes[0]] = 0.0
            return cls(columns, idf, weights, bias, index.options.pinyin_weight)
        if model == "svc":
            coef, intercept = linear_svm(rows, y, classes, len(columns), c)
        else:
            coef, intercept = _sklearn_fit(rows, y, len(columns), c, model)
        weights[:, classes] = coef * scale  # scale: a softmax temperature for non-logistic models
        bias[classes] = intercept * scale
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


def linear_svm(rows: Sequence[tuple[np.ndarray, np.ndarray]], y: np.ndarray, classes: np.ndarray, terms: int,
               c: float = 1.0, eps: float = 0.01, max_epochs: int = 200, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """One-vs-rest L2-regularised squared-hinge linear SVM with a bias term: the problem and the dual
    coordinate descent of liblinear (Hsieh et al., ICML 2008; scikit-learn's ``LinearSVC`` default),
    all classes stepped together per example. ``rows``: (columns, values) of each example. Returns
    (terms x classes weights, biases); stops when the projected gradient's spread is below ``eps``.

    Written here because importing scikit-learn's ``LinearSVC`` (with SciPy) added ~99 MB to every
    process that loads the FAQ, for ~80 lines of arithmetic; tests/features/faq/test_classifier_svm.py
    checks the weights against scikit-learn's."""
    if len(classes) == 2:  # one binary problem, as liblinear solves it, split into two halves
        w, b = linear_svm(rows, y, classes[1:], terms, c, eps, max_epochs, seed)
        return np.hstack((-w / 2, w / 2)), np.concatenate((-b / 2, b / 2))
    k = len(classes)
    signs = np.where(y[:, None] == classes[None, :], 1.0, -1.0)  # examples x classes
    diag = 0.5 / c  # squared hinge: D_ii = 1 / (2C), no upper bound on alpha
    qd = np.array([v @ v for _, v in rows]) + 1.0 + diag  # + 1: the bias feature
    alpha = np.zeros((len(rows), k))
    w = np.zeros((terms, k))
    b = np.zeros(k)
    order = np.random.default_rng(seed)
    for _ in range(max_epochs):
        spread_hi, spread_lo = -np.inf, np.inf
        for i in order.permutation(len(rows)):
            cols, v = rows[i]
            a, s = alpha[i], signs[i]
            g = s * (v @ w[cols] + b) - 1.0 + diag * a
            pg = np.where(a > 0, g, np.minimum(g, 0.0))
            spread_hi, spread_lo = max(spread_hi, pg.max()), min(spread_lo, pg.min())
            new = np.maximum(a - g / qd[i], 0.0)
            step = (new - a) * s
            alpha[i] = new
            w[cols] += np.outer(v, step)
            b += step
        if spread_hi - spread_lo < eps:
            break
    return w, b


def _sklearn_fit(rows, y: np.ndarray, terms: int, c: float, model: str) -> tuple[np.ndarray, np.ndarray]:
    """The bench's other models (bench/faq_model_compare.py), through scikit-learn (a test extra)."""
    from scipy.sparse import csr_matrix

    indptr = np.cumsum([0] + [len(cols) for cols, _ in rows])
    x = csr_matrix((np.concatenate([v for _, v in rows]), np.concatenate([cols for cols, _ in rows]), indptr),
                   shape=(len(rows), terms))
    if model == "logistic":
        from sklearn.linear_model import LogisticRegression

        # saga: ~0.2 s on the seed FAQ's examples, where lbfgs took ~3.5 s
        fit = LogisticRegression(C=c, solver="saga", tol=1e-3, max_iter=100, random_state=0).fit(x, y)
        coef, intercept = fit.coef_, fit.intercept_
    else:
        from sklearn.naive_bayes import ComplementNB

        fit = ComplementNB(alpha=c).fit(x, y)
        coef, intercept = fit.feature_log_prob_, np.zeros(len(fit.classes_))
    if coef.shape[0] == 1:  # two classes: one row of weights
        coef, intercept = np.vstack((-coef[0] / 2, coef[0] / 2)), np.array((-intercept[0] / 2, intercept[0] / 2))
    return coef.T, intercept


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
