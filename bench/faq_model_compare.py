#!/usr/bin/env python3
"""Compare ways to rank the FAQ's example questions, alone and combined with the rules, on the
same features (the retrieval's character and pinyin n-grams), matcher only (no routes before it).

    python bench/faq_model_compare.py                 # tune set and the blind held-out set
    python bench/faq_model_compare.py --set tune      # only the tune set (choose parameters here)

Variants (each trained on config/faq.yaml's questions and examples; no evaluation message is trained on):
  rules+bm25      the matcher as it is (rules + retrieval.weight x best example's confidence)
  bm25            retrieval alone (no exact/contains/keyword/pattern rules)
  lr / svc / nb   a linear classifier alone: LogisticRegression, LinearSVC, ComplementNB over TF-IDF
  rules+lr        the rules, with the classifier's probability in place of the retrieval's confidence
  rules+bm25+lr   the rules, retrieval and the classifier (weight x max(confidence, probability))
Only the tune set and the blind held-out set are read; the final blind sets are not.

Measured (round 4, matcher only, default MatchOptions: threshold 2.5; --floor 0.5; blind held-out set,
294 on-topic messages; per style right/wrong/no-answer of 42 each):
  variant         right wrong no-ans off-topic  terse   colloq  voice   trad    typo    long    indirect
  rules+bm25       228    6    60     1         42/0/0  39/0/3  36/0/6  35/0/7  34/1/7  34/2/6   8/3/31
  bm25 alone        79    0   215     0         31/0/11  8/0/34  3/0/39  9/0/33 22/0/20  6/0/36  0/0/42
  lr alone         175    1   118     0         41/0/1  35/0/7  35/0/7  20/0/22 29/0/13 13/1/28  2/0/40
  svc alone        245    3    46     2         42/0/0  41/0/1  42/0/0  39/0/3  39/1/2  23/2/17 19/0/23
  nb alone         277   10     7    25         42/0/0  42/0/0  42/0/0  42/0/0  41/1/0  33/5/4  35/4/3
  rules+lr (0.3)   235    5    54     1         42/0/0  39/0/3  39/0/3  34/0/8  34/1/7  34/2/6  13/2/27
  rules+bm25+lr    237    6    51     1         42/0/0  39/0/3  38/0/4  36/0/6  37/1/4  34/2/6  11/3/28
  rules+bm25+svc   261    6    27     3         42/0/0  41/0/1  41/0/1  40/0/2  39/1/2  35/3/4  23/2/17
  rules+bm25+nb    279    8     7    26         42/0/0  42/0/0  41/0/1  42/0/0  41/1/0  37/2/3  34/5/3
  shipped (svc, floor 0.75, messages of 7+ units since round 4 end; figures below with 3+):
  rules+bm25+svc   251    6    37     1         42/0/0  40/0/2  41/0/1  39/0/3  37/1/4  34/2/6  18/3/21
  + the fitted thresholds of bot.yaml (bench/faq_calibrate.py: answer from 3.139, ask from 2.251):
                   248    2    44 (11 asked) 0
Tune set (445 on-topic): rules+bm25 403 right / 4 wrong, rules+bm25+svc (floor 0.5) 431/3, shipped 428/2,
rules+bm25+nb 438/5 but 32 off-topic answered. ComplementNB ranks best but is confident about everything
(off-topic answered 25/30); the floor 0.75 and the unit minimum (3, then 7 for "用支付宝付的") keep "收到" and "今天天气怎么样" from
being answered at the default threshold 2.5 (tests/features/faq/test_matcher.py floors).
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from wxbot.features.faq.classifier import Classifier  # noqa: E402
from wxbot.features.faq.evaluation import evaluate_set  # noqa: E402
from wxbot.features.faq.matcher import _UNIT_RE, MatchOptions, compile_faq  # noqa: E402
from wxbot.textnorm import prepare  # noqa: E402

SETS = {"tune": ROOT / "tests/data/faq_eval_tune.yaml", "heldout": ROOT / "tests/data/faq_eval_blind_heldout.yaml"}


def training(faq):
    """(owners, unit lists) of the FAQ's questions and examples, as the matcher indexes them."""
    owners, units = [], []
    mc = faq.options.max_chars
    for entry, e in zip(faq.entries, faq.spec.entries):
        for example in (e.question, *e.examples):
            text = faq._marked(*faq._scan(*prepare(example, mc)))
            if text.strip("|\n "):
                owners.append(entry.index)
                units.append(_UNIT_RE.findall(text))
    return owners, units


