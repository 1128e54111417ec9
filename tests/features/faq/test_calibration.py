"""Calibrated confidence: the fit is monotone, the thresholds come out of the data, and a message in
the ask band is asked about while one below it falls back."""
from __future__ import annotations

import random

from wxbot.features.faq import calibration
from wxbot.features.faq.matcher import MatchOptions, compile_faq


def test_fit_is_monotone_on_noisy_data():
    rng = random.Random(3)
    scores = [rng.uniform(0, 10) for _ in range(500)]
    rights = [rng.random() < s / 10 for s in scores]  # noisy: right more often as the score grows
    cal = calibration.fit(scores, rights)
    probs = [cal.probability(s / 4) for s in range(0, 44)]
    assert probs == sorted(probs)
    assert probs[0] < 0.3 and probs[-1] > 0.7


def test_thresholds_come_out_of_the_data():
    # below 2: always wrong; 2, 3 and 4: right 6 times in 10 each (estimate 0.6); 5 and above: always right
    scores = [1.0, 1.5] * 10 + [s for s in (2.0, 3.0, 4.0) for _ in range(10)] + [5.0, 6.0, 7.0] * 10
    rights = [False] * 20 + ([True] * 6 + [False] * 4) * 3 + [True] * 30
    cal = calibration.fit(scores, rights)
    assert calibration.thresholds(cal, answer=0.95, ask=0.5) == (5.0, 2.0)
    assert cal.probability(0.0) == 0.0 and abs(cal.probability(3.0) - 0.6) < 1e-9 and cal.probability(9.0) == 1.0
    assert calibration.thresholds(cal, answer=1.01, ask=0.5) == (None, 2.0)  # no score reaches it


RAW = {
    "entries": [
        {"id": "invoice", "topic": "发票", "question": "能开发票吗", "answer": "可以开发票。",
         "keywords": {"发票": 3.0, "开票": 2.0}},
        {"id": "refund", "topic": "退款", "question": "怎么退款", "answer": "联系客服退款。",
         "keywords": {"退款": 3.0}},
    ],
}


def test_a_low_confidence_message_is_asked_about_or_falls_back():
    plain = compile_faq(RAW, MatchOptions(threshold=2.5))
    assert plain.match("开票").kind == "none"  # 2 < 2.5: no ask band, the fallback
    banded = compile_faq(RAW, MatchOptions(threshold=2.5, ask_threshold=1.5))
    res = banded.match("开票")
    assert res.kind == "ambiguous" and [e.id for e, _ in res.candidates] == ["invoice"]
    assert banded.match("发票").kind == "answer"  # 3 >= 2.5: answered
    assert banded.match("天气怎么样").kind == "none"  # nothing scored: below the band


def test_the_classifier_trains_with_the_faq_and_adds_its_confidence():
    raw = {
        "retrieval": {"classifier": True},
        "entries": [
            {"id": "invoice", "topic": "发票", "question": "能开发票吗", "answer": "可以开发票。",
             "examples": ["可以开发票吗", "发票怎么开", "要报销需要发票", "开个增值税发票", "公司报销要票"]},
            {"id": "refund", "topic": "退款", "question": "怎么退款", "answer": "联系客服退款。",
             "examples": ["怎么退款", "不想用了能退钱吗", "申请退款", "钱能退回来吗", "退款多久到账"]},
        ],
    }
    with_clf = compile_faq(raw)
    without = compile_faq({**raw, "retrieval": {"classifier": False}})
    assert with_clf._classifier is not None and without._classifier is None
    p = with_clf._classifier.proba(with_clf._index, list("报销要票"))
    assert p.argmax() == 0 and abs(p.sum() - 1) < 1e-9
    assert with_clf.match("报销要票").entry.id == "invoice"
    assert compile_faq(raw)._classifier is with_clf._classifier  # the same version trains once
