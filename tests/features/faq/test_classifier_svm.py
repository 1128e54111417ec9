"""The FAQ's linear SVM, trained with numpy (``classifier.linear_svm``), solves the problem
scikit-learn's ``LinearSVC`` solves (L2-regularised squared hinge, one-vs-rest, bias term): the same
weights within the solvers' tolerance and the same decisions, on the shipped FAQ's own examples."""
from __future__ import annotations

import subprocess
import sys

import numpy as np
import yaml
from scipy.sparse import csr_matrix
from sklearn.svm import LinearSVC

from helpers.env import CONFIG_DIR
from wxbot.features.faq import classifier
from wxbot.features.faq.matcher import compile_faq


def test_the_numpy_svm_gives_linearsvcs_weights_and_decisions(monkeypatch):
    seen = {}
    real = classifier.linear_svm

    def spy(rows, y, classes, terms, c=1.0, **kw):
        seen.update(rows=rows, y=y, classes=classes, terms=terms, c=c)
        return real(rows, y, classes, terms, c, **kw)

    monkeypatch.setattr(classifier, "linear_svm", spy)
    monkeypatch.setattr(classifier, "_cache", type(classifier._cache)())
    compile_faq(yaml.safe_load((CONFIG_DIR / "faq.yaml").read_text(encoding="utf-8"))).warm()
    rows, y, classes, terms = seen["rows"], seen["y"], seen["classes"], seen["terms"]
    assert len(rows) > 1000 and len(classes) > 20
    w, b = real(rows, y, classes, terms, seen["c"])
    indptr = np.cumsum([0] + [len(cols) for cols, _ in rows])
    x = csr_matrix((np.concatenate([v for _, v in rows]), np.concatenate([cols for cols, _ in rows]), indptr),
                   shape=(len(rows), terms))
    ref = LinearSVC(C=seen["c"], tol=1e-6, max_iter=10000, random_state=0).fit(x, y)
    assert list(ref.classes_) == list(classes)
    assert np.abs(ref.coef_.T - w).max() < 0.01 * np.abs(ref.coef_).max()
    assert np.abs(ref.intercept_ - b).max() < 0.01
    ours, theirs = x @ w + b, x @ ref.coef_.T + ref.intercept_
    assert (ours.argmax(axis=1) == theirs.argmax(axis=1)).mean() > 0.999


def test_the_bot_never_imports_scikit_learn_or_scipy():
    code = ("import sys, yaml; from wxbot.features.faq.matcher import compile_faq; "
            f"compile_faq(yaml.safe_load(open({str(CONFIG_DIR / 'faq.yaml')!r}, encoding='utf-8'))).warm(); "
            "print(sorted(m for m in ('sklearn', 'scipy') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_two_entries_are_one_binary_problem_as_in_linearsvc():
    """Two classes: one binary SVM (liblinear does not train one-vs-rest for two), split in halves."""
    rng = np.random.default_rng(3)
    rows, y = [], []
    for i in range(40):
        cols = np.sort(rng.choice(30, size=6, replace=False))
        v = rng.random(6) + (cols < 15) * (i % 2)
        rows.append((cols, v / np.linalg.norm(v)))
        y.append(i % 2)
    y = np.array(y)
    w, b = classifier.linear_svm(rows, y, np.array([0, 1]), 30, 1.0, eps=1e-4, max_epochs=5000)
    indptr = np.cumsum([0] + [len(cols) for cols, _ in rows])
    x = csr_matrix((np.concatenate([v for _, v in rows]), np.concatenate([cols for cols, _ in rows]), indptr),
                   shape=(len(rows), 30))
    ref = LinearSVC(C=1.0, tol=1e-8, max_iter=100000, random_state=0).fit(x, y)
    assert np.allclose(w[:, 1] - w[:, 0], ref.coef_[0], atol=1e-3)
    assert abs((b[1] - b[0]) - ref.intercept_[0]) < 1e-3


def test_trained_at_first_use_and_by_the_web_app_before_any_message(monkeypatch, app):
    """A process that never matches (``wxbot password show``) does not train; the web app trains at
    start, so no follower's message waits for it."""
    monkeypatch.setattr(classifier, "_cache", type(classifier._cache)())
    faq = compile_faq(yaml.safe_load((CONFIG_DIR / "faq.yaml").read_text(encoding="utf-8")))
    assert faq._trained is None
    faq.match("我想问一下你们的key能不能在别的软件里面用")
    assert faq._trained is not None
    assert app.extensions["wxbot"].features.faq.knowledge.get()._trained is not None
