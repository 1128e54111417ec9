"""Screenshots in an S3-compatible bucket (WXBOT_S3_*), against a real S3 HTTP server on 127.0.0.1
(moto's): the real worker's fetch stores a follower's screenshot there, the console serves it to
signed-in users only (content type, nosniff), nothing past the retention, and the sweep deletes it."""
from __future__ import annotations

import logging
from pathlib import Path

import pytest

from helpers.browser import SHOT
from helpers.console import ADMIN_NAME, ADMIN_PASSWORD, SECRET_KEY, signin
from helpers.env import edit_bot_yaml
from helpers.s3 import ACCESS_KEY
from helpers.s3 import SECRET_KEY as S3_SECRET
from helpers.tickets import OPENID, PNG, TICKET_POLICY, drain, new_ticket, ticket_internals_env
from wxbot.features.tickets.delivery import Failure, TicketDelivery
from wxbot.features.tickets.shots import ShotSweep
from wxbot.stores import keys


@pytest.fixture
def bucket(s3_server) -> str:
    return s3_server.new_bucket()


@pytest.fixture
def env_overrides(s3_server, bucket) -> dict:
    return {"WXBOT_SECRET_KEY": SECRET_KEY, **ticket_internals_env(), **s3_server.env(bucket)}


@pytest.fixture
def config_dir(config_dir: Path) -> Path:
    edit_bot_yaml(config_dir, "tickets", TICKET_POLICY)  # 127.0.0.1 is the picture host
    return config_dir


@pytest.fixture
def stored(sim, redis_client, rt, pics) -> str:
    """A follower's report and screenshot, fetched by the real delivery task into the bucket."""
    tid = new_ticket(sim, redis_client)
    sim.image(OPENID, f"{pics.url}/pic/1.png")
    drain(TicketDelivery(rt), redis_client)
    return tid


def test_the_worker_puts_the_screenshot_in_the_bucket_and_the_console_serves_it(app, admin, stored, rt, redis_client,
                                                                               s3_server, bucket):
    tid = stored
    assert s3_server.objects(bucket) == [f"tickets/{tid}/1"]
    assert s3_server.read(bucket, f"tickets/{tid}/1") == (SHOT, "image/png")
    assert not redis_client.exists(keys.ticket_shot(tid, 1))  # not in Redis as well
    assert rt.store.screenshots(rt.store.get(tid))[1]["store"] == "s3"
    page = admin.get(f"/console/tickets/{tid}").get_data(as_text=True)
    assert f'src="/console/tickets/{tid}/shots/1"' in page
    resp = admin.get(f"/console/tickets/{tid}/shots/1")
    assert resp.status_code == 200 and resp.data == SHOT and resp.mimetype == "image/png"
    assert resp.headers["X-Content-Type-Options"] == "nosniff" and resp.headers["Cache-Control"] == "no-store"
    assert admin.get(f"/console/tickets/{tid}/shots/2").status_code == 404
    # Signed out: the sign-in page, never the picture.
    anon = app.test_client().get(f"/console/tickets/{tid}/shots/1")
    assert anon.status_code == 302 and "/console/login" in anon.headers["Location"] and SHOT not in anon.data


def test_screenshots_from_before_the_bucket_are_still_served_from_redis(admin, sim, redis_client, rt):
    tid = new_ticket(sim, redis_client)
    rt.store.update_screenshot(tid, 1, {"pic_url": "http://127.0.0.1/x.png", "file": "tickets/x/1.png"})  # no store
    rt.store.put_screenshot(tid, 1, PNG, 60)
    resp = admin.get(f"/console/tickets/{tid}/shots/1")
    assert resp.status_code == 200 and resp.data == PNG


def test_past_the_retention_nothing_is_served_and_the_sweep_deletes_it(admin, clock, stored, rt, redis_client,
                                                                       s3_server, bucket):
    tid = stored
    shot = rt.store.screenshots(rt.store.get(tid))[1]
    expires = redis_client.zscore(keys.TICKETS_SHOTS_EXPIRY, f"{tid}/1")
    assert abs(expires - rt.internals.screenshot_retention - shot["fetched_at"]) < 5
    clock.now = expires + 1
    assert signin(admin, ADMIN_NAME, ADMIN_PASSWORD).status_code == 302  # months later: a new session
    assert admin.get(f"/console/tickets/{tid}/shots/1").status_code == 404
    assert "已过保存期限" in admin.get(f"/console/tickets/{tid}").get_data(as_text=True)
    now = [expires - 1]
    sweep = ShotSweep(rt.shots.s3, interval=600, clock=lambda: now[0])
    assert sweep.tick() is False and s3_server.objects(bucket) == [f"tickets/{tid}/1"]  # not due yet
    now[0] = expires + 1
    assert sweep.tick() is False and s3_server.objects(bucket)  # the next sweep is 600 s after the last
    now[0] = expires - 1 + 600
    assert sweep.tick() is True
    assert s3_server.objects(bucket) == [] and redis_client.zcard(keys.TICKETS_SHOTS_EXPIRY) == 0


def test_the_worker_sweeps_the_bucket_only_when_there_is_one(app):
    names = [t.name for t in app.extensions["wxbot"].features.worker_tasks()]
    assert "tickets_shot_sweep" in names


def test_a_bucket_that_fails_is_a_page_that_says_so_and_a_retried_fetch(admin, stored, sim, redis_client, rt, pics,
                                                                         caplog):
    caplog.set_level(logging.DEBUG)
    tid = stored
    rt.shots.s3.bucket = "no-such-bucket-here"  # as when the bucket was removed or the keys lost access
    resp = admin.get(f"/console/tickets/{tid}/shots/1")
    assert resp.status_code == 503 and "截图存储暂时连不上" in resp.get_data(as_text=True)
    assert resp.headers["X-Content-Type-Options"] == "nosniff"
    rec = rt.store.get(tid)
    rt.store.update_screenshot(tid, 1, {"pic_url": f"{pics.url}/pic/1.png"})  # not fetched yet
    with pytest.raises(Failure) as failed:
        TicketDelivery(rt).channel.fetch(tid, 1, rt.store.get(tid) or rec)
    assert failed.value.retryable and "S3 upload failed (NoSuchBucket)" in str(failed.value)
    for secret in (S3_SECRET, ACCESS_KEY):
        assert secret not in str(failed.value) and secret not in caplog.text
