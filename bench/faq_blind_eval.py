#!/usr/bin/env python3
"""Run a blind FAQ evaluation set through the real webhook (signed requests into the app, a real
Redis) and print right / wrong / fallback per style, password and order-report routing, off-topic.

    python bench/faq_blind_eval.py tests/data/faq_eval_blind_heldout.yaml [--misses]

``--misses`` also prints each FAQ question answered otherwise, password request and order report that
missed its route, with the start of the reply it got: for tune sets only (reading a held-out or final set's misses is tuning on it).

The set's format: ``on_topic: {entry: [{text, style}]}``, ``password``, ``order_reports``, ``off_topic``.
"""
from __future__ import annotations

import collections
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from wxbot import create_app  # noqa: E402
from wxbot.settings import Settings  # noqa: E402
from wxbot.stores.redis import redis_server_binary  # noqa: E402
from wxbot.testing import WeChatSimulator, flask_transport  # noqa: E402


def main(path: str, show_misses: bool = False) -> int:
    data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    work = Path(tempfile.mkdtemp(prefix="wxeval-"))
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([redis_server_binary(), "--port", str(port), "--bind", "127.0.0.1", "--dir", str(work),
                             "--save", "", "--appendonly", "no"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(0.3)  # the server starting: a measurement script, not a test
    try:
        settings = Settings.from_env({"WECHAT_TOKEN": "evaltoken", "REDIS_URL": f"redis://127.0.0.1:{port}/0",
                                      "WXBOT_CONFIG_DIR": str(ROOT / "config"), "WXBOT_DATA_DIR": str(work / "d")})
        app = create_app(settings)
        bot = app.extensions["wxbot"]
        bot.features.password.passwords.rotate("cli", "eval", "EvalPw2345")
        faq = bot.features.faq.knowledge.get()
        answers = {e.id: e.answer for e in faq.entries}
        sim = WeChatSimulator(flask_transport(app.test_client()), settings.wechat_token)
        pw_reply = sim.text("oEvalSetup", "密码").content
        n = [0]

        def ask(text: str):
            n[0] += 1
            openid = f"oEval{n[0]:08d}"
            return sim.text(openid, text).content or ""

        by_style: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
        total = collections.Counter()
        confusions = collections.Counter()
        for entry, items in (data.get("on_topic") or {}).items():
            for item in items:
                text, style = (item["text"], item.get("style", "-")) if isinstance(item, dict) else (item, "-")
                reply = ask(text)
                if reply == answers.get(entry):
                    verdict = "right"
                else:
                    hit = next((e for e, a in answers.items() if a == reply), None)
                    if hit is not None:
                        verdict = "wrong"
                        confusions[(entry, hit)] += 1
                    elif "EvalPw2345" in reply or "登记" in reply:
                        verdict = "wrong"
                        confusions[(entry, "password" if "EvalPw2345" in reply else "tickets")] += 1
                    else:
                        verdict = "fallback"  # fallback, "which one did you mean?", greeting
                by_style[style][verdict] += 1
                total[verdict] += 1
                if show_misses and verdict != "right":
                    print(f"  missed {entry} ({verdict}): {text!r} -> {reply[:40]!r}")
        pw = 0
        for item in data.get("password") or []:
            text = item["text"] if isinstance(item, dict) else item
            reply = ask(text)
            pw += "EvalPw2345" in reply
            if show_misses and "EvalPw2345" not in reply:
                print(f"  missed password: {text!r} -> {reply[:40]!r}")
        orders = data.get("order_reports") or []
        opened = 0
        for item in orders:
            text = item["text"] if isinstance(item, dict) else item
            reply = ask(text)
            ok = ("登记" in reply or "工单" in reply) and reply not in answers.values()
            opened += ok
            if show_misses and not ok:
                print(f"  missed order report: {text!r} -> {reply[:40]!r}")
        off = data.get("off_topic") or []
        specific = routed = 0
        for item in off:
            text = item["text"] if isinstance(item, dict) else item
            reply = ask(text)
            hit = next((e for e, a in answers.items() if a == reply), None)
            specific += hit is not None
            to_route = hit is None and ("EvalPw2345" in reply or "登记" in reply)
            routed += to_route
            if show_misses and (hit is not None or to_route):
                print(f"  off-topic answered ({hit or 'password/report'}): {text!r}")
        q = sum(total.values())
        if q:
            print(f"{path}: FAQ questions {q}: right {total['right']} ({total['right'] / q:.1%}), wrong {total['wrong']} "
                  f"({total['wrong'] / q:.1%}), no answer {total['fallback']}")
        for style, c in sorted(by_style.items()):
            s = sum(c.values())
            print(f"  {style:12s} {c['right']:3d}/{s:<3d} {c['right'] / s:6.1%}  wrong {c['wrong']}")
        print(f"password requests answered with the password: {pw}/{len(data.get('password') or [])}"
              f" (reference reply starts: {pw_reply[:20]!r})")
        print(f"order reports that opened a report: {opened}/{len(orders)}")
        print(f"off-topic answered with a specific FAQ fact: {specific}/{len(off)}")
        if off:
            print(f"off-topic given the password or a report: {routed}/{len(off)}")
        for (a, b), k in confusions.most_common(10):
            print(f"  confused {a} -> {b}: {k}")
    finally:
        proc.terminate()
        proc.wait(5)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1], "--misses" in sys.argv[2:]))
