"""The webhook with Redis down or hung: followers are still answered, fast, and it recovers by itself."""
from __future__ import annotations

import time

import pytest

from helpers.env import make_env
from wxbot import create_app
from wxbot.services import build_services
from wxbot.settings import Settings
from wxbot.testing import WeChatSimulator, flask_transport

OPENID = "oRedisFollower00000000000001"


@pytest.fixture
def spare_sim(spare_redis, config_dir, tmp_path):
    settings = Settings.from_env(make_env(spare_redis.url, config_dir, tmp_path / "data"))
    services = build_services(settings)
    app = create_app(settings, services)
    yield WeChatSimulator(flask_transport(app.test_client()), settings.wechat_token), spare_redis, services
    services.close()


def timed(fn):
    started = time.monotonic()
    result = fn()
    return result, time.monotonic() - started


def test_hung_redis_costs_well_under_a_second(spare_sim):
    sim, server, services = spare_sim
    assert sim.text(OPENID, "#我的ID").content.endswith(OPENID)
    server.pause()  # SIGSTOP: connections accepted by the kernel, never answered
    try:
        reply, took = timed(lambda: sim.text(OPENID, "#我的ID"))
        assert reply.status == 200 and reply.content.endswith(OPENID)
        assert took < 1.0
        # While the breaker is open, later messages skip Redis entirely.
        reply, took = timed(lambda: sim.text(OPENID, "随便问问"))
        assert reply.status == 200 and reply.content
        assert took < 0.2
    finally:
        server.resume()


def test_stopped_redis_then_recovery(spare_sim):
    sim, server, services = spare_sim
    server.stop()
    reply, took = timed(lambda: sim.text(OPENID, "#我的ID"))
    assert reply.status == 200 and reply.content.endswith(OPENID)
    assert took < 1.0
    # A retry while Redis is down cannot be deduplicated: it is still answered, never a 5xx.
    fields = sim.text_fields(OPENID, "你好呀")
    assert all(r.status == 200 for r in (sim.send(fields), sim.send(fields)))


def test_recovers_when_redis_comes_back(spare_sim):
    sim, server, services = spare_sim
    server.pause()
    try:
        sim.text(OPENID, "第一条")
    finally:
        server.resume()
    time.sleep(services.breaker.cooldown + 0.05)
    # (A command sent to the paused server may still run when it resumes, so check a fresh follower.)
    other = OPENID + "b"
    fields = sim.text_fields(other, "#我的ID")
    sim.send(fields)
    sim.send(fields)
    client = server.client()
    assert client.exists(f"wxbot:dedupe:m:{fields['MsgId']}")
    assert client.get(f"wxbot:rl:msg:{other}") == "1"
