"""FAQ benchmark: accuracy on the tuned and held-out evaluation sets, matching cost and load time.

    python bench/faq_bench.py            # everything
    python bench/faq_bench.py --misses   # also list every miss
    python bench/faq_bench.py --no-jieba # skip the jieba comparison (it writes jieba's cache file)

Accuracy: top-1 on on-topic messages (a "which one did you mean?" reply is not top-1 and is counted
on its own), off-topic messages answered with an FAQ entry, greetings recognised.
Cost: ``Faq.match`` per message (normalise + synonyms + scoring + decision), with the shipped FAQ and
with a generated 2,000-entry FAQ (random vocabulary, ~10 rules per entry, a pattern on every 10th
entry); load: YAML parse + validation + compile, per process.
"""
from __future__ import annotations

import argparse
import random
import statistics
import subprocess
import sys
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from wxbot.features.faq import FaqConfig  # noqa: E402
from wxbot.features.faq.matcher import compile_faq, evaluate, normalise  # noqa: E402


def messages(*sets: dict) -> list[str]:
    out: list[str] = []
    for d in sets:
        out += [str(m) for v in d["on_topic"].values() for m in v]
        out += [str(m) for m in d["off_topic"]] + [str(m) for m in d["greeting"]]
    return out


def time_per_call(fn, items: list[str], rounds: int) -> tuple[float, float, float]:
    """(mean, p50, p99) in µs per call over ``rounds`` passes of ``items``."""
    samples = []
    for _ in range(rounds):
        for text in items:
            t = time.perf_counter_ns()
            fn(text)
            samples.append(time.perf_counter_ns() - t)
    samples.sort()
    return (statistics.fmean(samples) / 1e3, samples[len(samples) // 2] / 1e3,
            samples[int(len(samples) * 0.99)] / 1e3)


def generated_faq(n: int, seed: int = 7) -> dict:
    """``n`` entries with random 2-4 character CJK keywords (from 600 common-range characters)."""
    rng = random.Random(seed)
    pool = [chr(c) for c in range(0x4E00, 0x4E00 + 600)]

    def word(k: int) -> str:
        return "".join(rng.choice(pool) for _ in range(k))

    entries = []
    for i in range(n):
        e = {
            "id": f"g{i:04d}",
            "topic": f"主题{i:04d}",
            "question": f"问题 {i}",
            "answer": "答案 " + word(40),
            "exact": [word(4)],
            "contains": [word(rng.randint(2, 4)) for _ in range(3)],
            "keywords": {word(rng.randint(2, 3)): rng.choice([1, 1.5, 2]) for _ in range(6)},
        }
        if i % 10 == 0:
            e["patterns"] = [f"{word(1)}.{{0,4}}{word(1)}"]
        entries.append(e)
    synonyms = {word(2): [word(2), word(3)] for _ in range(200)}
    return {"topics": ["g0000", "g0001"], "greetings": ["你好", "hi"], "synonyms": synonyms, "entries": entries}


def generated_messages(raw: dict, count: int, seed: int = 11) -> list[str]:
    rng = random.Random(seed)
    out = []
    for _ in range(count):
        e = rng.choice(raw["entries"])
        filler = "".join(rng.choice("我想问一下那个怎么是不是可以吗呢就") for _ in range(rng.randint(4, 20)))
        kw = rng.choice(e["contains"])
        cut = rng.randint(0, len(filler))
        out.append(filler[:cut] + kw + filler[cut:])
    return out


def load_time(raw_text: str, options, rounds: int = 5, loader=yaml.SafeLoader) -> float:
    best = float("inf")
    for _ in range(rounds):
        t = time.perf_counter()
        compile_faq(yaml.load(raw_text, Loader=loader), options)
        best = min(best, time.perf_counter() - t)
    return best * 1e3


def load_time_parsed(raw_text: str, options) -> float:
    raw = yaml.load(raw_text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    t = time.perf_counter()
    compile_faq(raw, options)
    return (time.perf_counter() - t) * 1e3


def cold_import_ms(code: str) -> float:
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    return float(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--misses", action="store_true", help="list every miss")
    ap.add_argument("--no-jieba", action="store_true", help="skip the jieba comparison")
    ap.add_argument("--rounds", type=int, default=20)
    args = ap.parse_args()

    options = FaqConfig().options()
    faq_text = (ROOT / "config" / "faq.yaml").read_text(encoding="utf-8")
    faq = compile_faq(yaml.safe_load(faq_text), options)
    tune = yaml.safe_load((ROOT / "tests/data/faq_eval_tune.yaml").read_text(encoding="utf-8"))
    held = yaml.safe_load((ROOT / "tests/data/faq_eval_heldout.yaml").read_text(encoding="utf-8"))

    print(f"FAQ: {len(faq.entries)} entries, version {faq.version}, threshold {options.threshold:g}, "
          f"ambiguity ratio {options.ambiguity_ratio:g}")
    print("\n== accuracy ==")
    for name, data in (("tuned", tune), ("held-out", held)):
        ev = evaluate(faq, data)
        print(f"{name:>9}: top-1 {ev.top1}/{ev.on_topic} = {ev.top1_rate:.1%}; "
              f"ambiguous {ev.ambiguous}/{ev.on_topic} = {ev.ambiguous / ev.on_topic:.1%} "
              f"({ev.ambiguous_with_right} listed the right entry); "
              f"off-topic answered {ev.off_topic_answered}/{ev.off_topic} = "
              f"{ev.off_topic_answered / ev.off_topic:.1%} (+{ev.off_topic_ambiguous} asked which one); "
              f"greetings {ev.greetings_recognised}/{ev.greetings}")
        if args.misses:
            for text, want, got in ev.misses:
                print(f"           miss: {text!r} want {want} got {got}")

    print("\n== matching cost per message (µs: mean / p50 / p99) ==")
    msgs = messages(tune, held)
    for text in msgs:  # warm up (T->S table, caches)
        faq.match(text)
    mean, p50, p99 = time_per_call(faq.match, msgs, args.rounds)
    print(f"shipped FAQ ({len(faq.entries)} entries), {len(msgs)} evaluation messages: "
          f"{mean:.1f} / {p50:.1f} / {p99:.1f}")
    mean, p50, p99 = time_per_call(lambda t: normalise(t, options.max_chars), msgs, args.rounds)
    print(f"  of which normalise():                                  {mean:.1f} / {p50:.1f} / {p99:.1f}")
    long_msgs = ["那个我想问一下就是" * 25 + m for m in msgs[:50]]
    mean, p50, p99 = time_per_call(faq.match, long_msgs, args.rounds)
    print(f"shipped FAQ, 250+ character run-ons (cut to {options.max_chars}):        "
          f"{mean:.1f} / {p50:.1f} / {p99:.1f}")

    gen = generated_faq(2000)
    gen_text = yaml.safe_dump(gen, allow_unicode=True)
    gfaq = compile_faq(yaml.safe_load(gen_text), options)
    gmsgs = generated_messages(gen, 500) + msgs
    for text in gmsgs:
        gfaq.match(text)
    mean, p50, p99 = time_per_call(gfaq.match, gmsgs, max(1, args.rounds // 4))
    print(f"generated FAQ ({len(gfaq.entries)} entries, {len(gfaq._vocab)} phrases, {len(gfaq._patterns)} patterns): "
          f"{mean:.1f} / {p50:.1f} / {p99:.1f}")
    kinds: dict[str, int] = {}
    for t in generated_messages(gen, 500):
        k = gfaq.match(t).kind
        kinds[k] = kinds.get(k, 0) + 1
    print(f"  (decisions on 500 generated messages: {kinds})")

    print("\n== load time (ms, best of 5, per process) ==")
    cload = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    print(f"shipped FAQ ({len(faq_text.encode()) // 1024} KiB): YAML + validate + compile "
          f"{load_time(faq_text, options):.1f} (pure-Python SafeLoader, as config.py reads files), "
          f"{load_time(faq_text, options, loader=cload):.1f} (libyaml CSafeLoader)")
    print(f"generated 2,000-entry FAQ ({len(gen_text.encode()) // 1024} KiB): YAML + validate + compile "
          f"{load_time(gen_text, options, 2):.0f} (SafeLoader), {load_time(gen_text, options, 2, cload):.0f} "
          f"(CSafeLoader); of which validate + compile {load_time_parsed(gen_text, options):.0f}")
    code_ts = ("import time;import wxbot.faqmatch as f;t=time.perf_counter();f._ts_table();"
               "print((time.perf_counter()-t)*1e3)")
    print(f"traditional->simplified table from opencc's dictionary (first use in a process): {cold_import_ms(code_ts):.1f}")

    print("\n== alternatives measured ==")
    import opencc

    cc = opencc.OpenCC("t2s")
    mean, _, _ = time_per_call(cc.convert, msgs, 3)
    table = __import__("wxbot.faqmatch", fromlist=["_ts_table"])._ts_table()
    mean_tr, _, _ = time_per_call(lambda t: t.translate(table), msgs, 3)
    print(f"opencc OpenCC('t2s').convert: {mean:.1f} µs/message; str.translate with its table: {mean_tr:.2f} µs")
    try:
        import jieba  # only for this comparison; wxbot does not use it
    except ImportError:
        jieba = None
        print("jieba is not installed (wxbot does not use it): `pip install jieba` to include the comparison")
    if jieba is not None and not args.no_jieba:
        code_j = ("import time;t=time.perf_counter();import jieba,logging;jieba.setLogLevel(logging.ERROR);"
                  "jieba.initialize();print((time.perf_counter()-t)*1e3)")
        print(f"jieba import + initialize (dictionary load), cold process: {cold_import_ms(code_j):.0f} ms")
        import logging

        jieba.setLogLevel(logging.ERROR)
        jieba.initialize()
        mean, _, _ = time_per_call(lambda t: jieba.lcut(t), msgs, 3)
        print(f"jieba.lcut alone: {mean:.1f} µs/message (before any scoring)")


if __name__ == "__main__":
    main()
