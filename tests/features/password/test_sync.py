"""Sync to NextChat and scheduled rotation: a fake NextChat receiver on 127.0.0.1 verifies the signature
and keeps ``CODE`` as a real receiver would; Redis is real. The fixtures are in conftest.py (this
module's ``password_sync`` mark turns the sync on); clocks are passed in (``now=``), never slept for."""
from __future__ import annotations

import concurrent.futures
import json
import logging
import threading
import time

import pytest
from click.testing import CliRunner

from helpers.env import ADMIN
from helpers.password import OPENID, is_password_reply, settle
from helpers.password import SYNC_ADMIN_TOKEN as ADMIN_TOKEN
from helpers.password import SYNC_SECRET as SECRET
from wxbot.bot import build_features
from wxbot.cli import CliContext, main
from wxbot.features.password.rotation import ScheduleTask
from wxbot.features.password.sync import SyncTask
from wxbot.services import build_services
from wxbot.worker import Worker

pytestmark = pytest.mark.password_sync


def password_feature(services):
    """The password feature of another process on the same Redis (a second worker, the CLI...)."""
    return build_features(services).password


def test_followers_see_a_new_password_only_after_nextchat_confirmed(pw, sync, sim, nextchat, redis_client):
    rot, _ = pw.rotate("cli", "cli", "First-Code-1")
    assert rot.version == 1
    assert sim.text(OPENID, "密码").content == sim_text(pw, "password.none")  # not confirmed yet
    assert settle(sync) == 1
    assert nextchat.code == ["First-Code-1"]
    assert is_password_reply(sim.text(OPENID, "密码").content, "First-Code-1")

    pw.rotate("cli", "cli", "Second-Code-2")
    assert is_password_reply(sim.text(OPENID, "密码").content, "First-Code-1")  # still the accepted one
    assert settle(sync) == 1
    body = nextchat.accepted[-1]
    assert body["password"] == "Second-Code-2" and body["shown"] == "First-Code-1" and body["version"] == 2
    assert nextchat.code == ["Second-Code-2", "First-Code-1"]  # CODE="new,shown"
    assert is_password_reply(sim.text(OPENID, "密码").content, "Second-Code-2")
    st = pw.store.state()
    assert st.sync_state == "ok" and st.previous().password == "First-Code-1"
    assert settle(sync) == 0  # nothing left: grace period still running, codes unchanged
    assert nextchat.refused == 0


def sim_text(pw, key: str) -> str:
    return pw.services.texts.get().render(key)


def test_receiver_refuses_a_wrong_signature(pw, sync, nextchat, sim):
    nextchat.secret = "another-secret"
    pw.rotate("cli", "cli", "Signed-Code-1")
    assert sync.sync_once() is True
    st = pw.store.state()
    assert nextchat.refused == 1 and st.sync_state == "failing" and "HTTP 401" in st.sync_last_error
    assert st.shown is None


@pytest.mark.parametrize("pwint", [{"sync_retry_base": 0.4, "sync_retry_max": 1.0}], indirect=True)
def test_sync_failure_retries_with_backoff_then_recovers(pw, sync, nextchat, sim, redis_client, caplog):
    caplog.set_level(logging.INFO, logger="wxbot")
    now = time.time()
    pw.rotate("cli", "cli", "Base-Code-1", now=now)
    settle(sync, now)
    nextchat.fail_with = 503
    pw.rotate("cli", "cli", "Retry-Code-2", now=now)
    assert sync.sync_once(now) is True
    st = pw.store.state()
    assert st.sync_state == "failing" and st.sync_attempts == 1 and st.sync_next_at > now
    assert sync.sync_once(now) is False  # backoff: not yet
    assert sync.sync_once(st.sync_next_at - 0.01) is False  # ... not even just before it is due
    assert is_password_reply(sim.text(OPENID, "密码").content, "Base-Code-1")
    assert sync.sync_once(st.sync_next_at) is True and pw.store.state().sync_attempts == 2  # due: retried
    alerts = [json.loads(a) for a in redis_client.lrange("wxbot:alerts:queue", 0, -1)]
    assert [a["kind"] for a in alerts] == ["password_sync"] and "2" in alerts[0]["message"]
    out = CliRunner().invoke(main, ["password", "show"], obj=CliContext(pw.services.settings, pw.services))
    assert "失败（已尝试 2 次）：HTTP 503" in out.output
    nextchat.fail_with = None
    assert sync.sync_once(pw.store.state().sync_next_at) is True
    st = pw.store.state()
    assert st.sync_state == "ok" and st.sync_attempts == 0 and st.shown.password == "Retry-Code-2"
    assert is_password_reply(sim.text(OPENID, "密码").content, "Retry-Code-2")
    assert "password sync recovered" in caplog.text


