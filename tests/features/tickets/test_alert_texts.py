"""The tickets' admin alerts word for word, as the WeCom robot and each admin's customer-service message
receive them from the worker's alert task (real app, Redis, delivery task, local stand-ins): a dead
letter, a channel's configuration mistake, WeChat's daily quota (45009), a flood held back. None of
them carries a secret (tokens, keys, the webhook's query secret) or a follower's openid."""
from __future__ import annotations

import json
import re

import pytest

from helpers.alerts import assert_no_secrets, deliver_alerts
from helpers.env import ADMIN, NOWHERE, edit_bot_yaml
from helpers.tickets import CS_PATH, HOOK_PATH, HOOK_QUERY_SECRET, OPENID, Clock, drain, new_ticket
from wxbot.alerts import QUEUE_KEY
from wxbot.features.tickets.delivery import TicketDelivery

OK = {"errcode": 0, "errmsg": "ok"}


@pytest.fixture
def unsigned() -> bool:
    """Parametrize True: the support webhook has no signing secret (a configuration mistake)."""
    return False


@pytest.fixture
def hourly_cap() -> int | None:
    """Parametrize a number: bot.yaml tickets.max_tickets_per_hour."""
    return None


@pytest.fixture
def hook_down() -> bool:
    """Parametrize True: nothing listens at the support webhook's address (its URL keeps its secret)."""
    return False


@pytest.fixture
def env_overrides(env_overrides, unsigned, hook_down):
    if unsigned:
        env_overrides.pop("WXBOT_TICKET_WEBHOOK_SECRET")
    if hook_down:
        env_overrides["WXBOT_TICKET_WEBHOOK_URL"] = f"{NOWHERE}{HOOK_PATH}?token={HOOK_QUERY_SECRET}"
    return env_overrides


@pytest.fixture
def config_dir(config_dir, hourly_cap):
    if hourly_cap is not None:
        edit_bot_yaml(config_dir, "tickets", {"max_tickets_per_hour": hourly_cap})
    return config_dir


def queued_kinds(redis_client) -> list[str]:
    return [json.loads(x)["kind"] for x in redis_client.lrange(QUEUE_KEY, 0, -1)]


@pytest.mark.parametrize("hook_down, reason", [(False, "HTTP 500"),
                                               (True, "could not reach 127.0.0.1 (connection refused)")])
def test_a_dead_letter_names_the_ticket_channel_and_reason_not_the_webhooks_secret(
        sim, rt, services, settings, redis_client, hook, robot, wechat_api, hook_down, reason):
    hook.on(HOOK_PATH, lambda req: (500, "boom"))  # when it is reachable at all
    tid = new_ticket(sim, redis_client)
    drain(TicketDelivery(rt), redis_client)
    assert queued_kinds(redis_client) == ["ticket_dead_letter"]
    (text,) = deliver_alerts(services, robot, wechat_api, ADMIN)
    assert text == (f"【wxbot 告警】工单 {tid} 的投递（new → webhook）失败 4 次，已转入死信（{reason}）。"
                    "修复后运行 wxbot tickets retry。")  # an unreachable webhook: its host, not its URL
    assert_no_secrets(text, settings, OPENID, HOOK_QUERY_SECRET)


@pytest.mark.parametrize("unsigned", [True])
def test_a_configuration_mistake_is_one_alert_saying_what_to_fix(sim, rt, services, settings, redis_client, robot,
                                                                wechat_api, unsigned):
    assert settings.ticket_webhook_secret is None
    new_ticket(sim, redis_client)
    new_ticket(sim, redis_client, "付款了key没有发给我 订单号 E2024061587654321", openid="oTicketFollower000000000009")
    drain(TicketDelivery(rt), redis_client)
    assert queued_kinds(redis_client) == ["ticket_config"]  # one for every ticket (alerts.cooldown)
    (text,) = deliver_alerts(services, robot, wechat_api, ADMIN)
    assert text == ("【wxbot 告警】工单的 webhook 投递配置有误，所有工单的这一渠道都已转入死信"
                    "（WXBOT_TICKET_WEBHOOK_SECRET is not set; refusing to send unsigned）。"
                    "修正配置并重启 worker 后运行 wxbot tickets retry。")
    assert_no_secrets(text, settings, OPENID, HOOK_QUERY_SECRET)


def test_wechats_daily_quota_says_when_sends_resume_in_the_bots_zone(sim, rt, services, settings, redis_client,
                                                                    robot, wechat_api):
    spent = {"on": True}
    wechat_api.on(CS_PATH, lambda req: (200, {"errcode": 45009, "errmsg": "reach max api daily quota limit"}
                                        if spent["on"] else OK))
    new_ticket(sim, redis_client)
    TicketDelivery(rt, clock=Clock()).tick()
    assert queued_kinds(redis_client) == ["wechat_quota"]
    spent["on"] = False  # the admins' customer-service messages go out again
    (text,) = deliver_alerts(services, robot, wechat_api, ADMIN)
    m = re.fullmatch(r"【wxbot 告警】公众号今天的接口调用次数已用完（微信返回 45009）：发给客服和粉丝的消息暂停发送，"
                     r"(\d\d-\d\d) 00:01 \(UTC\+8\)额度恢复后自动补发，不会丢失。如需马上恢复，可在公众号后台"
                     r"“设置与开发 > 接口权限”查看用量（每月可清零 10 次）。", text)
    assert m, text  # midnight China time (plus a minute), shown with its zone
    assert_no_secrets(text, settings, OPENID, HOOK_QUERY_SECRET, "ACCESS-TOKEN")


@pytest.mark.parametrize("hourly_cap", [1])
def test_a_flood_held_back_says_how_to_release_it(sim, services, settings, redis_client, robot, wechat_api,
                                                 hourly_cap):
    for i in range(3):
        new_ticket(sim, redis_client, f"付款了key没有发给我 订单号 E20240615{i:08d}", openid=f"oFloodFollower{i:013d}")
    assert queued_kinds(redis_client) == ["tickets_held"]
    (text,) = deliver_alerts(services, robot, wechat_api, ADMIN)
    assert text == ("【wxbot 告警】最近一小时新建的工单已超过 1 个（全局上限），之后的工单照常保存并回复粉丝，但暂不推送给"
                    "客服，以防刷单。确认正常后运行 wxbot tickets held 查看，wxbot tickets release --all 放行。")
    assert_no_secrets(text, settings, *(f"oFloodFollower{i:013d}" for i in range(3)))
