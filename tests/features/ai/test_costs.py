"""Costs and failures: the cache, the follower's daily quota, the daily token budget, metrics, the
fallback for every model failure, and one alert when it keeps failing."""
from __future__ import annotations

import time

import pytest

from helpers.ai import QUESTION, text_message
from wxbot import metrics
from wxbot.alerts import QUEUE_KEY
from wxbot.features.ai.store import day_of
from wxbot.stores import keys


def ask(deliver, task, openid, text=QUESTION):
    """WeChat's first try with a worker answering: the reply of the second try (the answer)."""
    msg = text_message(openid, text)
    first, ctx = deliver(msg)
    if ctx.outcome in ("ai_cache", "ai_quota", "ai_budget"):
        return first, ctx
    task.tick()
    task.drain(5)
    return deliver(msg)


def test_the_same_question_is_answered_from_the_cache(deliver, task, model):
    before = metrics.AI_ANSWERS.labels("cache")._value.get()
    a, _ = ask(deliver, task, "o_cache_a_000000000000001")
    b, ctx = ask(deliver, task, "o_cache_b_000000000000001", QUESTION + "？")  # normalised: the same
    assert a == b and ctx.outcome == "ai_cache"
    assert len(model.calls()) == 1
    assert metrics.AI_ANSWERS.labels("cache")._value.get() == before + 1


@pytest.mark.parametrize("aicfg", [{"follower_daily_quota": 1}], indirect=True)
def test_the_followers_daily_quota(deliver, task, model, bot):
    ask(deliver, task, "o_quota_0000000000000001")
    reply, ctx = ask(deliver, task, "o_quota_0000000000000001", "我的key在cursor里面用不了")
    assert ctx.outcome == "ai_quota" and "明天" in reply and "ACG508" in reply
    other, _ = ask(deliver, task, "o_quota_0000000000000002", "我的key在cursor里面用不了")
    assert model.answer in other  # another follower still asks
    assert len(model.calls()) == 2


@pytest.mark.parametrize("aicfg", [{"daily_token_budget": 100}], indirect=True)
def test_the_daily_token_budget(deliver, task, model, bot):
    model.tokens = 60
    ask(deliver, task, "o_budget_000000000000001")
    ask(deliver, task, "o_budget_000000000000002", "我的key在cursor里面用不了")
    assert bot.features.ai.store.tokens_today(time.time()) == 120
    reply, ctx = ask(deliver, task, "o_budget_000000000000003", "我的key在cursor里面用不了7")
    assert ctx.outcome == "ai_budget" and "ACG508" in reply
    assert len(model.calls()) == 2
    assert bot.services.redis.ttl(keys.ai_tokens(day_of(time.time(), bot.features.ai.store.tz))) > 86400


@pytest.mark.parametrize("mode", ["429", "500", "garbage", "empty"])
@pytest.mark.parametrize("aicfg", [{"alert_after_failures": 2}], indirect=True)
def test_a_failing_model_gives_todays_fallback_and_one_alert(deliver, task, model, bot, mode):
    model.mode = mode
    before = metrics.AI_CALLS.labels({"429": "http_429", "500": "http_5xx", "garbage": "bad_json",
                                      "empty": "empty"}[mode])._value.get()
    replies = [ask(deliver, task, f"o_fail_{i:018d}", f"第{i}次：我的key在cursor里面用不了")[0] for i in range(3)]
    for reply in replies:
        assert reply.startswith("抱歉") and "ACG508" in reply
    queued = bot.services.redis.lrange(QUEUE_KEY, 0, -1)
    assert len([a for a in queued if "ai_failing" in a]) == 1
    assert metrics.AI_CALLS.labels({"429": "http_429", "500": "http_5xx", "garbage": "bad_json",
                                    "empty": "empty"}[mode])._value.get() == before + 3


@pytest.mark.parametrize("aicfg", [{"call_deadline": 0.3}], indirect=True)
def test_a_model_that_never_answers_gives_the_fallback_within_the_deadline(deliver, task, model):
    model.mode = "never"
    reply, _ = ask(deliver, task, "o_never_00000000000000001")
    assert reply.startswith("抱歉") and "ACG508" in reply


def test_the_question_and_the_answer_are_kept_for_admins(deliver, task, model, bot):
    ask(deliver, task, "o_kept_000000000000000001", "我的key sk-abcdefghijklmnop123456 在cursor里面用不了")
    top = bot.features.faq.knowledge.unmatched.top(10)
    assert top and "sk-" not in top[0][0]
    kept = bot.features.ai.store.answers([top[0][0]])
    assert model.answer in kept[top[0][0]]["a"]
