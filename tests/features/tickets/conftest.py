"""Fixtures of the ticket tests: the support team's receivers (webhook, WeCom robot), WeChat's picture
host and API stand-ins, the tiny timings (internals) and policy (bot.yaml), and the app's tickets Runtime."""
from __future__ import annotations

from pathlib import Path

import pytest

from helpers.env import edit_bot_yaml
from helpers.servers import picture_host, wechat_api_server
from helpers.tickets import (
    HOOK_QUERY_SECRET,
    HOOK_SECRET,
    PNG,
    TICKET_POLICY,
    WECOM_KEY,
    local_server,
    ticket_internals_env,
)


@pytest.fixture
def hook():
    """The support team's JSON webhook receiver."""
    server = local_server()
    yield server
    server.stop()


@pytest.fixture
def robot():
    """The WeCom group robot."""
    server = local_server()
    yield server
    server.stop()


@pytest.fixture
def pics():
    """WeChat's picture host (PicUrl)."""
    with picture_host(PNG) as server:
        yield server


@pytest.fixture
def env_overrides(hook, robot) -> dict:
    """The delivery channels, and the tiny ticket/worker timings through WXBOT_TEST_INTERNALS."""
    return {
        "WXBOT_TICKET_WEBHOOK_URL": f"{hook.url}/hooks/tickets?token={HOOK_QUERY_SECRET}",
        "WXBOT_TICKET_WEBHOOK_SECRET": HOOK_SECRET,
        "WXBOT_WECOM_WEBHOOK_URL": f"{robot.url}/cgi-bin/webhook/send?key={WECOM_KEY}",
        **ticket_internals_env(),
    }


@pytest.fixture
def config_dir(config_dir: Path) -> Path:
    """The shipped config with the tickets policy of these tests (limits, the local picture host)."""
    edit_bot_yaml(config_dir, "tickets", TICKET_POLICY)
    return config_dir


@pytest.fixture
def wechat_api():
    """WeChat's API stand-in (overrides conftest's: hands out an access token)."""
    with wechat_api_server() as server:
        yield server


@pytest.fixture
def features(app):
    """The app's features (the same objects its routes use)."""
    return app.extensions["wxbot"].features


@pytest.fixture
def rt(features):
    """The tickets Runtime the app's routes use (config, store, spool)."""
    return features.tickets.rt