def test_a_rotation_replaces_an_unconfirmed_one(pw, sync, nextchat, sim):
    pw.rotate("cli", "cli", "Shown-Code-1")
    settle(sync)
    nextchat.fail_with = 500
    pw.rotate("cli", "cli", "Never-Shown-2")
    sync.sync_once()
    rot, _ = pw.rotate("cli", "cli", "Replacing-3")
    assert rot.replaced == 2
    nextchat.fail_with = None
    assert pw.store.state().sync_next_at == 0  # a new rotation is synced at once
    assert settle(sync) == 1
    assert nextchat.code == ["Replacing-3", "Shown-Code-1"]
    assert is_password_reply(sim.text(OPENID, "密码").content, "Replacing-3")
    assert all("Never-Shown-2" not in b["codes"] or b["version"] == 2 for b in nextchat.accepted)


def test_a_late_confirmation_never_shows_a_replaced_password(pw, sync):
    pw.rotate("cli", "cli", "Shown-Code-1")
    settle(sync)
    pw.rotate("cli", "cli", "Old-Pending-2")
    pw.rotate("cli", "cli", "New-Pending-3")
    assert pw.store.confirm(2, ["Old-Pending-2", "Shown-Code-1"], time.time(), 3600) is False
    st = pw.store.state()
    assert st.shown.password == "Shown-Code-1" and st.pending and st.sync_state == "pending"
    assert pw.store.sync_failed(2, time.time(), time.time() + 60, "late failure") == -1  # ignored too
    assert pw.store.state().sync_attempts == 0


@pytest.mark.parametrize("pwcfg", [{"grace_seconds": 30}], indirect=True)
def test_the_old_code_is_dropped_by_a_later_sync_after_the_grace_period(pw, sync, nextchat):
    now = time.time()
    pw.rotate("cli", "cli", "Code-One-1", now=now)
    settle(sync, now)
    pw.rotate("cli", "cli", "Code-Two-2", now=now)
    settle(sync, now)
    assert nextchat.code == ["Code-Two-2", "Code-One-1"]
    assert settle(sync, now + 29) == 0
    assert settle(sync, now + 31) == 1
    assert nextchat.code == ["Code-Two-2"] and nextchat.accepted[-1]["version"] == 2
    assert settle(sync, now + 40) == 0


@pytest.mark.parametrize("pwcfg", [{"grace_seconds": 30}], indirect=True)
@pytest.mark.parametrize("pwint", [{"drop_expired": False}], indirect=True)
def test_without_drop_expired_the_next_rotation_drops_it(pw, sync, nextchat):
    now = time.time()
    for value in ["Code-One-1", "Code-Two-2"]:
        pw.rotate("cli", "cli", value, now=now)
        settle(sync, now)
    assert settle(sync, now + 60) == 0
    pw.rotate("cli", "cli", "Code-Three-3", now=now + 60)
    settle(sync, now + 60)
    assert nextchat.code == ["Code-Three-3", "Code-Two-2"]


def test_the_worker_runs_the_sync(services, bot, pw, nextchat):
    tasks = [t for t in bot.features.worker_tasks() if isinstance(t, (SyncTask, ScheduleTask))]
    assert len(tasks) == 2
    pw.rotate("api", "api", "Worker-Code-1")
    Worker(services, tasks).run_once()
    assert nextchat.code == ["Worker-Code-1"] and pw.store.state().shown.password == "Worker-Code-1"


