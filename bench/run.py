#!/usr/bin/env python3
"""wxbot's benchmark: server CPU per request against a floor and a WeRoBot peer, measured in the same run.

Starts a real Redis and, under identical gunicorn settings (sync workers, -w 2, 127.0.0.1), three
apps: the floor (bench/floor.py, a fixed reply to any POST), the WeRoBot peer (bench/werobot_peer.py:
WeRoBot 1.13.1 whose 【密码】 handler does one redis-py GET) and wxbot, the last two in plaintext and
in safe mode with the same token, EncodingAESKey and app id. It loads them from a separate load
generator (wrk when installed, else a Python one), interleaving floor, WeRoBot and wxbot runs (the
order rotates each round) and repeating them. Every request is unique and real: a fresh MsgId, nonce
and valid signature, many followers, current timestamps. Replies are checked for correctness before
anything is timed: the password (in safe mode: an envelope that decrypts and verifies), the FAQ entry
each question must get, and for wxbot 4 deliveries of one message counted once.

    pip install werobot==1.13.1              # the peer; without it the WeRoBot columns are skipped
    python bench/run.py                      # full run (about 4½ minutes)
    python bench/run.py --smoke              # seconds; what the test suite runs (asserts no timings)

Workloads: password_text (the text 密码), password_click (the menu click), faq (followers' own
wording from tests/data/faq_eval_tune.yaml, 243 texts repeated: what wxbot's FAQ result cache hits),
faq_unique (the same questions, every text made distinct by a filler prefix and a number, so each one
misses that cache), safe_password (密码 in safe mode). WeRoBot has no FAQ: its FAQ cells are "—".

Reports per workload: server CPU µs per request (utime+stime of the gunicorn master and workers over
the run, divided by requests) for floor, WeRoBot and wxbot, the ratios wxbot/floor, WeRoBot/floor and
wxbot/WeRoBot (medians over rounds), then req/s, p50/p99 latency and errors per app, and the "other
load": cores kept busy during each run by anything outside the benchmark (machine-wide busy time from
/proc/stat less the CPU of this process, its servers, Redis and wrk; the kernel's loopback softirq work
shows there as a few hundredths of a core). Above 0.1 cores the report warns that the figures are noisy.
"""
from __future__ import annotations

import argparse
import http.client
import importlib.metadata
import importlib.util
import itertools
import os
import platform
import re
import resource
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

# The only imports from the wxbot package. The servers themselves are started as
# `wxbot:create_app()` and the password is set with `python -m wxbot.cli`.
from wxbot.stores.redis import redis_server_binary  # noqa: E402
from wxbot.testing import WeChatSimulator, httpx_transport  # noqa: E402
from wxbot.wechat.protocol import b64_aes_key  # noqa: E402

TOKEN = "benchtoken"
AES_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
APP_ID = "wx2c2769f8efd9abc2"
PASSWORD = "BenchPw7x9K"
PEER_PASSWORD_KEY = "wxbench:werobot:password"  # the WeRoBot peer's own key: one GET, a plain string
WEROBOT_VERSION = "1.13.1"
CLK_TCK = os.sysconf("SC_CLK_TCK")
APPS = ("floor", "werobot", "wxbot")
APP_TITLES = {"floor": "floor", "werobot": "WeRoBot", "wxbot": "wxbot"}