def message_units(faq, text, bounds, breaks) -> list[list[str]]:
    """The unit lists the retrieval would score: the whole message, or a long one's question clauses."""
    marked = faq._marked(text, bounds, breaks)
    units = _UNIT_RE.findall(marked)
    cap = faq.spec.retrieval.long_units
    if len(units) <= cap:
        return [units]
    clauses = [c for c in marked.split("\n") if c.strip("| ")]
    cue = faq._cue_re
    picks = [c for c in clauses if cue is not None and cue.search(c)][-2:] or clauses[-1:]
    return [u for u in (_UNIT_RE.findall(c)[-cap:] for c in picks) if len(u) >= 3] or [units[-cap:]]


def with_classifier(faq, clf, mode: str, floor: float = 0.3):
    """Replace the faq's retrieval step by the classifier (``mode`` "clf") or by max(retrieval, clf)."""
    original = faq._retrieve

    def retrieve(text, bounds, breaks, fl):
        out = original(text, bounds, breaks, fl) if mode == "max" else {}
        for units in message_units(faq, text, bounds, breaks):
            p = clf.proba(faq._index, units)
            for i in (p >= floor).nonzero()[0].tolist():
                if p[i] > out.get(i, 0.0):
                    out[i] = float(p[i])
        return out

    faq._retrieve = retrieve
    return faq


def without_rules(faq):
    faq._rules = lambda *a, **k: None
    faq._exact = {}
    faq._clause_winners = lambda *a, **k: []
    return faq


def report(name: str, faq, data: dict) -> None:
    rep = evaluate_set(faq, data)
    o = rep.overall
    styles = "  ".join(f"{s}:{t.right}/{t.wrong}/{t.asked + t.fallback}" for s, t in sorted(rep.by_style.items()))
    off = rep.off_topic
    print(f"  {name:<16} right {o.right:3d}/{o.total} ({o.right / o.total:5.1%}) wrong {o.wrong:2d} asked {o.asked:2d} "
          f"fallback {o.fallback:2d} | off-topic answered {off.wrong}")
    print(f"  {'':<16} per style right/wrong/no-answer: {styles}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--set", choices=[*SETS, "both"], default="both")
    ap.add_argument("--c", type=float, default=10.0, help="LogisticRegression / LinearSVC C")
    ap.add_argument("--floor", type=float, default=0.3, help="least probability that adds to an entry")
    args = ap.parse_args()
    shipped = yaml.safe_load((ROOT / "config/faq.yaml").read_text(encoding="utf-8"))
    # the variants below add their own classifier to the matcher without one
    raw = {**shipped, "retrieval": {**(shipped.get("retrieval") or {}), "classifier": False}}
    options = MatchOptions()
    base = compile_faq(raw, options)
    owners, units = training(base)
    models = {}
    # LinearSVC and ComplementNB give no probabilities: a softmax of their scaled decision values stands in
    for model, c, scale in (("logistic", args.c, 1.0), ("svc", args.c / 10, 5.0), ("nb", 0.3, 30.0)):
        t = time.perf_counter()
        models[model] = Classifier.train(base._index, owners, units, len(base.entries), c=c, model=model, scale=scale)
        print(f"trained {model} (C/alpha {c:g}) on {len(units)} examples in {time.perf_counter() - t:.2f} s")
    for name in SETS if args.set == "both" else [args.set]:
        data = yaml.safe_load(SETS[name].read_text(encoding="utf-8"))
        print(f"\n== {name} ({SETS[name].name}) ==")
        report("rules+bm25", compile_faq(raw, options), data)
        report("matcher (shipped)", compile_faq(shipped, options), data)
        report("bm25", without_rules(compile_faq(raw, options)), data)
        for short, model in (("lr", "logistic"), ("svc", "svc"), ("nb", "nb")):
            report(short, without_rules(with_classifier(compile_faq(raw, options), models[model], "clf", args.floor)),
                   data)
        report("rules+lr", with_classifier(compile_faq(raw, options), models["logistic"], "clf", args.floor), data)
        report("rules+bm25+lr", with_classifier(compile_faq(raw, options), models["logistic"], "max", args.floor), data)
        report("rules+bm25+svc", with_classifier(compile_faq(raw, options), models["svc"], "max", args.floor), data)
        report("rules+bm25+nb", with_classifier(compile_faq(raw, options), models["nb"], "max", args.floor), data)


if __name__ == "__main__":
    main()
