"""The worker's fetch keeps each screenshot in Redis too (size-capped, with a retention), so every web
process can show it; and the per-status indexes follow every state change."""
from __future__ import annotations

from helpers.tickets import OPENID, PNG, drain, new_ticket
from wxbot.features.tickets.delivery import TicketDelivery
from wxbot.stores import keys


def test_a_fetched_screenshot_is_in_redis_with_its_retention(app, sim, redis_client, rt, pics):
    tid = new_ticket(sim, redis_client)
    sim.image(OPENID, f"{pics.url}/pic/1.png")
    drain(TicketDelivery(rt), redis_client)
    assert rt.store.get_screenshot(tid, 1) == PNG
    ttl = redis_client.ttl(keys.ticket_shot(tid, 1))
    assert 0 < ttl <= rt.internals.screenshot_retention


def test_status_indexes_follow_reply_close_and_reopen(sim, redis_client, rt):
    tid = new_ticket(sim, redis_client)
    cat = rt.store.get(tid)["category"]

    def where() -> set[str]:
        return {s for s in ("open", "replied", "closed") if redis_client.zscore(keys.tickets_status(s), tid)
                and redis_client.zscore(keys.tickets_status(s, cat), tid)}

    assert where() == {"open"}
    rt.store.add_reply(tid, "hi", "t", "s1", 1.0)
    assert where() == {"replied"}
    rt.store.close(tid, "s2", 2.0)
    assert where() == {"closed"}
    assert rt.store.reopen(tid, "s3", 3.0).ok
    assert where() == {"open"}
    assert rt.store.reopen(tid, "s4", 4.0).status == "not_closed"
    assert redis_client.zscore(keys.tickets_status("all", cat), tid)
    assert rt.store.page("open").total == 1


def test_without_a_bucket_screenshots_stay_in_redis_and_nothing_sweeps(app, sim, redis_client, rt, pics):
    tid = new_ticket(sim, redis_client)
    sim.image(OPENID, f"{pics.url}/pic/1.png")
    drain(TicketDelivery(rt), redis_client)
    assert rt.store.screenshots(rt.store.get(tid))[1]["store"] == "redis"
    assert rt.shots.s3 is None and not redis_client.exists(keys.TICKETS_SHOTS_EXPIRY)
    assert "tickets_shot_sweep" not in [t.name for t in app.extensions["wxbot"].features.worker_tasks()]