def test_missing_secret_refuses_to_send_unsigned(settings, nextchat):
    services = build_services(settings.replace(password_sync_secret=None))
    try:
        feature = password_feature(services)
        pw, sync = feature.passwords, feature.sync
        pw.rotate("cli", "cli", "Unsigned-1")
        assert sync.sync_once() is True
        st = pw.store.state()
        assert st.sync_state == "failing" and "SECRET" in st.sync_last_error and not nextchat.server.requests
    finally:
        services.close()


def test_switching_sync_off_shows_a_waiting_rotation(settings, nextchat, pw):
    pw.rotate("cli", "cli", "Waiting-1")
    services = build_services(settings.replace(password_sync_url=None))
    try:
        off = password_feature(services).sync
        assert off.sync_once() is True and off.store.state().shown.password == "Waiting-1"
        assert off.store.state().sync_state == "off"
    finally:
        services.close()


# -- scheduled rotation ------------------------------------------------------------------------

@pytest.mark.parametrize("pwcfg", [{"schedule_every_hours": 6}], indirect=True)
def test_scheduled_rotation_runs_once_per_period_across_workers(settings, services, pw, sync, nextchat, caplog):
    other = build_services(settings)  # a second worker process, same Redis
    try:
        other_pw = password_feature(other).passwords
        workers = [pw, other_pw, pw, other_pw]
        now = pw.schedule.period_start(time.time()) + 60
        barrier = threading.Barrier(len(workers))

        def run(p):
            barrier.wait()
            return p.scheduled_once(now)

        with concurrent.futures.ThreadPoolExecutor(len(workers)) as pool:
            results = list(pool.map(run, workers))
        assert results.count(True) == 1
        rows = pw.store.history(10)
        assert len(rows) == 1 and rows[0].trigger == "schedule"
        assert other_pw.scheduled_once(now + 3600) is False  # same period
        settle(sync, now)
        assert pw.store.state().shown.version == 1
        # Next period, sync failing: skipped and logged, exactly once.
        nextchat.fail_with = 500
        pw.rotate("cli", "cli", "Manual-Two-2", now=now + 60)
        sync.sync_once(now + 60)
        later = now + 6 * 3600
        assert pw.scheduled_once(later) is False and other_pw.scheduled_once(later) is False
        assert caplog.text.count("scheduled password rotation skipped") == 1
        assert pw.store.state().version == 2
        # The period after, sync healthy again: rotates.
        nextchat.fail_with = None
        settle(sync, later + 120)
        assert pw.scheduled_once(later + 6 * 3600) is True and pw.store.state().version == 3
    finally:
        other.close()


@pytest.mark.parametrize("pwcfg", [{"schedule_every_hours": 6}], indirect=True)
def test_a_scheduled_rotation_that_failed_is_not_lost(settings, pw, redis_client, monkeypatch):
    """The period is claimed in the rotation script itself: a Redis error (or a killed worker) on
    the way leaves the period unclaimed, and the next tick rotates."""
    import redis

    now = pw.schedule.period_start(time.time()) + 60
    period_key = "wxbot:password:period:" + pw.schedule.period_id(pw.schedule.period_start(now))
    real = pw.store._rotate
    calls = []

    def blip(*args, **kwargs):  # the request never reached Redis
        calls.append("blip")
        raise redis.ConnectionError("connection reset by peer")

    monkeypatch.setattr(pw.store, "_rotate", blip)
    with pytest.raises(redis.ConnectionError):
        pw.scheduled_once(now)
    assert calls == ["blip"] and not redis_client.exists(period_key)
    monkeypatch.setattr(pw.store, "_rotate", real)
    assert pw.scheduled_once(now + 1) is True  # the next tick: still this period's rotation
    assert pw.store.state().version == 1 and pw.store.history(5)[0].trigger == "schedule"
    assert redis_client.get(period_key) == "rotated" and redis_client.ttl(period_key) > 8 * 86400

    # Next period: the script ran but its answer was lost (timeout). Nobody rotates this period again.
    def lost_reply(*args, **kwargs):
        real(*args, **kwargs)
        raise redis.TimeoutError("timeout reading from socket")

    later = now + 6 * 3600
    monkeypatch.setattr(pw.store, "_rotate", lost_reply)
    with pytest.raises(redis.TimeoutError):
        pw.scheduled_once(later)
    monkeypatch.setattr(pw.store, "_rotate", real)
    other = build_services(settings)  # another worker, which never saw this period
    try:
        assert pw.scheduled_once(later + 1) is False and password_feature(other).passwords.scheduled_once(
            later + 1) is False
    finally:
        other.close()
    assert pw.store.state().version == 2


