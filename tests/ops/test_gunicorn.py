"""The shipped gunicorn configuration, with a real gunicorn: metrics over all workers, an access log
without secrets, slow clients, graceful shutdown, and every entry point failing fast on bad config."""
from __future__ import annotations

import concurrent.futures
import glob
import os
import re
import signal
import socket
import time

import httpx
import pytest
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.parser import text_string_to_metric_families

from helpers.env import ADMIN, AES_KEY, APP_ID, CONFIG_DIR, TOKEN, make_env
from helpers.procs import Gunicorn, clean_env, fresh_transport, run_cli
from wxbot.testing import WeChatSimulator

OPENID = "oGunicornFollower000000000001"
BAD_TOKEN_LINE = "wxbot: 配置错误：WECHAT_TOKEN: 必须是 3-32 位字母或数字（公众号后台的要求）"


@pytest.fixture(scope="session")
def server(redis_server, tmp_path_factory):
    """One gunicorn for the tests that only talk to it (session-scoped: the shuffled order would restart
    a module-scoped one between any two of them; each start and stop costs about two seconds)."""
    env = make_env(redis_server, CONFIG_DIR, tmp_path_factory.mktemp("gdata"), safe=True)
    g = Gunicorn(env, workers=2).wait_ready()
    yield g
    g.stop()
    g.cleanup()


@pytest.fixture
def gsim(server) -> WeChatSimulator:
    return WeChatSimulator(fresh_transport(server.url), TOKEN, __import__("base64").b64decode(AES_KEY + "="), APP_ID)


def per_pid_messages(metrics_dir: str) -> dict[int, float]:
    out = {}
    for path in glob.glob(os.path.join(metrics_dir, "counter_*.db")):
        pid = int(re.search(r"counter_(\d+)\.db", path).group(1))
        total = sum(s.value for m in MultiProcessCollector.merge([path]) if m.name == "wxbot_messages"
                    for s in m.samples if s.name == "wxbot_messages_total")
        if total:
            out[pid] = total
    return out


def scraped_messages(url: str) -> float:
    text = httpx.get(url + "/metrics", timeout=5).text
    return sum(s.value for fam in text_string_to_metric_families(text) if fam.name == "wxbot_messages"
               for s in fam.samples if s.name == "wxbot_messages_total")


def test_metrics_cover_every_gunicorn_worker(server, gsim):
    assert len(server.worker_pids()) == 2
    base = scraped_messages(server.url)
    sent = 0
    with concurrent.futures.ThreadPoolExecutor(16) as pool:
        for _ in range(10):  # bursts of concurrent requests until both workers have served some
            replies = list(pool.map(lambda i: gsim.text(f"{OPENID}{i % 7}", "怎么买key"), range(16)))
            assert all(r.status == 200 and r.content for r in replies)
            sent += len(replies)
            if len(per_pid_messages(server.metrics_dir)) >= 2:
                break
    served = per_pid_messages(server.metrics_dir)
    assert len(served) >= 2, served
    # Every scrape (whichever worker answers it) shows the sum over all workers.
    for _ in range(4):
        assert scraped_messages(server.url) - base == sent


def test_access_log_and_app_log_carry_no_secrets(server, gsim):
    reply = gsim.text(OPENID, "密码")
    assert reply.status == 200
    path, body = gsim.build_request(gsim.text_fields(OPENID, "x"))
    tampered = path.replace("signature=", "signature=0", 1)
    assert httpx.post(server.url + tampered, content=body, timeout=5).status_code == 403
    httpx.get(server.url + "/wechat?" + "&".join(f"{k}={v}" for k, v in gsim.signed_query({"echostr": "echo7391846205"}).items()))

    def access_lines(out: str) -> list[str]:
        return [ln for ln in out.splitlines() if '"POST /wechat"' in ln or '"GET /wechat"' in ln]

    out = server.wait_output(lambda o: len(access_lines(o)) >= 3)  # gunicorn's log lines as they are flushed
    access = access_lines(out)
    assert all("?" not in ln for ln in access)
    assert re.search(r'"POST /wechat" 200 \d+B \d+ms', out)
    assert "msg rid=" in out  # the structured per-message line is there...
    query = dict(p.split("=", 1) for p in path.split("?", 1)[1].split("&"))
    for secret in (TOKEN, AES_KEY, OPENID, query["signature"], query["msg_signature"], "echo7391846205",
                   "signature=", "openid=", "nonce=", "timestamp="):
        assert secret not in out, secret  # ...without any secret


