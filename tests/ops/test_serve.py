"""`wxbot serve` as the README's quick start runs it: no REDIS_URL, the embedded Redis, a real gunicorn."""
from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx

from helpers.env import CONFIG_DIR
from helpers.redis import free_port
from wxbot.stores.redis import stop_embedded_server
from wxbot.testing import WeChatSimulator, httpx_transport

WXBOT = str(Path(sys.executable).with_name("wxbot"))


def test_serve_on_embedded_redis_generates_demo_token(tmp_path):
    port = free_port()
    data = tmp_path / "var"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("WECHAT_", "WXBOT_", "REDIS_"))}
    env.update({"WXBOT_DATA_DIR": str(data), "WXBOT_CONFIG_DIR": str(CONFIG_DIR),
                "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "metrics")})
    out = open(tmp_path / "serve.log", "wb")
    proc = subprocess.Popen([WXBOT, "serve", "--port", str(port), "--workers", "2"], env=env, stdout=out,
                            stderr=subprocess.STDOUT)
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(url + "/readyz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.2)
        log = (tmp_path / "serve.log").read_text()
        token = log.split("generated demo token for local use: ")[1].split()[0]
        assert (data / "redis.sock").exists() and (data / "appendonly.aof").exists()
        with WeChatSimulator(httpx_transport(url), token) as sim:
            fields = sim.text_fields("oServeTester0000000000000001", "#我的ID")
            assert sim.send(fields).content.endswith("oServeTester0000000000000001")
            # Both gunicorn workers share the one embedded server: a retry is deduplicated by either.
            for _ in range(6):
                assert sim.send(fields).content.endswith("oServeTester0000000000000001")
        import redis

        client = redis.Redis(unix_socket_path=str(data / "redis.sock"), decode_responses=True)
        assert client.get("wxbot:rl:msg:oServeTester0000000000000001") == "1"
        client.close()
    finally:
        proc.terminate()
        proc.wait(20)
        out.close()
        stop_embedded_server(data)
