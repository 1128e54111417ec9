"""Where the AI answers and where it does not; what AI off costs; the web's thread settings; doctor
and the CLI."""
from __future__ import annotations

import re

import pytest
from click.testing import CliRunner

from helpers.ai import CS_PATH, QUESTION, text_message
from helpers.env import ROOT
from wxbot.clitools import CliContext
from wxbot.policy import BotConfig


@pytest.mark.ai_off
def test_with_ai_off_the_routes_and_redis_round_trips_are_todays(app, bot, deliver, round_trips, redis_client):
    assert "ai" not in bot.router.names and bot.features.worker_tasks()[-1].name != "ai"
    deliver(text_message("o_off_000000000000000009", "预热一下连接和脚本"))  # connection set-up, script load
    round_trips.clear()
    reply, ctx = deliver(text_message("o_off_000000000000000001", QUESTION))
    assert ctx.route == "faq" and ctx.outcome == "unmatched" and reply.startswith("抱歉")
    # The claim, then the unmatched count (one pipeline): what an unmatched question costs without AI.
    assert round_trips == ["EVALSHA", "ZINCRBY"]
    round_trips.clear()
    deliver(text_message("o_off_000000000000000001", "密码"))
    assert round_trips == ["EVALSHA"]
    assert not [k for k in redis_client.keys("*") if ":ai:" in k or k.endswith(":n")]


def test_the_ai_route_sits_right_before_the_faq_answer(bot):
    names = bot.router.names
    assert names[names.index("ai") - 1] == "faq_feature" and names[names.index("ai") + 1] == "faq"


@pytest.mark.parametrize("text,route", [
    ("密码", "password"),
    ("订单问题", "tickets_intake"),
    ("base url是多少", "faq"),  # the FAQ's answer
    ("价格", "faq"),
    ("你好", "faq"),  # a greeting
    ("谢谢", "faq"),  # thanks
    ("嗯嗯", "faq"),  # too short to be a question
    ("#帮助 一下吧这个", "faq"),  # a # command from a non-staff follower is not a question for the AI
])
def test_faq_password_ticket_and_chat_keep_their_routes(deliver, text, route, model):
    _, ctx = deliver(text_message("o_routes_00000000000000001", text))
    assert ctx.route == route
    assert model.calls() == []


def test_a_which_one_question_is_not_the_ais(deliver, bot, model):
    msg = text_message("o_routes_00000000000000002", "能开票吗 可以对公吗")
    _, ctx = deliver(msg)
    assert bot.features.faq.knowledge.result(msg, ctx).kind == "ambiguous"
    assert ctx.route == "faq" and ctx.outcome == "ambiguous" and model.calls() == []


def test_gunicorn_threads_leave_room_beside_the_ai_waiters():
    # Read, not imported: importing gunicorn_conf changes the environment (it is gunicorn's file).
    source = (ROOT / "wxbot" / "gunicorn_conf.py").read_text(encoding="utf-8")
    threads = int(re.search(r'GUNICORN_THREADS", "(\d+)"', source).group(1))
    worker_class = re.search(r'GUNICORN_WORKER_CLASS", "(\w+)"', source).group(1)
    waiters = BotConfig().ai.max_waiters
    # gthread: a waiting thread does not block the worker's heartbeat (sync workers would be killed at
    # `timeout`), and at most `max_waiters` of the threads wait, so 3/4 of them serve everyone else.
    assert worker_class == "gthread"
    assert waiters * 4 <= threads


def test_doctor_checks_the_key_and_the_model_with_one_tiny_call(settings, model):
    from wxbot.doctor import FAIL, OK, Doctor

    doctor = Doctor({})
    doctor.check_ai(settings)
    assert doctor.checks[-1].status == OK and len(model.calls()) == 1
    assert model.calls()[0].json()["max_tokens"] == 5
    model.server.on("/v1/chat/completions", lambda req: (401, {"error": {"message": "bad key"}}))
    doctor.check_ai(settings)
    assert doctor.checks[-1].status == FAIL and "WXBOT_AI_API_KEY" in doctor.checks[-1].fix
    doctor.check_ai(settings.replace(ai_api_key=None))
    assert doctor.checks[-1].status == OK and "关闭" in doctor.checks[-1].detail


def test_wxbot_ai_ask_prints_what_a_follower_gets_and_why(services, model):
    from wxbot.cli import main

    model.answer = "价格是 99 元。请联系客服微信 ACG508。"
    result = CliRunner().invoke(main, ["ai", "ask", QUESTION], obj=CliContext(services.settings, services))
    assert result.exit_code == 0, result.output
    out = result.output
    assert "FAQ：答不上来" in out and "提示词：2 条消息" in out and "模型：42 个 token" in out
    assert "sentences_dropped=1" in out and "粉丝收到：" in out and "99" not in out.split("粉丝收到：")[1]


def test_the_follow_up_goes_through_wechats_customer_service_api(deliver, task, model, wechat_api, bot):
    bot.features.ai.waiters = None
    msg = text_message("o_cs_000000000000000000001", QUESTION)
    deliver(msg)
    task.tick()
    task.drain(5)
    (call,) = wechat_api.calls(CS_PATH)
    assert call.query["access_token"] == ["ACCESS-TOKEN"] and call.json()["msgtype"] == "text"
