"""WeChat's 5 s and three tries (scaled down): one model call and one answer per question."""
from __future__ import annotations

import threading

import pytest

from helpers.ai import CS_PATH, QUESTION, text_message
from wxbot.stores import keys

FOLLOWER = "o_follower_ai_00000000001"


def test_the_question_is_the_ais_and_the_answer_is_checked_and_noted(deliver, task, model, ai, bot):
    msg = text_message(FOLLOWER, QUESTION)
    assert bot.router.resolve(msg, _ctx(bot, msg)).name == "ai"
    model.answer = "请在客户端重新填写 Key。"
    worker = threading.Thread(target=_work_once, args=(task, model))
    worker.start()
    reply, ctx = deliver(msg)
    worker.join()
    assert ctx.route == "ai" and ctx.outcome == "ai_answered"
    assert reply.startswith("请在客户端重新填写 Key。") and reply.endswith(bot.services.texts.get().render("ai.note"))
    assert len(model.calls()) == 1


def test_three_tries_share_one_call_and_the_last_try_answers_in_time_then_the_follow_up(deliver, task, model,
                                                                                         wechat_api, bot):
    model.mode = "release"
    msg = text_message(FOLLOWER, QUESTION)
    held = threading.Thread(target=lambda: deliver(msg))
    held.start()
    _wait_queued(bot, msg)
    task.tick()  # the worker takes it; the model has not answered yet
    assert model.entered.wait(5)
    held.join()
    reply2, ctx2 = deliver(msg)  # WeChat's second try: held past WeChat's 5 s again
    reply3, ctx3 = deliver(msg)  # the third: must answer, by the reply deadline
    assert (reply2, ctx2.outcome) == (None, "ai_held")
    assert ctx3.claim.deliveries == 3
    assert reply3 == bot.services.texts.get().render("ai.working")
    model.release.set()
    task.drain(5)
    assert len(model.calls()) == 1
    sent = wechat_api.calls(CS_PATH)
    assert len(sent) == 1
    body = sent[0].json()
    assert body["touser"] == FOLLOWER and model.answer in body["text"]["content"]
    # A late retry (or a fourth delivery) gets the interim text again, never a second answer.
    again, _ = deliver(msg)
    assert again == reply3 and len(wechat_api.calls(CS_PATH)) == 1


def test_an_answer_ready_during_the_second_try_is_its_reply_and_no_follow_up(deliver, task, model, wechat_api,
                                                                            bot):
    model.mode = "release"
    msg = text_message(FOLLOWER, QUESTION)
    reply1, ctx1 = deliver(msg)  # nobody works yet: held, then left to the next try
    assert (reply1, ctx1.outcome) == (None, "ai_held")
    task.tick()
    assert model.entered.wait(5)
    model.release.set()
    task.drain(5)
    reply2, _ = deliver(msg)
    reply3, _ = deliver(msg)
    assert model.answer in reply2 and reply3 == reply2
    assert len(model.calls()) == 1 and wechat_api.calls(CS_PATH) == []


def test_no_worker_at_all_gives_the_fallback_on_the_last_try(deliver, bot):
    msg = text_message(FOLLOWER, QUESTION)
    for _ in range(2):
        assert deliver(msg)[0] is None
    reply, _ = deliver(msg)
    assert "ACG508" in reply and reply.startswith("抱歉")
    assert bot.services.redis.hget(keys.ai_question(msg.dedupe_id), "how") == "abandoned"


def test_the_follow_up_waits_for_the_next_message_where_the_account_cannot_send(deliver, task, model, wechat_api,
                                                                                bot):
    wechat_api.on(CS_PATH, lambda req: (200, {"errcode": 45015, "errmsg": "response out of time limit"}))
    model.mode = "release"
    msg = text_message(FOLLOWER, QUESTION)
    bot.features.ai.waiters = None  # no waiter free: "正在整理答案" at once
    assert deliver(msg)[0] == bot.services.texts.get().render("ai.working")
    task.tick()
    model.release.set()
    task.drain(5)
    assert bot.services.redis.lrange(keys.pending_replies(FOLLOWER), 0, -1)
    reply, _ = deliver(text_message(FOLLOWER, "密码"))
    assert model.answer in reply


@pytest.mark.parametrize("aicfg", [{"max_waiters": 1}], indirect=True)
def test_the_waiter_limit_answers_at_once_and_the_password_is_still_answered(deliver, task, model, bot,
                                                                            wechat_api):
    model.mode = "release"
    first = text_message(FOLLOWER, QUESTION)
    holder = threading.Thread(target=lambda: deliver(first))
    holder.start()
    _wait_queued(bot, first)
    ev = threading.Event()
    while bot.features.ai.waiters._value:  # the one waiter is taken
        ev.wait(0.005)
    burst = [deliver(text_message(f"o_burst_{i:020d}", f"我的key在cursor里面用不了{i}"))[0] for i in range(5)]
    password, ctx = deliver(text_message("o_pw_000000000000000001", "密码"))
    holder.join()
    assert burst == [bot.services.texts.get().render("ai.working")] * 5
    assert ctx.route == "password" and password == bot.services.texts.get().render("password.none")
    task.tick()
    model.release.set()
    task.drain(5)
    for _ in range(3):  # the burst's questions are answered by follow-ups
        task.tick()
        task.drain(5)
    assert len(wechat_api.calls(CS_PATH)) == 5


def _ctx(bot, msg):
    from wxbot.router import Ctx

    return Ctx(bot.services, msg.from_user)


def _wait_queued(bot, msg, timeout=5.0):
    ev = threading.Event()
    for _ in range(int(timeout / 0.01)):
        if bot.services.redis.hget(keys.ai_question(msg.dedupe_id), "status"):
            return
        ev.wait(0.01)
    raise AssertionError("the question was never queued")


def _work_once(task, model):
    ev = threading.Event()
    for _ in range(500):
        if task.tick():
            task.drain(5)
            return
        ev.wait(0.01)
