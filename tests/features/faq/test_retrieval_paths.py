"""The retrieval's two ways of summing a message's postings (one bincount over every document, or
np.add.at into a per-thread scratch array for an index too big for that) give the same scores."""
from __future__ import annotations

from pathlib import Path

import yaml

from wxbot.features.faq import retrieval
from wxbot.features.faq.matcher import _UNIT_RE, MatchOptions, compile_faq
from wxbot.textnorm import prepare

ROOT = Path(__file__).parents[3]


def test_the_sparse_path_scores_as_the_dense_one(monkeypatch):
    faq = compile_faq(yaml.safe_load((ROOT / "config" / "faq.yaml").read_text(encoding="utf-8")), MatchOptions())
    index = faq._index
    data = yaml.safe_load((ROOT / "tests" / "data" / "faq_eval_tune.yaml").read_text(encoding="utf-8"))
    messages = [str(m) for v in data["on_topic"].values() for m in v] + [str(m) for m in data["off_topic"]]
    units = [_UNIT_RE.findall(faq._marked(*faq._scan(*faq._homophones.correct(*prepare(m, 200))))) for m in messages]
    dense = [index.score(u, 0.0) for u in units]
    assert len(index.doc_side) <= retrieval._DENSE_DOCS and sum(map(bool, dense)) > 200
    monkeypatch.setattr(retrieval, "_DENSE_DOCS", 0)  # every index takes the sparse path
    sparse = [index.score(u, 0.0) for u in units]
    assert sparse == dense
    assert not index._scratch().any()  # the scratch array is all zero again between calls
