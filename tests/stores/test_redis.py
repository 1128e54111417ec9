"""The embedded Redis (no REDIS_URL): one server per data dir whatever starts first, persistent, and
cheap to fail on when hung."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from helpers.env import CONFIG_DIR
from helpers.procs import clean_env
from wxbot import defaults
from wxbot.settings import ConfigError, Settings
from wxbot.stores.redis import REDIS_ERRORS, connect, ensure_embedded_server, stop_embedded_server

SNIPPET = """
import os, sys
from wxbot import defaults
from wxbot.stores.redis import connect
from wxbot.settings import Settings
r = connect(Settings.from_env())
r.rpush("wxbot:test:procs", os.getpid())
print(r.info("server")["process_id"])
"""


@pytest.fixture
def data_dir(tmp_path):
    d = tmp_path / "d"
    yield d
    pidfile = d / "redis.pid"
    stop_embedded_server(d)
    if pidfile.exists():  # stopped or killed mid-test: make sure nothing is left running
        try:
            pid = int(pidfile.read_text())
            os.kill(pid, signal.SIGCONT)
            os.kill(pid, signal.SIGKILL)
        except (OSError, ValueError):
            pass


def settings_for(data_dir: Path) -> Settings:
    return Settings.from_env({"WECHAT_TOKEN": "embedded1", "WXBOT_DATA_DIR": str(data_dir),
                              "WXBOT_CONFIG_DIR": str(CONFIG_DIR)})


def server_pid(data_dir: Path) -> int:
    return int((data_dir / "redis.pid").read_text())


def servers_on(data_dir: Path) -> int:
    out = subprocess.run(["pgrep", "-f", f"redis-server.*{data_dir}"], capture_output=True, text=True).stdout
    return len(out.split())


def test_processes_started_together_share_one_server(data_dir):
    env = clean_env({"WECHAT_TOKEN": "embedded1", "WXBOT_DATA_DIR": str(data_dir),
                     "WXBOT_CONFIG_DIR": str(CONFIG_DIR)})
    procs = [subprocess.Popen([sys.executable, "-c", SNIPPET], env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(5)]
    results = [p.communicate(timeout=30) for p in procs]
    assert all(p.returncode == 0 for p in procs), results
    server_ids = {out.strip() for out, _ in results}
    assert len(server_ids) == 1
    assert server_ids == {str(server_pid(data_dir))}
    assert sorted(data_dir.glob("*.pid")) == [data_dir / "redis.pid"]
    assert servers_on(data_dir) == 1
    r = connect(settings_for(data_dir))
    assert sorted(r.lrange("wxbot:test:procs", 0, -1)) == sorted(str(p.pid) for p in procs)
    r.close()


def test_data_survives_a_restart_and_a_crash(data_dir):
    s = settings_for(data_dir)
    r = connect(s)
    r.set("wxbot:test:kept", "1")
    r.close()
    assert stop_embedded_server(data_dir) is True
    deadline = time.monotonic() + 5
    while servers_on(data_dir) and time.monotonic() < deadline:
        time.sleep(0.05)
    r = connect(s)  # starts it again, from its append-only file
    assert r.get("wxbot:test:kept") == "1"
    r.set("wxbot:test:after-crash", "2")
    os.kill(server_pid(data_dir), signal.SIGKILL)  # no chance to save: only the AOF has it
    time.sleep(0.2)
    r.close()
    r = connect(s)
    assert r.get("wxbot:test:after-crash") == "2" and r.get("wxbot:test:kept") == "1"
    assert r.config_get("appendonly")["appendonly"] == "yes"
    assert r.config_get("maxmemory-policy")["maxmemory-policy"] == "noeviction"
    r.close()


def test_a_hung_server_costs_well_under_a_second_and_is_not_duplicated(data_dir):
    s = settings_for(data_dir)
    r = connect(s, defaults.Redis())
    r.set("wxbot:test:x", "1")
    pid = server_pid(data_dir)
    os.kill(pid, signal.SIGSTOP)
    try:
        timings = []
        for _ in range(3):
            started = time.monotonic()
            with pytest.raises(REDIS_ERRORS):
                r.get("wxbot:test:x")
            timings.append(time.monotonic() - started)
        print(f"\nGET against a SIGSTOPped embedded Redis (ms): {[round(t * 1000) for t in timings]}")
        assert max(timings) < 0.6, timings  # 0.25 s socket timeout, no retry loop
        # A process starting now must not start a second server on the same files.
        assert ensure_embedded_server(data_dir) == data_dir / "redis.sock"
        assert servers_on(data_dir) == 1 and server_pid(data_dir) == pid
    finally:
        os.kill(pid, signal.SIGCONT)
    assert r.get("wxbot:test:x") == "1"  # back by itself
    r.close()


def test_data_dir_too_long_for_a_socket_is_a_clear_error(tmp_path):
    long_dir = tmp_path / ("x" * 120)
    with pytest.raises(ConfigError, match="WXBOT_DATA_DIR: path too long"):
        ensure_embedded_server(long_dir)
