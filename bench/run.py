#!/usr/bin/env python3
"""wxbot's benchmark: server CPU per request against a floor, measured in the same run.

Starts a real Redis, the floor app (bench/floor.py) and wxbot (plaintext and safe mode) under identical
gunicorn settings (sync workers, -w 2, 127.0.0.1), then loads them from a separate load generator
(wrk when installed, else a Python one), interleaving floor and bot runs and repeating them. Every
request is unique and real: a fresh MsgId, nonce and valid signature, many followers, current
timestamps. Replies are checked for correctness before anything is timed.

    python bench/run.py                      # full run (about 4 minutes)
    python bench/run.py --smoke              # seconds; what the test suite runs (asserts no timings)

Reports per workload: server CPU µs per request (utime+stime of the gunicorn master and workers over
the run, divided by requests), the ratio to the floor's, req/s, p50/p99 latency, errors.
"""
from __future__ import annotations

import argparse
import http.client
import os
import platform
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from wxbot.stores.redis import redis_server_binary  # noqa: E402
from wxbot.testing import WeChatSimulator, httpx_transport  # noqa: E402
from wxbot.wechat.protocol import b64_aes_key  # noqa: E402

TOKEN = "benchtoken"
AES_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
APP_ID = "wx2c2769f8efd9abc2"
PASSWORD = "BenchPw7x9K"
CLK_TCK = os.sysconf("SC_CLK_TCK")

def faq_questions() -> list[tuple[str, str]]:
    """Followers' own words from the FAQ evaluation set (its tuning part), with the start of the answer
    each must get; entries that are really features (password, tickets) are left out."""
    import yaml

    faq = yaml.safe_load((ROOT / "config" / "faq.yaml").read_text(encoding="utf-8"))
    answers = {e["id"]: e["answer"].strip().splitlines()[0][:12] for e in faq["entries"] if not e.get("route")}
    data = yaml.safe_load((ROOT / "tests" / "data" / "faq_eval_tune.yaml").read_text(encoding="utf-8"))
    return [(text, answers[eid]) for eid, texts in data["on_topic"].items() if eid in answers for text in texts]


FAQ_QUESTIONS = faq_questions()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(port: int, path: str = "/healthz", timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
            conn.request("GET", path)
            conn.getresponse().read()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"server on port {port} did not start")


def proc_cpu(pid: int) -> float:
    """utime+stime (seconds) of a process and all its descendants that are alive."""
    total = 0.0
    pids = [pid]
    for child in _children(pid):
        pids.append(child)
    for p in pids:
        try:
            with open(f"/proc/{p}/stat") as fh:
                fields = fh.read().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / CLK_TCK
        except (FileNotFoundError, ProcessLookupError, IndexError):
            pass
    return total


def _children(pid: int) -> list[int]:
    out = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as fh:
                ppid = int(fh.read().rsplit(")", 1)[1].split()[1])
        except (FileNotFoundError, ProcessLookupError, IndexError, ValueError):
            continue
        if ppid == pid:
            out.append(int(entry))
            out.extend(_children(int(entry)))
    return out


@dataclass
class Server:
    name: str
    proc: subprocess.Popen
    port: int

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()


def gunicorn(name: str, app: str, env: dict, workdir: Path, workers: int) -> Server:
    port = free_port()
    log = open(workdir / f"{name}.log", "wb")
    # Identical settings for floor and bot: sync workers, no access log, same worker count.
    proc = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "--workers", str(workers), "--worker-class", "sync",
         "--bind", f"127.0.0.1:{port}", "--log-level", "warning", app],
        env=env, cwd=str(ROOT), stdout=log, stderr=log,
    )
    log.close()
    wait_http(port, "/healthz" if "wxbot" in app else "/wechat-none")
    return Server(name, proc, port)


def bot_env(base: dict, redis_url: str, data: Path, safe: bool) -> dict:
    env = dict(base)
    env.update({
        "WECHAT_TOKEN": TOKEN, "REDIS_URL": redis_url, "WXBOT_CONFIG_DIR": str(ROOT / "config"),
        "WXBOT_DATA_DIR": str(data), "WECHAT_APP_ID": APP_ID, "WXBOT_LOG_LEVEL": "INFO",
        "PROMETHEUS_MULTIPROC_DIR": str(data / ("metrics-safe" if safe else "metrics")),
    })
    if safe:
        env["WECHAT_ENCODING_AES_KEY"] = AES_KEY
    Path(env["PROMETHEUS_MULTIPROC_DIR"]).mkdir(parents=True, exist_ok=True)
    return env


