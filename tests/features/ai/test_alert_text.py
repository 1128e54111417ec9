"""The failing model's admin alert word for word, as the WeCom robot and the admin's customer-service
message receive it from the worker's alert task: how many calls failed and the kind of failure, never
the model's API key or a follower's openid. Real Redis, a local model server and WeChat stand-in."""
from __future__ import annotations

import json

import pytest

from helpers.ai import AI_KEY, text_message
from helpers.alerts import assert_no_secrets, deliver_alerts
from helpers.env import ADMIN
from wxbot.alerts import QUEUE_KEY

ROBOT_KEY = "robot-key-for-the-ai-alert"


@pytest.fixture
def env_overrides(env_overrides, wechat_api):
    return {**env_overrides, "WXBOT_WECOM_WEBHOOK_URL": f"{wechat_api.url}/cgi-bin/webhook/send?key={ROBOT_KEY}"}


@pytest.mark.parametrize("aicfg", [{"alert_after_failures": 2}], indirect=True)
def test_the_ai_alert_says_how_often_and_why_without_the_key(deliver, task, model, bot, settings, wechat_api):
    model.mode = "500"
    followers = [f"o_ai_alert_{i:016d}" for i in range(2)]
    for i, openid in enumerate(followers):
        deliver(text_message(openid, f"第{i}次：我的key在cursor里面用不了"))
        task.tick()
        task.drain(5)
    r = bot.services.redis
    assert [json.loads(a)["kind"] for a in r.lrange(QUEUE_KEY, 0, -1)] == ["ai_failing"]
    (text,) = deliver_alerts(bot.services, wechat_api, wechat_api, ADMIN)
    assert text == ("【wxbot 告警】AI 问答连续 2 次调用失败（最近一次：接口服务端出错（HTTP 500）），粉丝目前收到的是普通的兜底回复。"
                    "请检查 WXBOT_AI_API_KEY、模型名和接口状态（wxbot doctor 会做一次小调用）。")
    assert settings.ai_api_key == AI_KEY
    assert_no_secrets(text, settings, *followers, "ACCESS-TOKEN")


def test_every_failure_kind_has_a_reason_admins_can_read():
    import re
    from pathlib import Path

    import yaml

    from wxbot.features.ai import client
    from wxbot.texts import Texts

    source = Path(client.__file__).read_text(encoding="utf-8")
    raised = set(re.findall(r'ModelError\("([a-z0-9_]+)"', source))
    assert raised == set(client.ModelError.KINDS)
    texts = Texts(yaml.safe_load((Path(__file__).resolve().parents[3] / "config" / "texts.yaml").read_text("utf-8")))
    for kind in client.ModelError.KINDS:
        reason = texts.render(f"ai.reason_{kind}", detail="HTTP 502")
        assert re.search(r"[\u4e00-\u9fff]", reason) and "{" not in reason and kind not in reason, (kind, reason)