def faq_questions() -> list[tuple[str, str]]:
    """Followers' own words from the FAQ evaluation set (its tuning part), with the start of the answer
    each must get; entries that are really features (password, tickets) are left out."""
    import yaml

    faq = yaml.safe_load((ROOT / "config" / "faq.yaml").read_text(encoding="utf-8"))
    answers = {e["id"]: e["answer"].strip().splitlines()[0][:12] for e in faq["entries"] if not e.get("route")}
    data = yaml.safe_load((ROOT / "tests" / "data" / "faq_eval_tune.yaml").read_text(encoding="utf-8"))
    pairs = [(eid, text) for eid, texts in data["on_topic"].items() if eid in answers for text in texts]
    # A cost benchmark, not an accuracy one: only the questions the shipped FAQ answers with any opener
    # and a number after them (faq_unique's texts), so every reply can be checked.
    from wxbot.defaults import Faq as FaqInternals
    from wxbot.features.faq.knowledge import match_options
    from wxbot.features.faq.matcher import compile_faq
    from wxbot.folder import shipped_config
    from wxbot.policy import load_bot_config

    matcher = compile_faq(faq, match_options(load_bot_config(shipped_config()).faq, FaqInternals()))

    def answered(eid: str, text: str) -> bool:
        return all((r := matcher.match(f"{p}{text}（1）")).kind == "answer" and r.entry is not None and r.entry.id == eid
                   for p in FAQ_PREFIXES)

    return [(text, answers[eid]) for eid, text in pairs if answered(eid, text)]


# Meaning-neutral openers for the unique FAQ texts (followers write them; the matcher drops them).
FAQ_PREFIXES = ("", "请问", "想问一下，", "那个，", "麻烦问下：")
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
    health: str

    def wait_ready(self) -> None:
        wait_http(self.port, self.health)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()


def gunicorn(name: str, app: str, env: dict, workdir: Path, workers: int) -> Server:
    """Start ``app`` under gunicorn (not waiting: the servers start side by side; ``Server.wait_ready``)."""
    port = free_port()
    log = open(workdir / f"{name}.log", "wb")
    # Identical settings for floor and bot: sync workers, no access log, same worker count.
    proc = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "--workers", str(workers), "--worker-class", "sync",
         "--bind", f"127.0.0.1:{port}", "--log-level", "warning", app],
        env=env, cwd=str(ROOT), stdout=log, stderr=log,
    )
    log.close()
    return Server(name, proc, port, "/healthz" if "wxbot" in app else "/wechat-none")


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


def peer_env(base: dict, redis_url: str, safe: bool) -> dict:
    """The WeRoBot peer's settings: the same token (and in safe mode AES key and app id) as wxbot's."""
    env = dict(base)
    env.update({"WXBENCH_PEER_TOKEN": TOKEN, "WXBENCH_PEER_REDIS_URL": redis_url,
                "WXBENCH_PEER_PASSWORD_KEY": PEER_PASSWORD_KEY})
    if safe:
        env.update({"WXBENCH_PEER_AES_KEY": AES_KEY, "WXBENCH_PEER_APP_ID": APP_ID})
    return env


def werobot_status() -> tuple[str | None, str]:
    """(version, note): the installed WeRoBot's version, or None and why it is skipped."""
    if importlib.util.find_spec("werobot") is None:
        return None, (f"WeRoBot peer skipped: werobot is not installed in this Python "
                      f"(pip install werobot=={WEROBOT_VERSION})")
    version = importlib.metadata.version("werobot")
    note = f"WeRoBot {version} on Bottle {importlib.metadata.version('bottle')}"
    if version != WEROBOT_VERSION:
        note += f" (the bench is meant for {WEROBOT_VERSION}: pip install werobot=={WEROBOT_VERSION})"
    return version, note


# -- workloads ----------------------------------------------------------------------------------

_faq_serial = itertools.count(1)  # one counter for the whole run: no unique text is ever sent twice


