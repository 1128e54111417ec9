"""Internal notes on a ticket in the console: support and admins add them, the detail shows who and
when, each is audited, a double submit adds one, and nothing reaches the follower."""
from __future__ import annotations

import re

from helpers.console import csrf_token, nonce, post_form
from helpers.tickets import OPENID, new_ticket, stream_jobs

NOTE = "内部：已电话联系 <b>用户</b>，明天补发"


def notes_of(page: str) -> str:
    """The detail page's notes section."""
    start = page.index('id="notes"')
    return page[start:page.index("</section>", start)]


def test_support_adds_a_note_and_sees_it_with_who_and_when(support, admin, clock, sim, redis_client, console):
    tid = new_ticket(sim, redis_client)
    jobs = stream_jobs(redis_client)
    page = support.get(f"/console/tickets/{tid}").get_data(as_text=True)
    assert "还没有备注" in page and "不会发给用户" in page
    data = {"csrf_token": csrf_token(page), "nonce": nonce(page), "text": NOTE}
    resp = support.post(f"/console/tickets/{tid}/note", data=data)
    assert resp.status_code == 302
    assert support.post(f"/console/tickets/{tid}/note", data=data).status_code == 302  # double submit: once
    shown = support.get(resp.headers["Location"]).get_data(as_text=True)
    assert "备注已保存" in shown
    assert "内部：已电话联系 &lt;b&gt;用户&lt;/b&gt;，明天补发" in shown  # escaped, never markup
    assert re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d[^<]* · acg508", notes_of(shown))  # when and who
    notes = console.audit.recent(5)
    assert [(e.actor, e.action, e.target, e.result) for e in notes if e.action == "ticket.note"] == [
        ("console:acg508", "ticket.note", tid, "ok")]
    post_form(admin, f"/console/tickets/{tid}", f"/console/tickets/{tid}/note", text="管理员：同意补发")
    detail = admin.get(f"/console/tickets/{tid}").get_data(as_text=True)
    section = notes_of(detail)
    assert section.index("· acg508") < section.index("· boss") < section.index("管理员：同意补发")
    assert stream_jobs(redis_client) == jobs  # no job: nothing is sent to anyone
    assert NOTE not in sim.text(OPENID, "工单").content


def test_an_empty_or_overlong_note_is_refused_with_a_message(support, sim, redis_client):
    tid = new_ticket(sim, redis_client)
    resp = post_form(support, f"/console/tickets/{tid}", f"/console/tickets/{tid}/note", text="   ")
    assert "备注内容是空的" in support.get(resp.headers["Location"]).get_data(as_text=True)
    resp = post_form(support, f"/console/tickets/{tid}", f"/console/tickets/{tid}/note", text="长" * 1001)
    assert "备注太长" in support.get(resp.headers["Location"]).get_data(as_text=True)
    assert "还没有备注" in support.get(f"/console/tickets/{tid}").get_data(as_text=True)


def test_a_note_without_the_csrf_token_is_refused(support, sim, redis_client):
    tid = new_ticket(sim, redis_client)
    page = support.get(f"/console/tickets/{tid}").get_data(as_text=True)
    resp = support.post(f"/console/tickets/{tid}/note", data={"nonce": nonce(page), "text": NOTE})
    assert resp.status_code == 400
    assert "还没有备注" in support.get(f"/console/tickets/{tid}").get_data(as_text=True)
