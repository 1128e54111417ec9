"""`#工单` and `wxbot tickets list` read a page of the per-status indexes, not the newest 200/1,000 of the
history: tickets older than those limits are listed, page by page. Seeded straight through the store."""
from __future__ import annotations

import pytest
from click.testing import CliRunner

from helpers.env import SUPPORT
from helpers.tickets import seed_tickets
from wxbot.cli import CliContext, main
from wxbot.stores import keys


@pytest.fixture
def run(settings, services):
    runner = CliRunner()

    def invoke(*args):
        res = runner.invoke(main, ["tickets", *args], obj=CliContext(settings, services))
        assert res.exit_code == 0, res.output
        return res

    return invoke


def ids_of(output: str) -> list[str]:
    return [ln.split()[0] for ln in output.splitlines() if ln[:6].isdigit()]


@pytest.mark.parametrize("mode", ["safe"], indirect=True)  # staff commands need signed bodies
def test_staff_list_shows_active_tickets_behind_more_than_200_closed_ones(sim, rt):
    old_open = seed_tickets(rt.store, 3, "open", start=1_600_000_000.0, prefix="2409")
    old_replied = seed_tickets(rt.store, 1, "replied", start=1_600_000_100.0, prefix="2410")
    seed_tickets(rt.store, 205, "closed", start=1_700_000_000.0, prefix="2501")
    reply = sim.text(SUPPORT, "#工单").content
    shown = [tid for tid in (*old_open, *old_replied) if tid in reply]
    assert shown == [*old_open, *old_replied]  # the old limit (newest 200) saw only closed ones
    assert "最近 4 个" in reply and "下一页" not in reply
    # newest first: the replied one (created last) before the open ones
    assert reply.index(old_replied[0]) < reply.index(old_open[2]) < reply.index(old_open[0])


@pytest.mark.parametrize("mode", ["safe"], indirect=True)
def test_staff_list_pages_ten_at_a_time(sim, rt):
    active = seed_tickets(rt.store, 23, "open", start=1_600_000_000.0, prefix="2409")
    first = sim.text(SUPPORT, "#工单").content
    assert [t for t in active[::-1] if t in first] == active[::-1][:10]
    assert "共 23 个未关闭的工单，这是第 1/3 页" in first and "#工单 2" in first
    second = sim.text(SUPPORT, "#工单 2").content
    assert [t for t in active[::-1] if t in second] == active[::-1][10:20]
    third = sim.text(SUPPORT, "#工单 3").content
    assert [t for t in active[::-1] if t in third] == active[::-1][20:] and "下一页" not in third
    assert "没有第 4 页了（共 3 页）" in sim.text(SUPPORT, "#工单 4").content


def test_cli_list_finds_open_tickets_older_than_the_newest_1000(run, rt):
    old = seed_tickets(rt.store, 2, "open", start=1_600_000_000.0, prefix="2409")
    closed = seed_tickets(rt.store, 1005, "closed", start=1_700_000_000.0, prefix="2501")
    assert ids_of(run("list").output) == old[::-1]
    assert ids_of(run("list", "--status", "open").output) == old[::-1]
    # every closed one is reachable, page by page, and the footer says how to go on
    page1 = run("list", "--status", "closed", "--limit", "500")
    assert ids_of(page1.output) == closed[::-1][:500]
    assert "第 1-500 张，共 1005 张；下一页：wxbot tickets list --status closed --limit 500 --page 2" in page1.output
    assert ids_of(run("list", "--status", "closed", "--limit", "500", "--page", "3").output) == closed[::-1][1000:]
    assert ids_of(run("list", "--status", "all", "--limit", "2", "--page", "503").output) == [closed[0], old[1]]
    beyond = run("list", "--status", "closed", "--limit", "500", "--page", "4").output
    assert "第 4 页没有工单" in beyond and "共 3 页" in beyond


def test_cli_list_merges_open_and_replied_and_marks_dead_letters(run, rt, redis_client):
    opened = seed_tickets(rt.store, 4, "open", start=1_600_000_000.0, prefix="2409")
    replied = seed_tickets(rt.store, 3, "replied", start=1_600_000_002.5, prefix="2410")
    redis_client.zadd(keys.TICKETS_DEAD, {replied[0]: 1.0})
    # created at 0 1 2 3 (open) and 2.5 3.5 4.5 (replied): newest first, two per page
    order = [replied[2], replied[1], opened[3], replied[0], opened[2], opened[1], opened[0]]
    assert ids_of(run("list", "--limit", "7").output) == order
    assert ids_of(run("list", "--limit", "2", "--page", "2").output) == order[2:4]
    dead_line = next(ln for ln in run("list", "--limit", "7").output.splitlines() if ln.startswith(replied[0]))
    assert dead_line.endswith("DEAD")
    assert ids_of(run("list", "--status", "dead").output) == [replied[0]]


def test_cli_list_indexes_tickets_from_before_the_indexes_once(run, rt, redis_client):
    ids = seed_tickets(rt.store, 3, "open", start=1_600_000_000.0, prefix="2409")
    for key in redis_client.keys("wxbot:tickets:ix:*"):  # a server upgraded from before the indexes
        redis_client.delete(key)
    redis_client.delete(keys.TICKETS_INDEXED)
    assert ids_of(run("list").output) == ids[::-1]
    assert redis_client.get(keys.TICKETS_INDEXED) == "1"
