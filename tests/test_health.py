"""/healthz, /readyz with Redis up, down and hung, and followers' answers while Redis is away."""
from __future__ import annotations

import time
from zoneinfo import ZoneInfo

import pytest

from wxbot import create_app
from wxbot.services import build_services
from wxbot.stores import keys
from wxbot.testing import WeChatSimulator, flask_transport
from wxbot.texts import show_time

OPENID = "oHealthFollower00000000000001"


@pytest.fixture
def spare_app(settings, spare_redis):
    """The app on a Redis of the test's own (to stop or pause)."""
    services = build_services(settings.replace(redis_url=spare_redis.url))
    app = create_app(services.settings, services)
    app.testing = True
    yield app
    services.close()


@pytest.fixture
def spare_sim(spare_app, settings):
    return WeChatSimulator(flask_transport(spare_app.test_client()), settings.wechat_token, settings.aes_key_bytes,
                           settings.wechat_app_id)


def timed(fn, *args):
    started = time.perf_counter()
    result = fn(*args)
    return result, time.perf_counter() - started


def test_healthz_and_readyz_when_redis_is_up(client, redis_client):
    redis_client.hset(keys.WORKERS, "host:1", repr(time.time()))  # a worker is running
    resp = client.get("/healthz")
    assert resp.status_code == 200 and resp.data == b"ok\n" and resp.mimetype == "text/plain"
    resp = client.get("/readyz")
    assert resp.status_code == 200 and resp.data == b"ready\n"


def test_readyz_stays_ready_without_a_worker_and_says_so(client, redis_client, services):
    """A web process's readiness never depends on the worker (a load balancer would take every web
    process out when the worker dies); the body tells an admin looking at it."""
    resp = client.get("/readyz")
    assert resp.status_code == 200
    assert resp.data == b"ready\nwarning: no worker is running (none has reported): tickets and scheduled " \
                        b"rotations wait\n"
    cfg = services.internals.worker
    stale = time.time() - cfg.heartbeat_stale_beats * cfg.heartbeat_interval - 60
    redis_client.hset(keys.WORKERS, "host:1", repr(stale))
    resp = client.get("/readyz")
    assert resp.status_code == 200
    assert resp.get_data(as_text=True) == (f"ready\nwarning: no worker is running (last heartbeat "
                                           f"{show_time(stale, ZoneInfo('Asia/Shanghai'))}): tickets and "
                                           "scheduled rotations wait\n")
    assert "(UTC+8)" in resp.get_data(as_text=True)


def test_readyz_shows_the_aes_mismatch_time_in_the_bots_zone(client, redis_client):
    redis_client.hset(keys.WORKERS, "host:1", repr(time.time()))
    redis_client.set(keys.AES_MISMATCH, "1700000000")  # 2023-11-14 22:13:20 UTC
    resp = client.get("/readyz")
    assert resp.status_code == 200
    assert resp.get_data(as_text=True) == ("ready\nwarning: messages do not decrypt since 2023-11-15 06:13 (UTC+8): "
                                           "the EncodingAESKey differs from the MP console's\n")


@pytest.mark.parametrize("how", ["stopped", "hung"])
def test_readyz_is_503_within_1s_when_redis_is_down_or_hung_and_recovers(spare_app, spare_redis, how):
    c = spare_app.test_client()
    assert c.get("/readyz").status_code == 200
    if how == "stopped":
        spare_redis.stop()
    else:
        spare_redis.pause()
    try:
        timings = []
        for _ in range(3):  # every probe answers quickly, not only the first
            resp, elapsed = timed(c.get, "/readyz")
            timings.append(round(elapsed * 1000, 1))
            assert resp.status_code == 503, resp.data
            assert elapsed < 1.0, f"readyz took {elapsed:.3f}s"
            assert b"redis unavailable" in resp.data
        print(f"\nreadyz with Redis {how} (ms): {timings}")
        assert c.get("/healthz").status_code == 200  # liveness does not depend on Redis
    finally:
        spare_redis.resume()
    if how == "hung":
        resp, elapsed = timed(c.get, "/readyz")
        assert resp.status_code == 200 and elapsed < 1.0


# The questions a follower asks, and what each needs from Redis.
FAQ_QUESTION = "怎么买key"
PASSWORD = "密码"
TICKET = "订单问题"
OTHER = "今天天气怎么样呀"


@pytest.mark.parametrize("how", ["hung", "stopped"])
def test_followers_get_answers_within_2s_while_redis_is_away(spare_sim, spare_app, spare_redis, how, request):
    healthy_faq = spare_sim.text(OPENID, FAQ_QUESTION).content
    assert healthy_faq
    if how == "hung":
        spare_redis.pause()
    else:
        spare_redis.stop()
    timings = {}
    replies = {}
    try:
        for i, text in enumerate([FAQ_QUESTION, PASSWORD, TICKET, OTHER, FAQ_QUESTION]):
            reply, elapsed = timed(spare_sim.text, f"{OPENID}{i}", text)
            assert reply.status == 200
            timings[f"{i}:{text}"] = round(elapsed * 1000, 1)
            replies[text] = reply.content
            assert elapsed < 2.0, f"{text!r} took {elapsed:.3f}s with Redis {how}"
    finally:
        spare_redis.resume()
    request.node.user_properties.append(("latency_ms", timings))
    print(f"\nreply latency with Redis {how} (ms): {timings}")
    texts = spare_app.extensions["wxbot"].services.texts.get()
    assert replies[FAQ_QUESTION] == healthy_faq  # the FAQ answers from memory
    for text in (PASSWORD, TICKET):
        assert "ACG508" in replies[text]  # a short "busy / contact ACG508" text
        assert replies[text] != texts.get("errors.internal")
    assert replies[OTHER]


def test_everything_recovers_by_itself_when_redis_comes_back(spare_sim, spare_app, spare_redis):
    services = spare_app.extensions["wxbot"].services
    spare_redis.pause()
    try:
        assert spare_sim.text(OPENID, OTHER).content
    finally:
        spare_redis.resume()
    c = spare_app.test_client()
    deadline = time.monotonic() + 5
    while c.get("/readyz").status_code != 200:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    time.sleep(services.breaker.cooldown)  # the process-local breaker closes after its cooldown
    r = spare_redis.client()
    r.delete(f"wxbot:rl:msg:{OPENID}")
    spare_sim.text(OPENID, OTHER)
    assert r.get(f"wxbot:rl:msg:{OPENID}") == "1"  # claims go to Redis again
