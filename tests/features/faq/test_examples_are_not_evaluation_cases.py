"""The FAQ's example questions never copy a case of a held-out or final evaluation set: those sets
measure how the matcher generalises, and an example equal to a case would measure memory."""
from __future__ import annotations

from pathlib import Path

import yaml

from wxbot.features.faq.matcher import normalise

ROOT = Path(__file__).parents[3]
HELD_OUT = ["faq_eval_heldout.yaml", "faq_eval_blind_heldout.yaml", "faq_eval_blind_final.yaml",
            "faq_eval_blind_final2.yaml", "faq_eval_blind_final3.yaml", "faq_eval_blind_final4.yaml",
            "faq_eval_blind_final5.yaml", "faq_eval_blind_final6.yaml",
            "faq_eval_blind_final7.yaml", "faq_eval_blind_final8.yaml",
            "faq_eval_blind_final9.yaml", "faq_eval_blind_final10.yaml", "faq_eval_blind_final11.yaml",
            "faq_eval_blind_final12.yaml"]


def texts(node) -> list[str]:
    if isinstance(node, dict):
        if isinstance(node.get("text"), str):
            return [node["text"]]
        return [t for v in node.values() for t in texts(v)]
    if isinstance(node, list):
        return [t for v in node for t in texts(v)]
    return [node] if isinstance(node, str) else []


def test_no_example_is_a_held_out_or_final_case():
    faq = yaml.safe_load((ROOT / "config" / "faq.yaml").read_text(encoding="utf-8"))
    examples = {normalise(e): (entry["id"], e) for entry in faq["entries"] for e in entry.get("examples") or []}
    assert len(examples) > 1000
    copied = []
    for name in HELD_OUT:
        data = yaml.safe_load((ROOT / "tests" / "data" / name).read_text(encoding="utf-8"))
        cases = [t for t in texts(data) if len(t) > 1]
        assert len(cases) > 100, name
        copied += [(name, examples[normalise(t)]) for t in cases if normalise(t) in examples]
    assert copied == []