# -- workloads ----------------------------------------------------------------------------------

@dataclass
class Workload:
    name: str
    safe: bool
    marker: str  # a byte string every correct bot reply contains (checked by the load generator)

    def fields(self, sim: WeChatSimulator, i: int, openid: str) -> dict:
        if self.name == "password_click":
            return sim.event_fields(openid, "CLICK", "PASSWORD")
        if self.name == "faq":
            return sim.text_fields(openid, FAQ_QUESTIONS[i % len(FAQ_QUESTIONS)][0])
        return sim.text_fields(openid, "密码")


WORKLOADS = {
    "password_text": Workload("password_text", False, PASSWORD),
    "password_click": Workload("password_click", False, PASSWORD),
    "faq": Workload("faq", False, "<Content>"),
    "safe_password": Workload("safe_password", True, "<Encrypt>"),
}


def make_sim(port: int | None, safe: bool) -> WeChatSimulator:
    transport = httpx_transport(f"http://127.0.0.1:{port}") if port else (lambda *a: (0, b""))
    return WeChatSimulator(transport, TOKEN, b64_aes_key(AES_KEY) if safe else None, APP_ID if safe else None)


def write_requests(path: Path, workload: Workload, n: int, followers: int) -> None:
    sim = make_sim(None, workload.safe)
    # Events are deduplicated on FromUserName+CreateTime+Event+EventKey: give each click its own
    # follower-second by spreading followers widely.
    with open(path, "w", encoding="utf-8") as fh:
        for i in range(n):
            openid = f"oBench{(i % followers):08d}{'x' * 14}"
            fields = workload.fields(sim, i, openid)
            if workload.name == "password_click":
                fields["FromUserName"] = f"oBenchClick{i:010d}xxxxxxx"
            req_path, body = sim.build_request(fields)
            fh.write(req_path + "\t" + body.decode("utf-8").replace("\n", "\\n") + "\n")


def precheck(port: int, workload: Workload, redis_url: str) -> None:
    """Correctness before timing: real replies, right content, retries answered once with one side
    effect (the follower's message counter counts the message once)."""
    import redis

    client = redis.Redis.from_url(redis_url, decode_responses=True)
    with make_sim(port, workload.safe) as sim:
        for i in range(len(FAQ_QUESTIONS) if workload.name == "faq" else 2):
            openid = f"oPrecheck{i:04d}{workload.name}"
            fields = workload.fields(sim, i, openid)
            replies = [sim.send(fields) for _ in range(4)]  # the first delivery and WeChat's 3 retries
            contents = {r.content for r in replies}
            if len(contents) != 1 or not replies[0].content:
                raise SystemExit(f"precheck {workload.name}: inconsistent or empty replies {contents}")
            counted = client.get(f"wxbot:rl:msg:{fields['FromUserName']}")
            if counted != "1":
                raise SystemExit(f"precheck {workload.name}: 4 deliveries of one message counted {counted} times")
            content = replies[0].content
            if workload.name == "faq":
                expected = FAQ_QUESTIONS[i][1]
                if expected not in content:
                    raise SystemExit(f"precheck faq: {FAQ_QUESTIONS[i][0]!r} answered {content[:60]!r}")
            elif PASSWORD not in content:
                raise SystemExit(f"precheck {workload.name}: password missing from {content[:80]!r}")


# -- load generators ----------------------------------------------------------------------------

def run_wrk(port: int, req_file: Path, duration: float, conns: int, threads: int, marker: str) -> dict:
    env = dict(os.environ, WXBENCH_REQUESTS=str(req_file), WXBENCH_THREADS=str(threads), WXBENCH_MARKER=marker)
    out = subprocess.run(
        ["wrk", "-t", str(threads), "-c", str(conns), "-d", f"{max(1, round(duration))}s", "--timeout", "5s",
         "-s", str(ROOT / "bench" / "wrk_replay.lua"), f"http://127.0.0.1:{port}/"],
        env=env, capture_output=True, text=True, timeout=duration + 60,
    ).stdout
    vals = dict(re.findall(r"(\w+)=(\d+)", " ".join(line for line in out.splitlines() if line.startswith("WXBENCH"))))
    if "requests" not in vals:
        raise SystemExit("wrk failed:\n" + out)
    return {"requests": int(vals["requests"]), "errors": int(vals["errors"]) + int(vals["bad"]),
            "wrapped": int(vals["wrapped"]), "p50_ms": int(vals["p50_us"]) / 1000, "p99_ms": int(vals["p99_us"]) / 1000,
            "seconds": int(vals["duration_us"]) / 1e6}


