"""Internal notes on tickets: `wxbot tickets note`, shown to support (`tickets show`, `#工单 ID`) with
who and when, audited, never sent to the follower nor shown in the follower's 工单 list."""
from __future__ import annotations

import pytest
from click.testing import CliRunner

from helpers.env import SUPPORT
from helpers.tickets import OPENID, new_ticket, stream_jobs
from wxbot.audit import AuditLog
from wxbot.cli import CliContext, main
from wxbot.stores import keys

NOTE = "内部：该用户上周也退过一次款，核对后再补发"


def cli(settings, services, *args):
    return CliRunner().invoke(main, ["tickets", *args], obj=CliContext(settings, services))


@pytest.mark.parametrize("mode", ["safe"], indirect=True)  # for #工单 ID
def test_a_note_from_the_cli_is_kept_shown_to_support_and_audited(settings, services, sim, redis_client, rt):
    tid = new_ticket(sim, redis_client)
    jobs = stream_jobs(redis_client)
    res = cli(settings, services, "note", tid.lower(), NOTE)
    assert res.exit_code == 0 and f"{tid}：已添加内部备注（不会发给粉丝）" in res.output, res.output
    (note,) = rt.store.notes(tid)
    assert note["text"] == NOTE and note["by"] == "cli" and note["at"] > 0
    assert stream_jobs(redis_client) == jobs  # no delivery job: nothing goes anywhere
    shown = cli(settings, services, "show", tid).output
    assert "note 1 [" in shown and NOTE in shown
    staff = sim.text(SUPPORT, f"#工单 {tid}").content
    assert "内部备注" in staff and NOTE in staff and "用户看不到" in staff
    entry = AuditLog(redis_client).recent(1)[0]
    assert (entry.actor, entry.action, entry.target, entry.result) == ("cli", "ticket.note", tid, "ok")
    assert entry.detail == NOTE


def test_the_followers_ticket_list_never_shows_a_note(settings, services, sim, redis_client, rt):
    tid = new_ticket(sim, redis_client)
    assert cli(settings, services, "note", tid, NOTE).exit_code == 0
    assert rt.store.add_reply(tid, "您好，已补发", "t", "r1", 1.0).ok
    mine = sim.text(OPENID, "工单").content
    assert tid in mine and "已补发" in mine
    assert NOTE not in mine and "备注" not in mine


def test_a_note_on_a_missing_ticket_or_an_empty_one_is_refused(settings, services, redis_client):
    missing = cli(settings, services, "note", "240101-ZZZZ", "x")
    assert missing.exit_code == 1 and "没有工单 240101-ZZZZ" in missing.output
    assert not redis_client.exists(keys.ticket_notes("240101-ZZZZ"))
    assert cli(settings, services, "note", "240101-ZZZZ", "  ").exit_code == 2
    assert cli(settings, services, "note", "240101-ZZZZ", "长" * 1001).exit_code == 2
    assert AuditLog(redis_client).recent(5)[0].result == "missing"


def test_the_same_source_adds_a_note_once(sim, redis_client, rt):
    tid = new_ticket(sim, redis_client)
    assert rt.store.add_note(tid, "a", "console:x", "console:n1", 1.0).ok
    assert rt.store.add_note(tid, "a", "console:x", "console:n1", 2.0).status == "dup"
    assert rt.store.add_note(tid, "b", "console:x", "console:n2", 3.0).value == "2"
    assert [n["text"] for n in rt.store.notes(tid)] == ["a", "b"]
