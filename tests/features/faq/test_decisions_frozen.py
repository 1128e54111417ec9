"""Decision-equality guard: the seed FAQ's matcher decides every evaluation message and every bench
run-on exactly as frozen in ``tests/data/faq_decisions_frozen.json`` (kind, entry, the options of an
ambiguous answer, the normalised text; scores within a float tolerance).

The file records the output, not what is right: a change meant to cost less must leave it alone. When
``config/faq.yaml`` or the matching itself changes on purpose, regenerate it with
``python bench/faq_freeze.py`` and review the diff (one message a line)."""
from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from wxbot.features.faq.matcher import MatchOptions, compile_faq

ROOT = Path(__file__).resolve().parents[3]
FROZEN = ROOT / "tests" / "data" / "faq_decisions_frozen.json"
SCRIPT = ROOT / "bench" / "faq_freeze.py"


def _freeze_module():
    sys.path.insert(0, str(ROOT / "bench"))
    try:
        spec = importlib.util.spec_from_file_location("faq_freeze", SCRIPT)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(ROOT / "bench"))
    return module


@pytest.fixture(scope="module")
def freeze():
    return _freeze_module()


@pytest.fixture(scope="module")
def frozen():
    return json.loads(FROZEN.read_text(encoding="utf-8"))


def test_frozen_file_is_for_the_shipped_faq(freeze, frozen):
    digest = freeze.faq_digest((ROOT / "config" / "faq.yaml").read_text(encoding="utf-8"))
    assert frozen["faq_sha256"] == digest, (
        "config/faq.yaml changed since the decisions were frozen: run `python bench/faq_freeze.py` "
        "and review the diff of tests/data/faq_decisions_frozen.json")


def test_frozen_file_covers_every_eval_message_and_the_run_ons(freeze, frozen):
    messages = freeze.eval_messages()
    assert [(r["source"], r["message"]) for r in frozen["decisions"]] == messages
    sources = {src.split(":")[0] for src, _ in messages}
    assert {p.stem for p in (ROOT / "tests" / "data").glob("faq_eval_*.yaml")} | {"bench"} == sources
    assert sum(src == "bench:run_on_200" for src, _ in messages) == 60
    assert all(len(t) == 200 for src, t in messages if src == "bench:run_on_200")


def test_every_decision_is_as_frozen(freeze, frozen):
    faq = compile_faq(yaml.safe_load((ROOT / "config" / "faq.yaml").read_text(encoding="utf-8")), MatchOptions())
    now = [{"source": r["source"], "message": r["message"], **freeze.decision(faq, r["message"])}
           for r in frozen["decisions"]]
    diff = freeze.differences(frozen["decisions"], now)
    assert not diff, f"{len(diff)} decisions changed:\n" + "\n".join(diff[:40])


def test_differences_sees_a_moved_decision(freeze, frozen):
    rows = frozen["decisions"][:3]
    moved = [dict(rows[0], kind="none", entry=None), dict(rows[1], score=rows[1]["score"] + 1e-3), rows[2]]
    assert len(freeze.differences(rows, moved)) == 2
    assert freeze.differences(rows, [dict(r, score=r["score"] + 1e-9) for r in rows]) == []


def test_decisions_do_not_depend_on_the_hash_seed():
    """A fixed seed in a subprocess, beside this process's random one: set or dict order of str
    hashes must never decide (a clause tie once went to whichever phrase hashed first)."""
    env = dict(os.environ, PYTHONHASHSEED="0")
    proc = subprocess.run([sys.executable, str(SCRIPT), "--check"], capture_output=True, text=True,
                          timeout=300, cwd=str(ROOT), env=env)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert proc.stdout.strip().endswith(" 0 changed")