def test_the_period_claim_and_the_rotation_are_one_script(pw, redis_client):
    now = time.time()
    first = pw.store.rotate("Period-One-1", now, 0, "", "schedule", "schedule", False, 0, "20300101T0000", 60)
    again = pw.store.rotate("Period-Two-2", now, 0, "", "schedule", "schedule", False, 0, "20300101T0000", 60)
    assert first is not None and first.version == 1 and again is None
    assert pw.store.state().shown.password == "Period-One-1" and len(pw.store.history(5)) == 1
    assert 0 < redis_client.ttl("wxbot:password:period:20300101T0000") <= 60


@pytest.mark.parametrize("pwcfg", [{"schedule_cron": "0 0 * * *"}], indirect=True)
def test_cron_schedule_in_shanghai_time(pw):
    from datetime import datetime
    from zoneinfo import ZoneInfo

    tz = ZoneInfo("Asia/Shanghai")
    midnight = datetime(2030, 5, 2, 0, 0, tzinfo=tz).timestamp()
    assert pw.schedule.period_start(midnight) == midnight
    assert pw.schedule.period_start(midnight - 0.5) == midnight - 86400
    assert pw.schedule.next_after(midnight) == midnight + 86400
    pw.rotate("cli", "cli", "Manual-1", now=midnight + 3600)  # admin rotated at 01:00
    assert pw.scheduled_once(midnight + 7200) is False  # this period is done
    assert pw.scheduled_once(midnight + 86400 + 1) is True
    assert pw.store.state().current_until == midnight + 2 * 86400


# -- logs ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("mode", ["safe"], indirect=True)
def test_no_password_or_token_in_logs(pw, sync, services, settings, sim, client, nextchat, wechat_api, caplog):
    caplog.set_level(logging.DEBUG)
    wechat_api.on("/cgi-bin/stable_token", lambda req: (200, {"access_token": "ACCESS-TOKEN-SECRET-1",
                                                              "expires_in": 7200}))
    nextchat.fail_with = 502
    obj = CliContext(settings, services)
    out = CliRunner().invoke(main, ["password", "set", "Log-Code-001"], obj=obj)
    assert out.exit_code == 0
    assert sync.sync_once() is True and pw.store.state().sync_state == "failing"
    nextchat.fail_with = None
    assert sync.sync_once(pw.store.state().sync_next_at) is True  # the retry, once due
    resp = client.post("/admin/api/password/rotate", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
                       json={"password": "Log-Code-002"})
    client.post("/admin/api/password/rotate", headers={"Authorization": "Bearer wrong-token-guess"})
    assert resp.status_code == 200
    reply = sim.text(ADMIN, "#换密码 Log-Code-003").content
    assert "Log-Code-003" in reply
    settle(sync)
    generated = CliRunner().invoke(main, ["password", "rotate"], obj=obj).output.split("版本 4：")[1].split()[0]
    settle(sync)
    assert is_password_reply(sim.text(OPENID, "密码").content, generated)
    out = CliRunner().invoke(main, ["menu", "push"], obj=obj)
    assert out.exit_code == 0, out.output
    secrets_ = ["Log-Code-001", "Log-Code-002", "Log-Code-003", generated, ADMIN_TOKEN, "wrong-token-guess",
                SECRET, "url-key-secret", "ACCESS-TOKEN-SECRET-1", settings.wechat_app_secret, ADMIN]
    text = caplog.text + "".join(str(r.args) for r in caplog.records)
    assert "password sync ok" in text and "password rotated" in text  # the logs are there...
    assert "menu/create?[redacted]" in text  # httpx's own request line, query string cut
    for s in secrets_:
        assert s not in text, s  # ...without any secret
