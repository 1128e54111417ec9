"""The WeCom robot's budget (20 messages a minute per robot, shared by every worker and by tickets,
screenshots and alerts): a burst becomes a few digests, nothing is lost or dead-lettered; the robot's
45009 waits a minute without counting an attempt; ``Retry-After`` is honoured and capped; the MP API's
45009 (daily quota) defers customer-service sends until midnight China time, with one alert.
The delivery task runs in-process on a test clock; real Redis and local HTTP servers."""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest

from helpers.env import internals_env
from helpers.tickets import (
    CS_PATH,
    HOOK_PATH,
    ROBOT_PATH,
    TICKET_INTERNALS,
    WORKER_INTERNALS,
    Clock,
    new_ticket,
    run_clocked,
    states,
)
from wxbot.alerts import LEASE_KEY, QUEUE_KEY, AlertTask, alert
from wxbot.bot import build_features
from wxbot.features.tickets.delivery import TicketDelivery
from wxbot.services import build_services
from wxbot.stores import keys

OK = {"errcode": 0, "errmsg": "ok"}
RETRY_AFTER_MAX = 300.0


@pytest.fixture
def env_overrides(env_overrides):
    """The tickets' tiny timings, and a cap on Retry-After a test can reach."""
    # Entries wait minutes of the clock, not of real time: no reclaiming each other's waiting entries.
    # The tasks tick on the test's clock: a read of the stream that blocks (block_ms) would only spend
    # real time on every round of it, so reads return at once.
    env_overrides.update(internals_env(tickets=dict(TICKET_INTERNALS, reclaim_idle=30.0, block_ms=0),
                                       worker=WORKER_INTERNALS,
                                       http={"retry_after_max": RETRY_AFTER_MAX}))
    return env_overrides


def record_posts(robot, clock, answer=lambda n: OK):
    """The robot answers ``answer(n)`` to its n-th post (0-based); each post is kept with the clock's time."""
    posts: list[tuple[float, dict]] = []

    def respond(req):
        posts.append((clock(), req.json()))
        result = answer(len(posts) - 1)
        return result if isinstance(result, tuple) else (200, result)

    robot.on(ROBOT_PATH, respond)
    return posts


def busiest_minute(posts) -> int:
    """The most posts within any 60 s of the clock."""
    times = sorted(t for t, _ in posts)
    return max((sum(1 for u in times if t <= u < t + 60) for t in times), default=0)


def texts(posts) -> list[str]:
    return [p["markdown"]["content"] for _, p in posts if p["msgtype"] == "markdown"]


def burst(sim, redis_client, n: int, pics=None) -> list[str]:
    ids = []
    for i in range(n):
        openid = f"oBurstFollower{i:014d}"
        if pics is not None and i % 5 == 0:  # every fifth report comes with a screenshot
            sim.text(openid, "订单问题")
            sim.image(openid, pics.url + "/pic/1.png")
        ids.append(new_ticket(sim, redis_client, f"付款了key没有发给我 订单号 E20240615{i:08d}", openid=openid))
    return ids


def test_a_burst_of_50_tickets_keeps_to_the_budget_and_every_text_arrives(sim, rt, redis_client, robot, hook,
                                                                         wechat_api):
    clock = Clock()
    posts = record_posts(robot, clock)
    ids = burst(sim, redis_client, 50)
    run_clocked([TicketDelivery(rt, clock=clock)], redis_client, clock)

    assert busiest_minute(posts) <= 20
    contents = texts(posts)
    assert all(any(tid in c for c in contents) for tid in ids)  # every ticket's text reached the robot
    assert len(posts) < 50 and any(sum(tid in c for tid in ids) > 1 for c in contents)  # digests
    for tid in ids:
        st = states(redis_client, tid)["new|wecom"]
        assert st["s"] == "done" and st["a"] <= 1, st  # no attempt burnt on the budget
    assert redis_client.zcard(keys.TICKETS_DEAD) == 0
    assert sorted(c.headers["Idempotency-Key"] for c in hook.calls(HOOK_PATH)) == sorted(ids)  # not throttled
    assert clock() - posts[0][0] >= 60  # the rest waited for the next minute, and no longer than needed
    assert clock() - posts[0][0] < 600


def test_two_workers_screenshots_and_alerts_share_one_budget(sim, settings, services, redis_client, robot, hook,
                                                             wechat_api, pics):
    clock = Clock()
    posts = record_posts(robot, clock)
    ids = burst(sim, redis_client, 25, pics)
    for i in range(3):
        alert(services, "test_alert", str(i), f"告警 {i}")
    others = [build_services(settings) for _ in range(2)]
    try:
        tasks = [TicketDelivery(build_features(s).tickets.rt, clock=clock) for s in others]
        alerts = AlertTask(services, wall=clock)
        run_clocked(tasks + [alerts], redis_client, clock)
        for _ in range(200):  # the alerts may still wait for the budget after the tickets settled
            alerts.tick()
            clock.advance(1)
            if redis_client.llen(QUEUE_KEY) == 0 and redis_client.zcard(LEASE_KEY) == 0:
                break
    finally:
        for s in others:
            s.close()

    assert busiest_minute(posts) <= 20
    kinds = [p["msgtype"] for _, p in posts]
    assert kinds.count("image") == 5 and kinds.count("text") == 3  # screenshots and alerts, each once
    contents = texts(posts)
    assert all(sum(tid in c for c in contents) == 1 for tid in ids)  # each text once, by one of the workers
    assert len(redis_client.xinfo_consumers(keys.TICKETS_STREAM, keys.TICKETS_GROUP)) == 2
    assert redis_client.zcard(keys.TICKETS_DEAD) == 0


