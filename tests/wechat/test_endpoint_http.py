"""The webhook behind a real gunicorn on 127.0.0.1: chunked bodies, real sockets, real retries."""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time

import httpx
import pytest

from helpers.env import CONFIG_DIR, make_env
from helpers.redis import free_port
from wxbot.testing import WeChatSimulator, httpx_transport

OPENID = "oHttpFollower000000000000001"


@pytest.fixture(scope="session")
def gunicorn(redis_server, tmp_path_factory):
    """One gunicorn for these tests (starting and stopping one costs about two seconds; session-scoped,
    since the globally shuffled order would tear a module-scoped one down between any two of them); each
    test still gets a flushed Redis through ``server``. Yields (url, log path)."""
    work = tmp_path_factory.mktemp("endpoint-http")
    config_dir = work / "config"
    shutil.copytree(CONFIG_DIR, config_dir)
    port = free_port()
    env = dict(os.environ)
    env.update(make_env(redis_server, config_dir, work / "data"))
    env["PROMETHEUS_MULTIPROC_DIR"] = str(work / "metrics")
    log_path = work / "gunicorn.log"
    log = open(log_path, "wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-c", "python:wxbot.gunicorn_conf", "--bind", f"127.0.0.1:{port}",
         "--workers", "1", "wxbot:create_app()"],
        env=env, stdout=subprocess.DEVNULL, stderr=log,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(url + "/healthz", timeout=0.5).status_code == 200:
                break
        except httpx.TransportError:
            time.sleep(0.1)
    else:
        proc.kill()
        proc.wait(5)
        log.close()
        raise RuntimeError(log_path.read_text())
    yield url, log_path
    proc.terminate()
    proc.wait(15)
    log.close()


@pytest.fixture
def server(gunicorn, redis_client):
    """The module's gunicorn's address, with Redis flushed for this test."""
    return gunicorn[0]


def _raw_chunked(url: str, path: str, payload: bytes) -> tuple[int, bytes]:
    """POST ``payload`` as a chunked body exactly as given (well formed or not); (status, body)."""
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=5) as s:
        s.sendall((f"POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: text/xml\r\n"
                   "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n").encode() + payload)
        data = b""
        while True:
            part = s.recv(65536)
            if not part:
                break
            data += part
    return int(data.split(b" ", 2)[1]), data.split(b"\r\n\r\n", 1)[1]


def _chunked_post(url: str, path: str, chunks: list[bytes]) -> tuple[int, bytes]:
    body = b"".join(b"%x\r\n%s\r\n" % (len(chunk), chunk) for chunk in chunks) + b"0\r\n\r\n"
    return _raw_chunked(url, path, body)


@pytest.fixture
def http_sim(server, settings):
    with WeChatSimulator(httpx_transport(server), settings.wechat_token) as sim:
        yield sim


def test_real_server_answers_signed_messages(http_sim):
    sim = http_sim
    reply = sim.text(OPENID, "#我的ID")
    assert OPENID in reply.content


def test_chunked_body_is_read_whole(server, http_sim):
    sim = http_sim
    fields = sim.text_fields(OPENID, "#我的ID")
    path, body = sim.build_request(fields)
    status, data = _chunked_post(server, path, [body[:10], body[10:50], body[50:]])
    assert status == 200
    assert sim.check_reply(fields, status, data).content.endswith(OPENID)


def test_oversized_chunked_body_is_refused_not_truncated(server, http_sim):
    sim = http_sim
    path, body = sim.build_request(sim.text_fields(OPENID, "#我的ID"))
    status, data = _chunked_post(server, path, [body] + [b"<!-- padding -->" * 1024] * 5)
    assert status == 413
    assert b"too large" in data


def test_wechat_retry_after_timeout_gets_same_reply(server, http_sim, redis_client):
    sim = http_sim
    fields = sim.text_fields(OPENID, "#我的ID")
    first = sim.deliver(fields)
    again = sim.deliver(fields)
    assert len(first) == 1 and first[0].content == again[0].content
    assert redis_client.get(f"wxbot:rl:msg:{OPENID}") == "1"


def test_wxbot_chat_talks_to_a_running_bot(server, settings):
    from click.testing import CliRunner

    from wxbot.cli import CliContext, main

    result = CliRunner().invoke(
        main, ["chat", "--url", server, "--openid", "oChatTester000000000000000001"],
        input="#我的ID\n/voice #我的ID\n/subscribe\n/image http://127.0.0.1:9/x.jpg\n/nonsense\n/quit\n",
        obj=CliContext(settings),
    )
    assert result.exit_code == 0, result.output
    assert result.output.count("你的 openid 是：oChatTester000000000000000001") == 2
    assert "欢迎关注" in result.output
    assert "图片" in result.output
    assert "没有 /nonsense 这个指令" in result.output



def test_broken_chunked_bodies_unsigned_403_signed_400_no_traceback(server, http_sim, gunicorn):
    broken = b"5\r\n<xml>\r\nzz\r\nnot hex\r\n0\r\n\r\n"
    assert _raw_chunked(server, "/wechat?signature=0&timestamp=1&nonce=1", broken)[0] == 403
    path, _ = http_sim.build_request(http_sim.text_fields(OPENID, "hi"))
    status, body = _raw_chunked(server, path, broken)
    assert status == 400 and b"<html" not in body.lower() and b"Traceback" not in body
    assert "Traceback" not in gunicorn[1].read_text()
