"""The failing password sync's admin alert word for word, as the WeCom robot and the admin's
customer-service message receive it from the worker's alert task: the version and the reason, never
the password, the sync secret, the key in the sync URL or the admin token. Real Redis, a fake NextChat
and WeChat stand-in on 127.0.0.1; the sync runs at its due times (``now=``), never slept for."""
from __future__ import annotations

import json

import pytest

from helpers.alerts import assert_no_secrets, deliver_alerts
from helpers.env import ADMIN
from wxbot.alerts import QUEUE_KEY

pytestmark = pytest.mark.password_sync
ROBOT_KEY = "robot-key-for-the-sync-alert"


@pytest.fixture
def env_overrides(env_overrides, wechat_api):
    wechat_api.on("/cgi-bin/stable_token", lambda req: (200, {"access_token": "ACCESS-TOKEN-9", "expires_in": 7200}))
    return {**env_overrides, "WXBOT_WECOM_WEBHOOK_URL": f"{wechat_api.url}/cgi-bin/webhook/send?key={ROBOT_KEY}"}


def test_the_sync_alert_says_version_and_reason_and_no_secret(pw, sync, nextchat, services, settings, wechat_api,
                                                             redis_client):
    nextchat.fail_with = 503
    rot, password = pw.rotate("cli", "cli", "Secret-Code-42")
    now = 1_900_000_000.0
    for _ in range(5):
        sync.sync_once(now)
        if redis_client.llen(QUEUE_KEY):
            break
        now = pw.store.state().sync_next_at
    assert [json.loads(a)["kind"] for a in redis_client.lrange(QUEUE_KEY, 0, -1)] == ["password_sync"]
    (text,) = deliver_alerts(services, wechat_api, wechat_api, ADMIN)
    assert text == (f"【wxbot 告警】公益版密码同步到 NextChat 已连续失败 2 次（第 {rot.version} 版，原因：HTTP 503）。"
                    "粉丝仍看到旧密码，定时更换会暂停。请检查 NextChat 接收端。")
    assert settings.password_sync_secret and settings.admin_token
    assert_no_secrets(text, settings, password, "Secret-Code-42", "url-key-secret", "ACCESS-TOKEN-9")