def test_slow_clients_do_not_stall_replies(server, gsim):
    """8 clients dribbling their bodies and 8 connected-but-silent ones hold threads; a normal request
    is still answered within WeChat's 5 s while they all still hold their connections."""
    held = []
    try:
        for i in range(16):
            s = socket.create_connection(("127.0.0.1", server.port))
            if i % 2 == 0:
                # a correctly signed URL, so the endpoint does read the body, which never comes
                path, _ = gsim.build_request(gsim.text_fields(f"oSlow{i:022d}", "密码"))
                s.sendall(f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n<xml>".encode())
            held.append(s)
        time.sleep(0.3)
        for i in range(6):
            # within WeChat's own 5 s (the simulator's timeout, as WeChat's servers wait), not after
            # the slow clients are dropped: each of them still holds its connection open afterwards
            reply = gsim.text(f"{OPENID}{i}", "怎么买key")
            assert reply.status == 200 and reply.content
        for s in held:
            s.setblocking(False)
            try:
                data = s.recv(1)
            except BlockingIOError:
                continue  # still open, nothing answered: the request above did not wait for it
            raise AssertionError(f"a slow client was answered or dropped first: {data!r}")
    finally:
        for s in held:
            s.close()


def test_timeouts_are_below_wechats_5_seconds(tmp_path):
    import subprocess
    import sys

    code = ("import wxbot.gunicorn_conf as c; from wxbot.defaults import Internals; d = Internals(); "
            "print(c.timeout, c.graceful_timeout, c.worker_class, c.threads, c.preload_app, "
            "d.webhook.reply_deadline, d.redis.socket_timeout, c.access_log_format)")
    out = subprocess.run([sys.executable, "-c", code],
                         env=clean_env({"PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "m")}), capture_output=True, text=True, timeout=30, check=True).stdout.split()
    timeout, graceful, worker_class, threads, preload, deadline, redis_timeout = out[:7]
    assert int(timeout) < 5 and float(deadline) < 5 and float(redis_timeout) < 1
    assert int(graceful) >= 5 and worker_class == "gthread" and int(threads) >= 16 and preload == "True"
    assert "%(U)s" in " ".join(out[7:]) and "%(r)s" not in " ".join(out[7:])


def test_sigterm_finishes_the_request_in_flight(redis_server, tmp_path):
    env = make_env(redis_server, CONFIG_DIR, tmp_path / "data")
    g = Gunicorn(env, workers=1).wait_ready()
    try:
        sim = WeChatSimulator(fresh_transport(g.url), TOKEN)
        path, body = sim.build_request(sim.text_fields(OPENID, "怎么买key"))
        s = socket.create_connection(("127.0.0.1", g.port))
        head = (f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: text/xml\r\n"
                f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n").encode()
        s.sendall(head + body[:20])  # the request is in flight: its body is still arriving
        time.sleep(0.3)
        g.proc.send_signal(signal.SIGTERM)
        g.wait_output(lambda o: "Handling signal: term" in o)  # the master has it (and told the worker)
        assert g.proc.poll() is None  # still finishing the request
        s.sendall(body[20:])
        s.settimeout(5)
        data = b""
        while chunk := s.recv(65536):
            data += chunk
        s.close()
        status_line, _, rest = data.partition(b"\r\n")
        assert status_line == b"HTTP/1.1 200 OK", data[:200]
        reply_body = rest.partition(b"\r\n\r\n")[2]
        reply = sim.check_reply(sim.text_fields(OPENID, "怎么买key") | {"FromUserName": OPENID}, 200, reply_body)
        assert reply.content and "key" in reply.content.lower()
        assert g.proc.wait(10) == 0
        assert "Traceback" not in g.output()
    finally:
        g.stop()
        g.cleanup()


# -- every entry point fails fast with the same line -------------------------------------------

ENTRY_POINTS = {
    "gunicorn": None,
    "serve": ["serve", "--port", "1"],
    "worker": ["worker", "--once"],
    "password show": ["password", "show"],
    "tickets list": ["tickets", "list"],
    "chat": ["chat"],
}


def run_entry(name: str, env: dict, tmp_path):
    import subprocess
    import sys

    # As from a shared .env: only gunicorn may use it (the worker and CLI used to crash on a missing dir).
    env = dict(env, PROMETHEUS_MULTIPROC_DIR=str(tmp_path / "metrics"))
    if ENTRY_POINTS[name] is None:
        return subprocess.run([sys.executable, "-m", "gunicorn", "-c", "python:wxbot.gunicorn_conf", "--bind",
                               "127.0.0.1:0", "wxbot:create_app()"], env=clean_env(env), capture_output=True,
                              text=True, timeout=30)
    return run_cli(ENTRY_POINTS[name], env)


@pytest.mark.parametrize("name", list(ENTRY_POINTS))
def test_every_entry_point_fails_fast_with_one_line(name, redis_server, tmp_path):
    env = make_env(redis_server, CONFIG_DIR, tmp_path / "data", WECHAT_TOKEN="bad token")
    proc = run_entry(name, env, tmp_path)  # fails at once: run_entry's timeout stops a process that waits
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert proc.stderr.strip().splitlines() == [BAD_TOKEN_LINE]
    assert "Traceback" not in proc.stdout + proc.stderr


@pytest.mark.parametrize("name", ["gunicorn", "worker"])
def test_broken_config_file_stops_the_process_with_one_line(name, redis_server, tmp_path, config_dir):
    (config_dir / "bot.yaml").write_text("webhook:\n  reply_deadline: soon\n", encoding="utf-8")
    env = make_env(redis_server, config_dir, tmp_path / "data")
    proc = run_entry(name, env, tmp_path)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("wxbot: 配置错误：") and "bot.yaml" in lines[0]
    assert "reply_deadline" in lines[0] and "Traceback" not in proc.stderr
    assert ADMIN not in proc.stderr
