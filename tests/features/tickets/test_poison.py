"""A poison ticket (any exception in one delivery attempt) fails its own channels only: retried with
backoff, dead-lettered after the limit, alerted, its traceback logged once; the tickets read with it
arrive. Template placeholders are checked at start. Real web app (test client), worker task, Redis."""
from __future__ import annotations

import json
import logging

import pytest

from helpers.env import edit_bot_yaml
from helpers.tickets import HOOK_PATH, ROBOT_PATH, drain, new_ticket, settled, states
from wxbot import create_app
from wxbot.features.tickets.delivery import TicketDelivery
from wxbot.settings import ConfigError
from wxbot.stores import keys

POISON = "oTicketPoison00000000000001"
GOOD = "oTicketGood0000000000000001"


def test_a_poison_ticket_never_stops_the_others(sim, rt, redis_client, hook, robot, caplog):
    bad = new_ticket(sim, redis_client, "付款了key没有发给我 订单号 E2024061500000001", openid=POISON)
    good = new_ticket(sim, redis_client, "付款了key没有发给我 订单号 E2024061500000002", openid=GOOD)
    # Data no renderer expects (a hand edit, an older version's record): every renderer raises ValueError.
    redis_client.hset(keys.ticket(bad), "created_at", "yesterday")
    caplog.set_level(logging.INFO, logger="wxbot")
    drain(TicketDelivery(rt), redis_client)  # the two are read in one batch (tickets.batch = 2)

    assert settled(redis_client)
    assert all(st["s"] == "done" for st in states(redis_client, good).values()), states(redis_client, good)
    assert any(good == c.headers["Idempotency-Key"] for c in hook.calls(HOOK_PATH))
    assert sum(good in c.json()["markdown"]["content"] for c in robot.calls(ROBOT_PATH)) == 1

    poisoned = states(redis_client, bad)
    for channel in ("new|webhook", "new|wecom"):
        assert poisoned[channel]["s"] == "dead" and poisoned[channel]["a"] == 4, poisoned
        assert poisoned[channel]["e"] == "unexpected ValueError"
    assert redis_client.zscore(keys.TICKETS_DEAD, bad) is not None
    alerts = [json.loads(x) for x in redis_client.lrange("wxbot:alerts:queue", 0, -1)]
    assert [(a["kind"], a["key"]) for a in alerts] == [("ticket_dead_letter", bad)]
    # One traceback per poisoned channel (the first attempt), plain warnings for the retries.
    tracebacks = [r for r in caplog.records if r.exc_info and bad in r.getMessage()]
    assert sorted(r.getMessage().split("channel=")[1].split()[0] for r in tracebacks) == \
        sorted(k.split("|")[1] for k in poisoned)
    retries = [r for r in caplog.records if "retry_in=" in r.getMessage() and bad in r.getMessage()]
    assert len(retries) == 3 * len(poisoned) and not any(r.exc_info for r in retries)


def test_an_unreadable_job_is_retried_then_dead_lettered(sim, rt, redis_client):
    tid = new_ticket(sim, redis_client, openid=POISON)
    redis_client.hset(keys.ticket(tid), "shots0", "two")  # the job's channel list cannot be computed
    drain(TicketDelivery(rt), redis_client)
    assert states(redis_client, tid)["new|entry"] == 4
    assert redis_client.zscore(keys.TICKETS_DEAD, tid) is not None


@pytest.mark.parametrize("pattern", ["{oder_no}", "{id.__class__}", "{id"])
def test_a_template_placeholder_typo_stops_the_start(settings, config_dir, pattern):
    edit_bot_yaml(config_dir, "tickets", {"support_template_fields": {"thing4": pattern}})
    with pytest.raises(ConfigError, match="support_template_fields: thing4: "):
        create_app(settings)
