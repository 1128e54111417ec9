"""Redis restarted empty: a real `wxbot worker` marks a first install silently, and when its Redis is
killed and comes back without data it tells the admins once (a customer-service message through the
WeChat API stand-in); the doctor says so."""
from __future__ import annotations

import io
import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from helpers.env import ADMIN, CONFIG_DIR, internals_env, make_env
from helpers.procs import clean_env
from helpers.redis import RedisProcess
from helpers.servers import LocalHTTPServer
from wxbot import doctor
from wxbot.stores import keys
from wxbot.stores.redis import redis_server_binary

pytestmark = pytest.mark.ops

CS = "/cgi-bin/message/custom/send"


def wait_until(check, timeout: float = 15.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError("condition not met in time")


def test_redis_restarted_empty_alerts_admins_once(tmp_path):
    api = LocalHTTPServer()
    api.on("/cgi-bin/stable_token", lambda req: (200, {"access_token": "TOKEN", "expires_in": 7200}))
    api.start()
    server = RedisProcess(tmp_path / "redis")
    port = server.port
    env = make_env(server.url, CONFIG_DIR, tmp_path / "data", WECHAT_API_BASE_URL=api.url,
                   **internals_env(alerts={"marker_check_interval": 0.1, "redis_check_interval": 0.05},
                                   worker={"idle_sleep": 0.02}))
    worker = subprocess.Popen([str(Path(sys.executable).parent / "wxbot"), "worker"], env=clean_env(env),
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    reborn = None
    try:
        r = server.client()
        wait_until(lambda: r.get(keys.REDIS_MARKER))  # a first install: marked, nobody alerted
        wait_until(lambda: (tmp_path / "data" / "redis-marker").exists())
        server.proc.kill()  # Redis dies and comes back on the same address without its data
        server.proc.wait(5)
        reborn = subprocess.Popen([redis_server_binary(), "--port", str(port), "--bind", "127.0.0.1", "--dir",
                                   str(tmp_path), "--save", "", "--appendonly", "no"],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        sent = wait_until(lambda: api.calls(CS))
        assert sent[0].json()["touser"] == ADMIN and "Redis" in sent[0].json()["text"]["content"]
        fresh = server.client(socket_timeout=2)
        new_id = json.loads(fresh.get(keys.REDIS_MARKER))["id"]
        # The worker has recorded the new marker (so later checks compare equal) and the alert was queued once.
        wait_until(lambda: (tmp_path / "data" / "redis-marker").read_text().strip() == new_id)
        assert fresh.exists(f"wxbot:alerts:sent:redis_emptied:{new_id}") and fresh.llen("wxbot:alerts:queue") == 0
        fresh.close()
        assert len(api.calls(CS)) == 1

        out = io.StringIO()
        doctor.main(env, out=out, timeout=0.5)
        (found,) = [ln for ln in out.getvalue().splitlines() if ln[2:].startswith("Redis data:")]
        assert found.startswith("! ") and "重启后是空的" in found
    finally:
        worker.terminate()
        worker.wait(10)
        if reborn is not None:
            reborn.terminate()
            reborn.wait(5)
        server.stop()
        api.stop()
