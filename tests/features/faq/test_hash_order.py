"""The matcher's decisions do not depend on Python's hash order: two processes with different
``PYTHONHASHSEED`` decide every message of a blind set alike (a tie once went either way)."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).parents[3]
SCRIPT = """
import sys, yaml
from wxbot.features.faq.matcher import compile_faq
faq = compile_faq(yaml.safe_load(open(sys.argv[1], encoding="utf-8")))
data = yaml.safe_load(open(sys.argv[2], encoding="utf-8"))
for items in data["on_topic"].values():
    for item in items:
        r = faq.match(item["text"])
        print(r.kind, r.entry.id if r.entry else "", [e.id for e, _ in r.candidates])
"""


def decisions(seed: str) -> list[str]:
    env = {**os.environ, "PYTHONHASHSEED": seed}
    out = subprocess.run([sys.executable, "-c", SCRIPT, str(ROOT / "config" / "faq.yaml"),
                          str(ROOT / "tests" / "data" / "faq_eval_blind_heldout.yaml")],
                         env=env, capture_output=True, text=True, timeout=120, check=True)
    return out.stdout.splitlines()


def test_two_hash_seeds_decide_alike():
    first, second = decisions("1"), decisions("4")
    assert len(first) == 294
    assert first == second
