"""Fixtures of the password tests: bot.yaml's password policy and the internals per test, the feature
of the app under test, and (for modules marked ``password_sync``) a fake NextChat receiver that
``WXBOT_PASSWORD_SYNC_URL`` points at.

Per test, through indirect parametrization: ``pwcfg`` (bot.yaml ``password:`` policy), ``pwint``
(``wxbot.defaults.Password`` internals) and ``pwenv`` (extra environment).
"""
from __future__ import annotations

import pytest

from helpers.env import internals_env
from helpers.password import (
    BASE_CFG,
    BASE_INTERNALS,
    SYNC_ADMIN_TOKEN,
    SYNC_CFG,
    SYNC_SECRET,
    FakeNextChat,
    write_password_cfg,
)
from helpers.servers import LocalHTTPServer
from wxbot.wechat.endpoint import dispatch


def pytest_configure(config):
    config.addinivalue_line("markers", "password_sync: sync to a fake NextChat receiver is on (WXBOT_PASSWORD_SYNC_URL)")


@pytest.fixture
def pwcfg(request) -> dict:
    return getattr(request, "param", {})


@pytest.fixture
def pwint(request) -> dict:
    return getattr(request, "param", {})


@pytest.fixture
def pwenv(request) -> dict:
    return getattr(request, "param", {})


@pytest.fixture
def sync_on(request) -> bool:
    return request.node.get_closest_marker("password_sync") is not None


@pytest.fixture
def nextchat():
    server = LocalHTTPServer()
    server.start()
    yield FakeNextChat(server, SYNC_SECRET)
    server.stop()


@pytest.fixture
def config_dir(config_dir, pwcfg, sync_on):
    write_password_cfg(config_dir, {**BASE_CFG, **(SYNC_CFG if sync_on else {}), **pwcfg})
    return config_dir


@pytest.fixture
def env_overrides(request, pwint, pwenv, sync_on) -> dict:
    env = internals_env(password={**BASE_INTERNALS, **pwint})
    if sync_on:
        nextchat = request.getfixturevalue("nextchat")
        env.update({"WXBOT_PASSWORD_SYNC_URL": nextchat.server.url + "/sync?key=url-key-secret",
                    "WXBOT_PASSWORD_SYNC_SECRET": SYNC_SECRET, "WXBOT_ADMIN_TOKEN": SYNC_ADMIN_TOKEN})
    env.update(pwenv)
    return env


@pytest.fixture
def bot(app):
    """``app.extensions["wxbot"]``: the services, features and router the app under test answers with."""
    return app.extensions["wxbot"]


@pytest.fixture
def feature(bot):
    return bot.features.password


@pytest.fixture
def pw(feature):
    """``rotation.Passwords``: values, rotation, schedule."""
    return feature.passwords


@pytest.fixture
def sync(feature):
    """``sync.PasswordSync``: the worker's sync to NextChat."""
    return feature.sync


@pytest.fixture
def handle_message(bot):
    """Claim -> route -> handle one parsed message as ``/wechat`` does: (reply, ctx)."""

    def handle(msg, now=None):
        return dispatch(bot.services, bot.router, msg, now=now)

    return handle


@pytest.fixture
def round_trips(monkeypatch):
    """Every request sent to Redis: each redis-py command and pipeline ends in one
    ``send_packed_command``, so this counts round trips exactly; ``execute_command`` calls are
    recorded too, to name what was sent."""
    import redis.client
    import redis.connection

    sent: list[str] = []
    commands: list[str] = []
    real_send = redis.connection.AbstractConnection.send_packed_command
    real_execute = redis.client.Redis.execute_command

    def send(self, command, check_health=True):
        chunks = [command] if isinstance(command, (bytes, str)) else list(command)
        head = b"".join(c if isinstance(c, bytes) else c.encode() for c in chunks[:1]).split(b"\r\n")
        sent.append(head[2].decode() if len(head) > 2 else "?")
        return real_send(self, command, check_health=check_health)

    def execute(self, *args, **options):
        commands.append(str(args[0]))
        return real_execute(self, *args, **options)

    monkeypatch.setattr(redis.connection.AbstractConnection, "send_packed_command", send)
    monkeypatch.setattr(redis.client.Redis, "execute_command", execute)
    return sent, commands
