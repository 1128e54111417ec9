"""The pipeline's own rules: waiting support replies, limits, Redis failures of every kind, retries."""
from __future__ import annotations

import pytest

from helpers.env import make_env
from wxbot import create_app, metrics
from wxbot.router import StaffCommands
from wxbot.services import build_services
from wxbot.settings import Settings
from wxbot.testing import WeChatSimulator, flask_transport

OPENID = "oPipelineFollower00000000001"
PENDING = f"wxbot:pending:{OPENID}"


def test_waiting_support_reply_comes_with_the_answer(sim, redis_client):
    redis_client.rpush(PENDING, "客服回复：Key 已补发")
    reply = sim.text(OPENID, "#我的ID")
    assert reply.content.startswith("客服回复：Key 已补发")
    assert reply.content.endswith("你的 openid 是：" + OPENID)
    assert not redis_client.exists(PENDING)


def test_silent_events_leave_waiting_replies_for_the_next_message(sim, redis_client):
    redis_client.rpush(PENDING, "客服回复：请查收")
    assert sim.send(sim.event_fields(OPENID, "VIEW", "https://example.invalid/")).is_success
    assert redis_client.lrange(PENDING, 0, -1) == ["客服回复：请查收"]
    assert sim.text(OPENID, "#我的ID").content.startswith("客服回复：请查收")


def test_rate_limited_message_keeps_waiting_replies(sim, redis_client):
    redis_client.set(f"wxbot:rl:msg:{OPENID}", 30)
    redis_client.rpush(PENDING, "客服回复：已处理")
    assert "稍等" in sim.text(OPENID, "#我的ID").content
    assert redis_client.lrange(PENDING, 0, -1) == ["客服回复：已处理"]


def test_long_waiting_replies_never_cut_the_answer(sim, redis_client):
    long_reply = "长" * 665  # 1995 bytes: with the answer, nothing more fits
    redis_client.rpush(PENDING, long_reply, "第二条客服回复")
    reply = sim.text(OPENID, "#我的ID")
    assert reply.content.endswith("你的 openid 是：" + OPENID)
    assert long_reply in reply.content and "第二条客服回复" not in reply.content
    assert redis_client.lrange(PENDING, 0, -1) == ["第二条客服回复"]
    assert "第二条客服回复" in sim.text(OPENID, "#我的ID").content


def test_retry_replays_waiting_replies_without_queueing_them_twice(sim, redis_client):
    redis_client.rpush(PENDING, "长" * 665, "第二条")
    fields = sim.text_fields(OPENID, "#我的ID")
    first, again = sim.send(fields), sim.send(fields)
    assert first.content == again.content
    assert redis_client.lrange(PENDING, 0, -1) == ["第二条"]


def test_unsubscribe_over_the_limit_still_forgets_the_follower(sim, redis_client):
    redis_client.set(f"wxbot:rl:msg:{OPENID}", 99)
    redis_client.set(f"wxbot:dialog:{OPENID}", "{}")
    sim.unsubscribe(OPENID)
    assert not redis_client.exists(f"wxbot:dialog:{OPENID}", f"wxbot:rl:msg:{OPENID}")


def test_redis_refusing_writes_still_gets_faq_answers(spare_redis, config_dir, tmp_path):
    """NOREPLICAS (min-replicas-to-write) is a ResponseError, not a connection error."""
    settings = Settings.from_env(make_env(spare_redis.url, config_dir, tmp_path / "data"))
    services = build_services(settings)
    try:
        sim = WeChatSimulator(flask_transport(create_app(settings, services).test_client()), settings.wechat_token)
        spare_redis.client().config_set("min-replicas-to-write", 1)
        reply = sim.text(OPENID, "baseurl填啥")
        assert reply.status == 200 and "api.juheai.top" in reply.content
        busy = sim.text(OPENID + "2", "密码")
        assert busy.status == 200 and busy.content and "ACG508" in busy.content
    finally:
        spare_redis.client().config_set("min-replicas-to-write", 0)
        services.close()


def test_replies_metric_counts_a_message_once(sim):
    before = metrics.REPLIES.labels("my_id")._value.get()
    fields = sim.text_fields(OPENID, "#我的ID")
    for _ in range(4):
        sim.send(fields)
    assert metrics.REPLIES.labels("my_id")._value.get() == before + 1


@pytest.mark.parametrize("text, expected", [
    ("#回复 A1 你好", ("回复", "A1 你好")),
    ("#回复\u3000A1\u3000你好", ("回复", "A1\u3000你好")),
    ("＃回复\nA1 内容", ("回复", "A1 内容")),
    ("#帮助", ("帮助", "")),
    ("#", None),
    ("回复 #A1", None),
])
def test_staff_command_split_accepts_any_whitespace(text, expected):
    assert StaffCommands.split(text) == expected


def test_a_claim_retried_after_its_answer_was_lost_is_still_the_first_delivery(services, monkeypatch):
    """Redis ran the claim but the connection failed before the answer arrived: the retry (same
    token) must not read as a WeChat duplicate, or a side-effect route would do nothing."""
    from wxbot.stores import dedupe

    monkeypatch.setattr(dedupe.os, "urandom", lambda n: b"\x01" * n)
    first = services.dedupe.claim("m:lost-answer", OPENID)
    again = services.dedupe.claim("m:lost-answer", OPENID)
    assert not first.duplicate and not again.duplicate and again.count == first.count == 1
    monkeypatch.setattr(dedupe.os, "urandom", lambda n: b"\x02" * n)
    assert services.dedupe.claim("m:lost-answer", OPENID).duplicate  # WeChat's own retry


def test_support_replies_taken_by_a_claim_whose_reply_was_lost_are_shown_later(sim, services, redis_client):
    redis_client.rpush(PENDING, "客服回复：已退款")
    taken = services.dedupe.claim("m:reply-never-sent", OPENID)  # e.g. the request timed out afterwards
    assert taken.pending == ["客服回复：已退款"] and not redis_client.exists(PENDING)
    assert sim.text(OPENID, "#我的ID").content.startswith("客服回复：已退款")
    assert not redis_client.exists(PENDING, PENDING + ":taken")  # confirmed once shown


def test_an_oversized_support_reply_is_clipped_not_stuck(sim, redis_client):
    redis_client.rpush(PENDING, "长" * 1000, "第二条")  # 3000 bytes: fits no reply whole
    first = sim.text(OPENID, "#我的ID")
    assert first.content.startswith("长") and "…" in first.content
    assert first.content.endswith("你的 openid 是：" + OPENID)
    assert "第二条" in sim.text(OPENID, "#我的ID").content
