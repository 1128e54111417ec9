"""A flood of reports from many followers (or forged ones): past the global hourly intake cap, tickets
are still stored and acknowledged, but held back from support, with one alert; ``wxbot tickets held``
lists them and ``wxbot tickets release`` sends them on. Real app, Redis, delivery task, CLI."""
from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from helpers.env import edit_bot_yaml
from helpers.tickets import HOOK_PATH, drain, new_ticket
from wxbot.cli import CliContext, main
from wxbot.features.tickets.delivery import TicketDelivery
from wxbot.stores import keys


@pytest.fixture
def config_dir(config_dir):
    edit_bot_yaml(config_dir, "tickets", {"max_tickets_per_hour": 3})
    return config_dir


def test_a_flood_is_held_back_not_dropped(sim, rt, services, settings, redis_client, hook):
    ids = [new_ticket(sim, redis_client, f"付款了key没有发给我 订单号 E20240615{i:08d}",
                      openid=f"oFloodFollower{i:013d}") for i in range(6)]  # each reply names its ticket
    assert redis_client.zrange(keys.TICKETS_HELD, 0, -1) == ids[3:]
    alerts = [json.loads(x) for x in redis_client.lrange("wxbot:alerts:queue", 0, -1)]
    assert [a["kind"] for a in alerts] == ["tickets_held"] and "3" in alerts[0]["message"]

    drain(TicketDelivery(rt), redis_client)
    assert sorted(c.headers["Idempotency-Key"] for c in hook.calls(HOOK_PATH)) == sorted(ids[:3])

    runner, obj = CliRunner(), CliContext(settings, services)
    held = runner.invoke(main, ["tickets", "held"], obj=obj)
    assert held.exit_code == 0 and [ln.split()[0] for ln in held.output.splitlines()[:-1]] == ids[3:]
    one = runner.invoke(main, ["tickets", "release", ids[3].lower()], obj=obj)
    assert one.exit_code == 0 and "已放行 1 张工单" in one.output
    rest = runner.invoke(main, ["tickets", "release", "--all"], obj=obj)
    assert rest.exit_code == 0 and "已放行 2 张工单" in rest.output
    assert runner.invoke(main, ["tickets", "release", ids[3]], obj=obj).exit_code == 1  # not held any more
    drain(TicketDelivery(rt), redis_client)
    assert sorted(c.headers["Idempotency-Key"] for c in hook.calls(HOOK_PATH)) == sorted(ids)
    assert [r.action for r in services.audit.recent(3)] == ["ticket.release"] * 3