def unique_faq_text(i: int, serial: int) -> str:
    """Question ``i`` (cycling) with a rotating filler opener and a number: distinct for every serial."""
    n = len(FAQ_QUESTIONS)
    prefix = FAQ_PREFIXES[(i + i // n) % len(FAQ_PREFIXES)]
    return f"{prefix}{FAQ_QUESTIONS[i % n][0]}（{serial}）"


@dataclass
class Workload:
    name: str
    safe: bool
    marker: str  # a byte string every correct bot reply contains (checked by the load generator)
    peer: bool  # the WeRoBot peer implements it (the password feature; it has no FAQ)

    def fields(self, sim: WeChatSimulator, i: int, openid: str) -> dict:
        if self.name == "password_click":
            return sim.event_fields(openid, "CLICK", "PASSWORD")
        if self.name == "faq":
            return sim.text_fields(openid, FAQ_QUESTIONS[i % len(FAQ_QUESTIONS)][0])
        if self.name == "faq_unique":
            return sim.text_fields(openid, unique_faq_text(i, next(_faq_serial)))
        return sim.text_fields(openid, "密码")

    def expected(self, i: int) -> str:
        """What the reply to message ``i`` must contain."""
        if self.name.startswith("faq"):
            return FAQ_QUESTIONS[i % len(FAQ_QUESTIONS)][1]
        return PASSWORD

    def precheck_count(self) -> int:
        return len(FAQ_QUESTIONS) if self.name.startswith("faq") else 2


WORKLOADS = {
    "password_text": Workload("password_text", False, PASSWORD, True),
    "password_click": Workload("password_click", False, PASSWORD, True),
    "faq": Workload("faq", False, "<Content>", False),
    "faq_unique": Workload("faq_unique", False, "<Content>", False),
    "safe_password": Workload("safe_password", True, "<Encrypt>", True),
}


def make_sim(port: int | None, safe: bool) -> WeChatSimulator:
    transport = httpx_transport(f"http://127.0.0.1:{port}") if port else (lambda *a: (0, b""))
    return WeChatSimulator(transport, TOKEN, b64_aes_key(AES_KEY) if safe else None, APP_ID if safe else None)


def write_requests(path: Path, workload: Workload, n: int, followers: int) -> None:
    sim = make_sim(None, workload.safe)
    texts: set[str] = set()
    # Events are deduplicated on FromUserName+CreateTime+Event+EventKey: give each click its own
    # follower-second by spreading followers widely.
    with open(path, "w", encoding="utf-8") as fh:
        for i in range(n):
            openid = f"oBench{(i % followers):08d}{'x' * 14}"
            fields = workload.fields(sim, i, openid)
            if workload.name == "password_click":
                fields["FromUserName"] = f"oBenchClick{i:010d}xxxxxxx"
            if workload.name == "faq_unique":
                texts.add(fields["Content"])
            req_path, body = sim.build_request(fields)
            fh.write(req_path + "\t" + body.decode("utf-8").replace("\n", "\\n") + "\n")
    if workload.name == "faq_unique" and len(texts) != n:
        raise SystemExit(f"faq_unique: {n - len(texts)} of {n} texts are repeats")


def precheck(port: int, workload: Workload, redis_url: str) -> None:
    """wxbot's correctness before timing: real replies, right content, retries answered once with one
    side effect (the follower's message counter counts the message once)."""
    import redis

    client = redis.Redis.from_url(redis_url, decode_responses=True)
    with make_sim(port, workload.safe) as sim:
        for i in range(workload.precheck_count()):
            openid = f"oPrecheck{i:04d}{workload.name}"
            fields = workload.fields(sim, i, openid)
            replies = _send("wxbot", workload, sim, fields, 4)  # the first delivery and WeChat's 3 retries
            _one_reply("wxbot", workload, fields, replies, i)
            counted = client.get(f"wxbot:rl:msg:{fields['FromUserName']}")
            if counted != "1":
                raise SystemExit(f"precheck {workload.name}: 4 deliveries of one message counted {counted} times")


def precheck_peer(port: int, workload: Workload) -> None:
    """The WeRoBot peer's correctness before timing: the password in every reply and, in safe mode, an
    envelope whose MsgSignature verifies and that decrypts to a reply addressed to the follower (the
    simulator checks both, as WeChat does). The peer has no deduplication: a retry is answered again."""
    with make_sim(port, workload.safe) as sim:
        for i in range(workload.precheck_count()):
            fields = workload.fields(sim, i, f"oPeerCheck{i:04d}{workload.name}")
            replies = _send("WeRoBot", workload, sim, fields, 2)
            for r in replies:
                if workload.safe and b"<Encrypt>" not in r.body:
                    raise SystemExit(f"precheck {workload.name} (WeRoBot): not an encrypted reply: "
                                     f"HTTP {r.status} {r.body[:80]!r}")
            _one_reply("WeRoBot", workload, fields, replies, i)


def _send(app: str, workload: Workload, sim: WeChatSimulator, fields: dict, times: int) -> list:
    try:
        return [sim.send(fields) for _ in range(times)]
    except AssertionError as exc:  # the simulator's ReplyError: not a reply WeChat would accept
        raise SystemExit(f"precheck {workload.name} ({app}): {exc}") from None


def _one_reply(app: str, workload: Workload, fields: dict, replies: list, i: int) -> None:
    contents = {r.content for r in replies}
    if len(contents) != 1 or not replies[0].content:
        raise SystemExit(f"precheck {workload.name} ({app}): inconsistent or empty replies {contents}")
    content = replies[0].content
    if workload.expected(i) not in content:
        raise SystemExit(f"precheck {workload.name} ({app}): {fields.get('Content', fields.get('EventKey'))!r} "
                         f"answered {content[:80]!r}, expected {workload.expected(i)!r}")


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
    other: list[float] = field(default_factory=list)
    errors: int = 0
    requests: int = 0
    wrapped: int = 0


def machine_busy() -> float:
    """CPU seconds every core of the machine spent busy since boot (/proc/stat, guest time excluded)."""
    with open("/proc/stat") as fh:
        user, nice, system, _idle, _iowait, irq, softirq, steal = (int(x) for x in fh.readline().split()[1:9])
    return (user + nice + system + irq + softirq + steal) / CLK_TCK


def bench_cpu() -> float:
    """CPU seconds of this process, its live descendants (servers, Redis) and its waited-for children (wrk)."""
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return proc_cpu(os.getpid()) + children.ru_utime + children.ru_stime


def measure(server: Server, req_file: Path, args, marker: str, use_wrk: bool) -> dict:
    busy0, ours0 = machine_busy(), bench_cpu()
    before = proc_cpu(server.proc.pid)
    if use_wrk:
        r = run_wrk(server.port, req_file, args.duration, args.connections, args.threads, marker)
    else:
        r = run_python(server.port, req_file, args.duration, args.connections, marker)
    r["cpu"] = proc_cpu(server.proc.pid) - before
    # CPU that something outside the benchmark used meanwhile, in cores: a noisy neighbour shows here.
    r["other_cores"] = max(0.0, (machine_busy() - busy0) - (bench_cpu() - ours0)) / r["seconds"]
    return r


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--duration", type=float, default=5.0, help="seconds per run")
    p.add_argument("--rounds", type=int, default=3, help="interleaved floor/WeRoBot/wxbot repetitions")
    p.add_argument("--connections", type=int, default=32)
    p.add_argument("--threads", type=int, default=2, help="wrk threads")
    p.add_argument("--workers", type=int, default=2, help="gunicorn sync workers for every app")
    p.add_argument("--workloads", default=",".join(WORKLOADS))
    p.add_argument("--no-werobot", action="store_true", help="leave the WeRoBot peer out")
    p.add_argument("--loadgen", choices=["auto", "wrk", "python"], default="auto")
    p.add_argument("--rate-hint", type=int, default=6000, help="requests/s to prepare per run (upper bound)")
    p.add_argument("--redis", choices=["unix", "tcp"], default="unix",
                   help="unix socket (what the embedded default uses) or TCP on 127.0.0.1")
    p.add_argument("--smoke", action="store_true", help="tiny run for the test suite (no timing claims)")
    p.add_argument("--out", default=str(ROOT / "bench" / "results"))
    args = p.parse_args(argv)
    if args.smoke:
        args.duration, args.rounds, args.connections, args.rate_hint = 0.5, 1, 4, 9000
    use_wrk = args.loadgen == "wrk" or (args.loadgen == "auto" and shutil.which("wrk") is not None)
    workloads = [WORKLOADS[w] for w in args.workloads.split(",")]
    werobot_version, werobot_note = werobot_status()
    if args.no_werobot:
        werobot_version, werobot_note = None, "WeRoBot peer left out (--no-werobot)"
    print(werobot_note, flush=True)

    started = time.monotonic()
    work = Path(tempfile.mkdtemp(prefix="wxbench-"))
    base_env = {k: v for k, v in os.environ.items() if not k.startswith(("WECHAT_", "WXBOT_", "REDIS_", "WXBENCH_"))}
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
        _set_peer_password(redis_url)
        # One server per (app, safe mode); the floor answers both kinds of request alike.
        targets: dict[tuple[str, bool], Server] = {}
        floor = gunicorn("floor", "bench.floor:create_app()", base_env, work, args.workers)
        servers.append(floor)
        for safe in sorted({w.safe for w in workloads}):
            targets[("floor", safe)] = floor
            suffix = "_safe" if safe else ""
            bot = gunicorn("wxbot" + suffix, "wxbot:create_app()", bot_env(base_env, redis_url, work / "data", safe),
                           work, args.workers)
            servers.append(bot)
            targets[("wxbot", safe)] = bot
            if werobot_version and any(w.peer and w.safe == safe for w in workloads):
                peer = gunicorn("werobot" + suffix, "bench.werobot_peer:create_app()",
                                peer_env(base_env, redis_url, safe), work, args.workers)
                servers.append(peer)
                targets[("werobot", safe)] = peer

        for server in servers:
            server.wait_ready()

        def apps_for(w: Workload) -> list[str]:
            return [a for a in APPS if (a, w.safe) in targets and (a != "werobot" or w.peer)]

        t0 = time.monotonic()
        for w in workloads:
            precheck(targets[("wxbot", w.safe)].port, w, redis_url)
            if "werobot" in apps_for(w):
                precheck_peer(targets[("werobot", w.safe)].port, w)
        print(f"replies checked in {time.monotonic() - t0:.1f} s (servers started in {t0 - started:.1f} s)", flush=True)
        n = int(args.rate_hint * args.duration) + 1000
        results: dict[tuple[str, str], Result] = {}
        for rnd in range(args.rounds):
            for w in workloads:
                apps = apps_for(w)
                apps = apps[rnd % len(apps):] + apps[:rnd % len(apps)]  # each app takes each place in turn
                for app in apps:
                    server = targets[(app, w.safe)]
                    marker = "floor" if app == "floor" else w.marker
                    req_file = work / f"{w.name}-{app}-{rnd}.tsv"
                    t0 = time.monotonic()
                    write_requests(req_file, w, n, followers=max(100, n // 3))
                    t1 = time.monotonic()
                    r = measure(server, req_file, args, marker, use_wrk)
                    t2 = time.monotonic()
                    res = results.setdefault((w.name, app), Result(w.name, app))
                    res.cpu_us.append(r["cpu"] / max(1, r["requests"]) * 1e6)
                    res.rps.append(r["requests"] / r["seconds"])
                    res.p50.append(r["p50_ms"])
                    res.p99.append(r["p99_ms"])
                    res.other.append(r["other_cores"])
                    res.errors += r["errors"]
                    res.requests += r["requests"]
                    res.wrapped += r["wrapped"] if app == "wxbot" else 0
                    req_file.unlink()
                    print(f"round {rnd + 1} {w.name:15s} {APP_TITLES[app]:7s} {r['requests']:7d} req "
                          f"{res.cpu_us[-1]:7.0f} µs CPU/req p99 {r['p99_ms']:.1f} ms errors {r['errors']} "
                          f"other load {r['other_cores']:.2f} cores "
                          f"(prepared in {t1 - t0:.1f} s, ran {t2 - t1:.1f} s)",
                          flush=True)
        report = render(results, workloads, args, use_wrk, werobot_note)
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


def _set_peer_password(redis_url: str) -> None:
    import redis

    redis.Redis.from_url(redis_url).set(PEER_PASSWORD_KEY, PASSWORD)


def render(results: dict, workloads: list, args, use_wrk: bool, werobot_note: str) -> str:
    med = statistics.median
    dash = "—"

    def cpu(w: Workload, app: str) -> float | None:
        r = results.get((w.name, app))
        return med(r.cpu_us) if r and r.cpu_us else None

    def num(x: float | None) -> str:
        return dash if x is None else f"{x:.0f}"

    def ratio(a: float | None, b: float | None) -> str:
        return dash if a is None or b is None else f"{a / b:.2f}×"

    lines = [
        f"wxbot benchmark {time.strftime('%Y-%m-%d %H:%M')} — {platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}; gunicorn sync -w {args.workers} for every app; "
        f"{args.connections} connections; {args.rounds} interleaved rounds of {args.duration:g} s; "
        f"load: {'wrk' if use_wrk else 'python'}; "
        f"Redis over {'a unix socket' if args.redis == 'unix' else 'TCP'} (appendonly everysec); {werobot_note}",
        "",
        "Server CPU µs per request (median over rounds) and ratios:",
        "",
        "| workload | floor | WeRoBot | wxbot | wxbot/floor | WeRoBot/floor | wxbot/WeRoBot | wxbot req/s "
        "| wxbot p50 ms | wxbot p99 ms | errors |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for w in workloads:
        f, p, b = cpu(w, "floor"), cpu(w, "werobot"), cpu(w, "wxbot")
        rb = results[(w.name, "wxbot")]
        errors = sum(results[(w.name, a)].errors for a in APPS if (w.name, a) in results)
        lines.append(f"| {w.name} | {num(f)} | {num(p)} | {num(b)} | {ratio(b, f)} | {ratio(p, f)} | {ratio(b, p)} | "
                     f"{med(rb.rps):.0f} | {med(rb.p50):.1f} | {med(rb.p99):.1f} | {errors} |")
    lines += [
        "",
        "Per app (µs CPU/req of each round, in order; medians of req/s and latency; other load: cores busy "
        "outside the benchmark during the app's runs, the largest):",
        "",
        "| workload / app | µs CPU/req by round | req/s | p50 ms | p99 ms | requests | errors | other load |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for w in workloads:
        for app in APPS:
            r = results.get((w.name, app))
            if r is None:
                continue
            lines.append(f"| {w.name} / {APP_TITLES[app]} | {' '.join(f'{x:.0f}' for x in r.cpu_us)} | "
                         f"{med(r.rps):.0f} | {med(r.p50):.1f} | {med(r.p99):.1f} | {r.requests} | {r.errors} | "
                         f"{max(r.other):.2f} |")
    wrapped = sum(r.wrapped for r in results.values())
    lines.append("")
    lines.append(f"wxbot requests sent more than once (should be 0): {wrapped}. Before timing, each workload's "
                 "replies were checked (the password, the FAQ entry each question must get, in safe mode an "
                 "envelope that verifies and decrypts), for wxbot 4 deliveries of one message counted once. "
                 "faq_unique: every text distinct (a filler opener and a number), so wxbot's FAQ result cache "
                 "never hits; WeRoBot has no FAQ (—).")
    other = [x for r in results.values() for x in r.other]
    if other and max(other) > 0.1:
        lines.append("")
        lines.append(f"Warning: something outside the benchmark kept up to {max(other):.2f} cores busy during runs "
                     f"(median {med(other):.2f}): CPU per request is inflated and noisy; rerun on a quiet machine.")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
