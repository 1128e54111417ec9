"""Freeze the FAQ matcher's decisions, so a change meant to be cost-only can prove it changed none.

    python bench/faq_freeze.py            # rewrite tests/data/faq_decisions_frozen.json
    python bench/faq_freeze.py --check    # compare with it, list every difference (exit 1 if any)
    python bench/faq_freeze.py --generated /tmp/gen.json [--check]   # the same for faq_bench's
                                          # generated 2,000-entry FAQ (a local check, not committed)

The messages are every item of every ``tests/data/faq_eval_*.yaml`` set, read generically (any section,
a string or a mapping's ``text``), and the 60 run-on messages of 200 characters ``faq_bench.py`` builds;
the FAQ is the seed ``config/faq.yaml`` with the default ``MatchOptions``. Only the current output is
recorded: nothing here says whether a decision is right (the held-out sets must not be tuned on).
``tests/features/faq/test_decisions_frozen.py`` holds the matcher to the file.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from faq_bench import generated_faq, generated_messages, messages, run_ons  # noqa: E402

from wxbot.features.faq.matcher import MatchOptions, compile_faq  # noqa: E402

FROZEN = ROOT / "tests" / "data" / "faq_decisions_frozen.json"
FAQ_FILE = ROOT / "config" / "faq.yaml"
SCORE_TOLERANCE = 1e-6


def texts(node) -> list[str]:
    """Every message of an evaluation set's section, in file order: strings, or mappings' ``text``;
    the keys of other mappings (entry ids, styles) are labels, not messages."""
    if isinstance(node, str):
        return [node]
    if isinstance(node, dict):
        if "text" in node:
            return [str(node["text"])]
        return [t for v in node.values() for t in texts(v)]
    if isinstance(node, list):
        return [t for v in node for t in texts(v)]
    return [] if node is None else [str(node)]


def eval_messages() -> list[tuple[str, str]]:
    """(source, message) for every item of every evaluation set, then the bench's run-ons."""
    out: list[tuple[str, str]] = []
    for path in sorted((ROOT / "tests" / "data").glob("faq_eval_*.yaml")):
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        for section, node in data.items():
            out += [(f"{path.stem}:{section}", t) for t in texts(node)]
    tune = yaml.safe_load((ROOT / "tests/data/faq_eval_tune.yaml").read_text(encoding="utf-8"))
    out += [("bench:run_on_200", t) for t in run_ons(messages(tune))]
    return out


def decision(faq, text: str) -> dict:
    """What ``Faq.match`` decided: kind, the entry, the options offered when ambiguous, the score."""
    res = faq.match(text)
    row = {"kind": res.kind, "entry": res.entry.id if res.entry else None, "score": round(res.score, 9),
           "text": res.text}
    if res.kind == "ambiguous":
        row["options"] = [e.id for e, _ in res.candidates]
    return row


def faq_digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def seed_decisions() -> dict:
    source = FAQ_FILE.read_text(encoding="utf-8")
    faq = compile_faq(yaml.safe_load(source), MatchOptions())
    rows = [{"source": src, "message": text, **decision(faq, text)} for src, text in eval_messages()]
    return {"faq_sha256": faq_digest(source), "faq_version": faq.version, "decisions": rows}


def generated_decisions() -> dict:
    gen = generated_faq(2000)
    faq = compile_faq(yaml.load(yaml.safe_dump(gen, allow_unicode=True),
                                Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader)), MatchOptions())
    rows = [{"source": "generated", "message": t, **decision(faq, t)} for t in generated_messages(gen, 500)]
    return {"faq_version": faq.version, "decisions": rows}


def differences(want: list[dict], got: list[dict]) -> list[str]:
    """One line per message whose decision moved (scores compared within ``SCORE_TOLERANCE``)."""
    if len(want) != len(got):
        return [f"{len(want)} frozen messages, {len(got)} now"]
    out = []
    for w, g in zip(want, got):
        same = (w["message"] == g["message"] and w["kind"] == g["kind"] and w["entry"] == g["entry"]
                and w.get("options") == g.get("options") and w["text"] == g["text"]
                and abs(w["score"] - g["score"]) <= SCORE_TOLERANCE)
        if not same:
            out.append(f"{w['source']} {w['message']!r}: was {w['kind']} {w['entry']} {w.get('options', '')} "
                       f"{w['score']:.6f}, now {g['kind']} {g['entry']} {g.get('options', '')} {g['score']:.6f}")
    return out


def dump(frozen: dict) -> str:
    """The frozen decisions as JSON, one message a line (reviewable diffs)."""
    head = {k: v for k, v in frozen.items() if k != "decisions"}
    rows = ",\n".join(json.dumps(r, ensure_ascii=False) for r in frozen["decisions"])
    return json.dumps(head, ensure_ascii=False)[:-1] + ', "decisions": [\n' + rows + "\n]}\n"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true", help="compare with the frozen file instead of writing it")
    ap.add_argument("--generated", type=Path, help="freeze/check the generated 2,000-entry FAQ in this file")
    args = ap.parse_args()
    path = args.generated or FROZEN
    now = generated_decisions() if args.generated else seed_decisions()
    if not args.check:
        path.write_text(dump(now), encoding="utf-8")
        print(f"{path}: {len(now['decisions'])} decisions")
        return 0
    frozen = json.loads(path.read_text(encoding="utf-8"))
    diff = differences(frozen["decisions"], now["decisions"])
    for line in diff:
        print(line)
    print(f"{len(now['decisions'])} decisions, {len(diff)} changed")
    return 1 if diff else 0


if __name__ == "__main__":
    sys.exit(main())
