"""The admin HTTP API against brute force: a throttle per client address in Redis (429 + Retry-After,
one log line per burst), the address from the connection or from X-Forwarded-For behind trusted proxies
only, a too-short WXBOT_ADMIN_TOKEN switching the API off; and the audit log of admin actions."""
from __future__ import annotations

import logging

import pytest

from wxbot import create_app

TOKEN = "admin-token-for-guard-tests-0123456789"
RIGHT = {"Authorization": f"Bearer {TOKEN}"}
WRONG = {"Authorization": "Bearer guess-0000"}


def get(client, headers, addr="203.0.113.7", **extra):
    return client.get("/admin/api/password", headers={**headers, **extra}, environ_base={"REMOTE_ADDR": addr})


@pytest.mark.parametrize("pwenv", [{"WXBOT_ADMIN_TOKEN": TOKEN}], indirect=True)
def test_wrong_tokens_are_throttled_per_address(client, caplog):
    caplog.set_level(logging.INFO, logger="wxbot")
    statuses = [get(client, WRONG).status_code for _ in range(100)]
    assert statuses[:10] == [401] * 10 and set(statuses[10:]) == {429}
    throttled = get(client, RIGHT)  # the right token too: the address is locked out for the window
    assert throttled.status_code == 429 and 0 < int(throttled.headers["Retry-After"]) <= 600
    assert throttled.get_json()["error"] == "too_many_attempts"
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("admin api")]
    assert len(lines) == 2 and "throttled" in lines[1]  # one line for the burst's start, one for the lock
    assert get(client, RIGHT, addr="198.51.100.1").status_code == 200  # the admin elsewhere is not locked out


@pytest.mark.parametrize("pwenv", [{"WXBOT_ADMIN_TOKEN": TOKEN}], indirect=True)
def test_forwarded_for_is_ignored_without_trusted_proxies(client):
    for i in range(12):  # an attacker inventing addresses does not escape the throttle
        get(client, WRONG, addr="127.0.0.1", **{"X-Forwarded-For": f"192.0.2.{i}"})
    assert get(client, RIGHT, addr="127.0.0.1", **{"X-Forwarded-For": "198.51.100.1"}).status_code == 429


@pytest.mark.parametrize("pwenv", [{"WXBOT_ADMIN_TOKEN": TOKEN, "WXBOT_TRUSTED_PROXIES": "1"}], indirect=True)
def test_behind_a_trusted_proxy_one_attacker_locks_out_only_itself(client):
    for _ in range(12):  # everyone comes from nginx on 127.0.0.1
        get(client, WRONG, addr="127.0.0.1", **{"X-Forwarded-For": "192.0.2.66"})
    assert get(client, RIGHT, addr="127.0.0.1", **{"X-Forwarded-For": "192.0.2.66"}).status_code == 429
    assert get(client, RIGHT, addr="127.0.0.1", **{"X-Forwarded-For": "198.51.100.1"}).status_code == 200


@pytest.mark.parametrize("pwenv", [{"WXBOT_ADMIN_TOKEN": "short-token-123456"}], indirect=True)
def test_a_short_admin_token_switches_the_api_off_not_the_bot(services, caplog, sim):
    caplog.set_level(logging.INFO, logger="wxbot")
    app = create_app(services.settings, services)
    client = app.test_client()
    auth = {"Authorization": "Bearer short-token-123456"}
    assert client.get("/admin/api/password", headers=auth).status_code == 404
    assert client.post("/admin/api/password/rotate", headers=auth).status_code == 404
    lines = [r.getMessage() for r in caplog.records if "WXBOT_ADMIN_TOKEN" in r.getMessage()]
    assert len(lines) == 1 and "short-token" not in lines[0]
    assert sim.text("oGuardFollower0000000000001", "你好").content  # followers are still served


@pytest.mark.parametrize("pwenv", [{"WXBOT_ADMIN_TOKEN": TOKEN}], indirect=True)
def test_admin_actions_are_in_the_audit_log(client, services):
    assert client.post("/admin/api/password/rotate", headers=RIGHT).status_code == 200
    assert client.post("/admin/api/password/rotate", headers=RIGHT, json={"password": "x"}).status_code == 400
    rows = services.audit.recent(10)
    assert [(r.actor, r.action, r.result) for r in rows] == [("api", "password.rotate", "refused"),
                                                             ("api", "password.rotate", "ok")]
    assert rows[1].target == "v1"
    assert all("x" != r.detail and TOKEN not in r.detail for r in rows)