def test_the_robots_45009_waits_a_minute_without_counting_an_attempt(sim, rt, redis_client, robot):
    clock = Clock()
    posts = record_posts(robot, clock, lambda n: {"errcode": 45009, "errmsg": "api freq out of limit"} if n == 0
                         else OK)
    tid = new_ticket(sim, redis_client)
    task = TicketDelivery(rt, clock=clock)
    task.tick()
    st = states(redis_client, tid)["new|wecom"]
    assert st["s"] == "pending" and st["a"] == 0 and "45009" in st["e"] and st["n"] >= clock() + 60
    run_clocked([task], redis_client, clock, step=5)
    assert [t - posts[0][0] >= 60 for t, _ in posts] == [False, True]
    st = states(redis_client, tid)["new|wecom"]
    assert st["s"] == "done" and st["a"] <= 1  # the 45009 was never counted


def test_retry_after_is_honoured_and_capped(sim, rt, redis_client, robot, hook):
    clock = Clock()
    asked = iter(["120", "100000"])
    hook.on(HOOK_PATH, lambda req: next(((503, "busy", {"Retry-After": a}) for a in asked), (200, {"ok": True})))
    posts = record_posts(robot, clock, lambda n: (429, "slow down", {"Retry-After": "30"}) if n == 0 else OK)
    tid = new_ticket(sim, redis_client)
    task = TicketDelivery(rt, clock=clock)
    task.tick()
    started = clock()
    st = states(redis_client, tid)
    assert st["new|webhook"]["s"] == "pending" and st["new|webhook"]["a"] == 1
    assert st["new|webhook"]["n"] >= started + 120 > started + TICKET_INTERNALS["backoff_max"]
    assert st["new|wecom"]["n"] >= started + 30 and "429" in st["new|wecom"]["e"]

    clock.advance(121)
    task.tick()
    st = states(redis_client, tid)["new|webhook"]
    assert st["a"] == 2 and clock() + RETRY_AFTER_MAX - 1 <= st["n"] <= clock() + RETRY_AFTER_MAX + 1  # capped
    run_clocked([task], redis_client, clock, step=10)
    assert len(hook.calls(HOOK_PATH)) == 3
    assert [round(t - started) >= 30 for t, _ in posts] == [False, True]  # the robot's hold was kept
    assert states(redis_client, tid)["new|wecom"]["s"] == "done"


def test_the_mp_apis_daily_quota_defers_sends_until_midnight_with_one_alert(sim, rt, redis_client, wechat_api):
    china = timezone(timedelta(hours=8))
    clock = Clock()
    noon = datetime.fromtimestamp(clock(), china).replace(hour=12, minute=0, second=0, microsecond=0)
    clock.now = (noon + timedelta(days=1)).timestamp()  # hours before midnight, whenever the test runs
    spent = {"on": True}
    wechat_api.on(CS_PATH, lambda req: (200, {"errcode": 45009, "errmsg": "reach max api daily quota limit"}
                                        if spent["on"] else OK))
    first = new_ticket(sim, redis_client, openid="oQuotaFollower000000000001")
    task = TicketDelivery(rt, clock=clock)
    task.tick()
    midnight = (datetime.fromtimestamp(clock(), china) + timedelta(days=1)).replace(hour=0, minute=0, second=0,
                                                                                   microsecond=0).timestamp()
    (support,) = [k for k in states(redis_client, first) if "support:" in k]
    st = states(redis_client, first)[support]
    assert st["s"] == "pending" and st["a"] == 0 and midnight <= st["n"] <= midnight + 120
    assert len(wechat_api.calls(CS_PATH)) == 1

    second = new_ticket(sim, redis_client, openid="oQuotaFollower000000000002")
    for _ in range(5):
        task.tick()
        clock.advance(600)
    assert len(wechat_api.calls(CS_PATH)) == 1  # the others wait without asking WeChat again
    assert states(redis_client, second)[support]["s"] == "pending"
    assert states(redis_client, second)[support]["a"] == 0
    queued = [json.loads(x) for x in redis_client.lrange(QUEUE_KEY, 0, -1)]
    assert [a["kind"] for a in queued] == ["wechat_quota"] and "45009" in queued[0]["message"]

    spent["on"] = False
    clock.now = midnight + 121
    run_clocked([task], redis_client, clock)
    assert [states(redis_client, t)[support]["s"] for t in (first, second)] == ["done", "done"]
    assert len(wechat_api.calls(CS_PATH)) == 3
