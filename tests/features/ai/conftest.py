"""Fixtures of the AI tests: a local OpenAI-compatible server, AI answers on (WXBOT_AI_API_KEY) with
WeChat's 5 s scaled down through the internals, bot.yaml's ``ai`` section per test (``aicfg``,
indirect), a fake WeChat API for follow-ups, and helpers to deliver a message as WeChat's tries."""
from __future__ import annotations

import pytest
import yaml

from helpers.ai import AI_KEY, FakeModel
from helpers.env import internals_env
from wxbot.wechat.endpoint import dispatch

# WeChat's 5 s -> 0.4 s; the last try answers by 0.25 s.
SCALED = {"ai": {"wechat_timeout": 0.4, "hold_margin": 0.05, "poll_interval": 0.01},
          "webhook": {"reply_deadline": 0.25}}


@pytest.fixture
def model():
    fake = FakeModel()
    fake.start()
    yield fake
    fake.stop()


@pytest.fixture
def aicfg(request) -> dict:
    return getattr(request, "param", {})


@pytest.fixture
def ai_on(request) -> bool:
    return request.node.get_closest_marker("ai_off") is None


@pytest.fixture
def config_dir(config_dir, aicfg):
    path = config_dir / "bot.yaml"
    raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    raw["ai"] = {"call_deadline": 3.0, **aicfg}
    path.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    return config_dir


@pytest.fixture
def env_overrides(request, ai_on, wechat_api) -> dict:
    wechat_api.on("/cgi-bin/stable_token", lambda req: (200, {"access_token": "ACCESS-TOKEN", "expires_in": 7200}))
    env = internals_env(**SCALED)
    if ai_on:
        model = request.getfixturevalue("model")
        env.update({"WXBOT_AI_API_KEY": AI_KEY, "WXBOT_AI_BASE_URL": model.url})
    return env


@pytest.fixture
def bot(app):
    return app.extensions["wxbot"]


@pytest.fixture
def ai(bot):
    return bot.features.ai


@pytest.fixture
def task(ai):
    t = ai.task()
    yield t
    t.pool.shutdown(wait=False, cancel_futures=True)


@pytest.fixture
def deliver(bot):
    """One delivery of ``msg`` through claim -> route -> handle, as /wechat does: (reply, ctx)."""

    def run(msg):
        return dispatch(bot.services, bot.router, msg)

    return run


@pytest.fixture
def round_trips(monkeypatch):
    """Every request sent to Redis (each command or pipeline is one ``send_packed_command``)."""
    import redis.connection

    sent: list[str] = []
    real_send = redis.connection.AbstractConnection.send_packed_command

    def send(self, command, check_health=True):
        chunks = [command] if isinstance(command, (bytes, str)) else list(command)
        head = b"".join(c if isinstance(c, bytes) else c.encode() for c in chunks[:1]).split(b"\r\n")
        sent.append(head[2].decode() if len(head) > 2 else "?")
        return real_send(self, command, check_health=check_health)

    monkeypatch.setattr(redis.connection.AbstractConnection, "send_packed_command", send)
    return sent


def pytest_configure(config):
    config.addinivalue_line("markers", "ai_off: WXBOT_AI_API_KEY is not set")