def run_python(port: int, req_file: Path, duration: float, conns: int, marker: str) -> dict:
    """A keep-alive Python load generator (used when wrk is not installed, e.g. the smoke test)."""
    lines = req_file.read_text(encoding="utf-8").splitlines()
    marker_b = marker.encode()
    lat: list[float] = []
    counts = {"requests": 0, "errors": 0, "wrapped": 0}
    lock = threading.Lock()
    stop_at = time.monotonic() + duration

    def worker(k: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        i = k
        local_lat, n, errors, wrapped = [], 0, 0, 0
        while time.monotonic() < stop_at:
            path, body = lines[i].split("\t", 1)
            i += conns
            if i >= len(lines):
                i, wrapped = k, wrapped + 1
            t0 = time.perf_counter()
            try:
                conn.request("POST", path, body.replace("\\n", "\n").encode(), {"Content-Type": "text/xml"})
                resp = conn.getresponse()
                data = resp.read()
                ok = resp.status == 200 and marker_b in data
            except OSError:
                ok = False
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            local_lat.append(time.perf_counter() - t0)
            n += 1
            errors += not ok
        conn.close()
        with lock:
            lat.extend(local_lat)
            counts["requests"] += n
            counts["errors"] += errors
            counts["wrapped"] += wrapped

    started = time.monotonic()
    ts = [threading.Thread(target=worker, args=(k,)) for k in range(conns)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    lat.sort()
    pick = lambda q: lat[min(len(lat) - 1, int(q * len(lat)))] * 1000 if lat else 0.0  # noqa: E731
    return dict(counts, p50_ms=pick(0.50), p99_ms=pick(0.99), seconds=time.monotonic() - started)


# -- main ---------------------------------------------------------------------------------------

@dataclass
class Result:
    workload: str
    app: str
    cpu_us: list[float] = field(default_factory=list)
    rps: list[float] = field(default_factory=list)
    p50: list[float] = field(default_factory=list)
    p99: list[float] = field(default_factory=list)
    errors: int = 0
    requests: int = 0
    wrapped: int = 0


def measure(server: Server, req_file: Path, args, marker: str, use_wrk: bool) -> dict:
    before = proc_cpu(server.proc.pid)
    if use_wrk:
        r = run_wrk(server.port, req_file, args.duration, args.connections, args.threads, marker)
    else:
        r = run_python(server.port, req_file, args.duration, args.connections, marker)
    r["cpu"] = proc_cpu(server.proc.pid) - before
    return r


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--duration", type=float, default=10.0, help="seconds per run")
    p.add_argument("--rounds", type=int, default=3, help="interleaved floor/bot repetitions")
    p.add_argument("--connections", type=int, default=32)
    p.add_argument("--threads", type=int, default=2, help="wrk threads")
    p.add_argument("--workers", type=int, default=2, help="gunicorn sync workers for both apps")
    p.add_argument("--workloads", default=",".join(WORKLOADS))
    p.add_argument("--loadgen", choices=["auto", "wrk", "python"], default="auto")
    p.add_argument("--rate-hint", type=int, default=9000, help="requests/s to prepare per run (upper bound)")
    p.add_argument("--redis", choices=["unix", "tcp"], default="unix",
                   help="unix socket (what the embedded default uses) or TCP on 127.0.0.1")
    p.add_argument("--smoke", action="store_true", help="tiny run for the test suite (no timing claims)")
    p.add_argument("--out", default=str(ROOT / "bench" / "results"))
    args = p.parse_args(argv)
    if args.smoke:
        args.duration, args.rounds, args.connections, args.rate_hint = 1.0, 1, 4, 9000
    use_wrk = args.loadgen == "wrk" or (args.loadgen == "auto" and shutil.which("wrk") is not None)
    workloads = [WORKLOADS[w] for w in args.workloads.split(",")]

    work = Path(tempfile.mkdtemp(prefix="wxbench-"))
    base_env = {k: v for k, v in os.environ.items() if not k.startswith(("WECHAT_", "WXBOT_", "REDIS_"))}
    redis_port = free_port()
    sock = work / "redis.sock"
    redis_proc = subprocess.Popen(
        [redis_server_binary(), "--port", str(redis_port), "--bind", "127.0.0.1", "--dir", str(work),
         "--unixsocket", str(sock), "--appendonly", "yes", "--appendfsync", "everysec", "--save", ""],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    redis_url = f"unix://{sock}" if args.redis == "unix" else f"redis://127.0.0.1:{redis_port}/0"
    servers: list[Server] = []
    try:
        time.sleep(0.3)
        env_plain = bot_env(base_env, redis_url, work / "data", safe=False)
        subprocess.run([sys.executable, "-m", "wxbot.cli", "password", "set", PASSWORD], env=env_plain, check=True,
                       cwd=str(ROOT), capture_output=True, timeout=60)
        floor = gunicorn("floor", "bench.floor:create_app()", base_env, work, args.workers)
        bot = gunicorn("bot", "wxbot:create_app()", env_plain, work, args.workers)
        servers += [floor, bot]
        if any(w.safe for w in workloads):
            bot_safe = gunicorn("bot_safe", "wxbot:create_app()", bot_env(base_env, redis_url, work / "data", True),
                                work, args.workers)
            servers.append(bot_safe)
        n = int(args.rate_hint * args.duration) + 1000
        results: dict[tuple[str, str], Result] = {}
        for w in workloads:
            target = bot_safe if w.safe else bot
            precheck(target.port, w, redis_url)
        for rnd in range(args.rounds):
            for w in workloads:
                target = bot_safe if w.safe else bot
                for app, server, marker in (("floor", floor, "floor"), ("bot", target, w.marker)):
                    req_file = work / f"{w.name}-{app}-{rnd}.tsv"
                    write_requests(req_file, w, n, followers=max(100, n // 3))
                    r = measure(server, req_file, args, marker, use_wrk)
                    res = results.setdefault((w.name, app), Result(w.name, app))
                    res.cpu_us.append(r["cpu"] / max(1, r["requests"]) * 1e6)
                    res.rps.append(r["requests"] / r["seconds"])
                    res.p50.append(r["p50_ms"])
                    res.p99.append(r["p99_ms"])
                    res.errors += r["errors"]
                    res.requests += r["requests"]
                    res.wrapped += r["wrapped"] if app == "bot" else 0
                    req_file.unlink()
                    print(f"round {rnd + 1} {w.name:15s} {app:5s} {r['requests']:7d} req "
                          f"{res.cpu_us[-1]:7.0f} µs CPU/req p99 {r['p99_ms']:.1f} ms errors {r['errors']}",
                          flush=True)
        report = render(results, workloads, args, use_wrk)
        print(report)
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        stamp = time.strftime("%Y%m%d-%H%M%S")
        (out / f"bench-{stamp}{'-smoke' if args.smoke else ''}.md").write_text(report, encoding="utf-8")
        bad = sum(r.errors for r in results.values())
        return 1 if bad else 0
    finally:
        for s in servers:
            s.stop()
        redis_proc.terminate()
        redis_proc.wait(10)
        shutil.rmtree(work, ignore_errors=True)


def render(results: dict, workloads: list, args, use_wrk: bool) -> str:
    med = statistics.median
    lines = [
        f"wxbot benchmark {time.strftime('%Y-%m-%d %H:%M')} — {platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}; gunicorn sync -w {args.workers}; {args.connections} connections; "
        f"{args.rounds} interleaved rounds of {args.duration:g} s; load: {'wrk' if use_wrk else 'python'}; "
        f"Redis over {'a unix socket' if args.redis == 'unix' else 'TCP'} (appendonly everysec)",
        "",
        "| workload | floor µs CPU/req | bot µs CPU/req | ratio | bot req/s | bot p50 ms | bot p99 ms | errors |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for w in workloads:
        f, b = results[(w.name, "floor")], results[(w.name, "bot")]
        ratio = med(b.cpu_us) / med(f.cpu_us)
        lines.append(f"| {w.name} | {med(f.cpu_us):.0f} | {med(b.cpu_us):.0f} | {ratio:.2f}× | {med(b.rps):.0f} | "
                     f"{med(b.p50):.1f} | {med(b.p99):.1f} | {b.errors} |")
    wrapped = sum(r.wrapped for r in results.values())
    lines.append("")
    lines.append(f"Medians over rounds. Bot requests sent more than once (should be 0): {wrapped}. Before timing, "
                 "each workload's replies were checked, and 4 deliveries of one message counted once.")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
