"""The one audit log, filled by the real webhook: refused staff commands (non-staff, plaintext account),
support's ticket replies and closes, once per message whatever WeChat retries."""
from __future__ import annotations

import pytest

from helpers.env import ADMIN, SUPPORT
from wxbot.router import hash_openid
from wxbot.stores import keys

FOLLOWER = "oAuditFollower0000000000001"


def test_staff_commands_on_a_plaintext_account_are_refused_and_recorded(sim, services, redis_client):
    fields = sim.text_fields(ADMIN, "#换密码 Forged-Code-1")
    first = sim.send(fields)
    sim.send(fields)  # WeChat's retry: not a second refusal
    assert "Forged-Code-1" not in (first.content or "")  # treated as text
    assert redis_client.hget(keys.password_state(), "version") in (None, "0")
    (row,) = services.audit.recent(10)
    assert (row.action, row.target, row.result, row.detail) == ("staff.refused", "#换密码", "refused",
                                                               "plaintext account")
    assert row.actor == "wx:" + hash_openid(ADMIN, services.log_salt) and ADMIN not in row.actor


@pytest.mark.parametrize("mode", ["safe"], indirect=True)
def test_support_actions_and_refusals_are_recorded(sim, services, redis_client):
    report = sim.text(FOLLOWER, "付款了key没有发给我 订单号 E2024061512345678 99元")
    (tid,) = redis_client.zrange(keys.TICKETS_ALL, 0, -1)
    assert tid in report.content
    sim.text(FOLLOWER, f"#回复 {tid} 我是客服")  # a follower trying a staff command
    assert "已" in sim.text(SUPPORT, f"#回复 {tid} Key 已补发").content
    sim.text(SUPPORT, f"#关闭 {tid} 已解决")
    rows = list(reversed(services.audit.recent(10)))
    support = "wechat:" + hash_openid(SUPPORT, services.log_salt)
    assert [(r.actor, r.action, r.target, r.result) for r in rows] == [
        ("wx:" + hash_openid(FOLLOWER, services.log_salt), "staff.refused", "#回复", "refused"),
        (support, "ticket.reply", tid, "ok"),
        (support, "ticket.close", tid, "ok"),
    ]
    assert rows[0].detail == "not staff"
