"""FAQ answers need no Redis: the knowledge base is in memory in every process."""
from __future__ import annotations

import pytest
import redis

from helpers.redis import free_port

OPENID = "oFaqFollower00000000000000002"


@pytest.fixture
def env_overrides(spare_redis):
    return {"REDIS_URL": spare_redis.url}


def test_answers_greetings_and_fallback_work_with_redis_down(sim, spare_redis):
    assert "https://api.juheai.top" in sim.text(OPENID, "baseurl填啥").content
    spare_redis.stop()
    assert "https://api.juheai.top" in sim.text(OPENID, "接口地址是多少").content
    assert sim.voice(OPENID, "要不要挂梯子").content.startswith("不需要")
    assert "自动客服" in sim.text(OPENID, "你好").content
    reply = sim.text(OPENID, "今天天气怎么样")  # the unmatched count is skipped, the answer is not
    assert "ACG508" in reply.content and "忙" not in reply.content
    assert "哪一个" in sim.text(OPENID, "能开票吗 可以对公吗").content


def test_unmatched_count_failing_mid_request_still_answers(sim, app, caplog):
    # The claim works, then counting the question fails (its Redis is unreachable): the follower still
    # gets the fallback, not the "busy" text.
    app.extensions["wxbot"].features.faq.knowledge.unmatched.redis = redis.Redis(port=free_port(), socket_connect_timeout=0.2)
    reply = sim.text(OPENID, "帮我写一首诗")
    assert "ACG508" in reply.content and "忙" not in reply.content
    assert any("faq unmatched not counted" in r.getMessage() for r in caplog.records)
