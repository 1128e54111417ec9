"""/metrics: Prometheus text format, the counters the issue lists, and the worker's counts added in.
(Aggregation over gunicorn workers is tested with a real gunicorn in test_gunicorn.py.)"""
from __future__ import annotations

import pytest
from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.parser import text_string_to_metric_families

from wxbot.metrics import WORKER_KEY, MetricsPushTask

OPENID = "oMetricsFollower0000000000001"


def scrape(client) -> dict[tuple[str, tuple], float]:
    resp = client.get("/metrics")
    assert resp.status_code == 200
    assert resp.headers["Content-Type"].startswith("text/plain; version=")
    out = {}
    for fam in text_string_to_metric_families(resp.get_data(as_text=True)):
        for s in fam.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def families(client) -> set[str]:
    return {fam.name for fam in text_string_to_metric_families(client.get("/metrics").get_data(as_text=True))}


def delta(before, after, name, **labels) -> float:
    key = (name, tuple(sorted(labels.items())))
    return after.get(key, 0.0) - before.get(key, 0.0)


def test_every_metric_the_issue_lists_is_exposed(client):
    names = families(client)
    for name in ("wxbot_messages", "wxbot_replies", "wxbot_faq", "wxbot_dedupe_hits", "wxbot_rate_limited",
                 "wxbot_reply_seconds", "wxbot_tickets", "wxbot_password_rotations",
                 "wxbot_password_sync_failures", "wxbot_redis_errors", "wxbot_alerts"):
        assert name in names


def test_messages_replies_faq_dedupe_and_latency_are_counted(client, sim):
    before = scrape(client)
    sim.text(OPENID, "怎么买key")
    sim.text(OPENID, "zzqx 完全无关的一句话 qwerty")
    fields = sim.text_fields(OPENID, "怎么买key")
    replies = [sim.send(fields) for _ in range(3)]  # WeChat retries: answered from the first delivery
    assert len({r.content for r in replies}) == 1
    after = scrape(client)
    text_messages = {k[1]: after[k] - before.get(k, 0) for k in after if k[0] == "wxbot_messages_total"
                     and dict(k[1])["type"] == "text"}
    assert sum(text_messages.values()) == 5  # by outcome
    assert delta(before, after, "wxbot_messages_total", type="text", outcome="unmatched") == 1
    assert delta(before, after, "wxbot_dedupe_hits_total") == 2
    assert delta(before, after, "wxbot_faq_total", result="answered") == 2  # per message, not per retry
    assert delta(before, after, "wxbot_faq_total", result="unmatched") == 1
    assert delta(before, after, "wxbot_replies_total", feature="faq") == 3  # three messages, two of them retried
    assert delta(before, after, "wxbot_reply_seconds_count") == 5
    assert delta(before, after, "wxbot_reply_seconds_bucket", le="+Inf") == 5


def test_rate_limit_hits_are_counted(client, sim, services):
    before = scrape(client)
    limit = services.bot.webhook.msg_limit
    for i in range(limit + 2):
        sim.text(OPENID, f"第 {i} 条")
    after = scrape(client)
    assert delta(before, after, "wxbot_rate_limited_total", limit="messages") == 2


def test_redis_errors_are_counted(settings, spare_redis):
    from wxbot import create_app
    from wxbot.services import build_services
    from wxbot.testing import WeChatSimulator, flask_transport

    services = build_services(settings.replace(redis_url=spare_redis.url))
    app = create_app(services.settings, services)
    client = app.test_client()
    sim = WeChatSimulator(flask_transport(client), settings.wechat_token)
    before = scrape(client)
    spare_redis.stop()
    sim.text(OPENID, "随便问问")
    after = scrape(client)  # served without the worker's part while Redis is down
    services.close()
    assert delta(before, after, "wxbot_redis_errors_total", where="claim") == 1
    assert sum(v - before.get(k, 0) for k, v in after.items() if k[0] == "wxbot_messages_total") == 1


def worker_registry():
    reg = CollectorRegistry()
    tickets = Counter("wxbot_tickets_total", "Ticket events by channel and state", ["channel", "state"], registry=reg)
    only = Counter("wxbot_worker_only_total", "A counter only the worker has", registry=reg)
    hist = Histogram("wxbot_worker_seconds", "Worker timings", buckets=(0.1, 1.0), registry=reg)
    return reg, tickets, only, hist


def test_worker_counts_are_added_to_the_web_metrics(client, services, redis_client):
    reg, tickets, only, hist = worker_registry()
    task = MetricsPushTask(services, registry=reg)
    before = scrape(client)
    tickets.labels("webhook", "delivered").inc(3)
    tickets.labels("webhook", "dead_lettered").inc()
    only.inc()
    hist.observe(0.5)
    assert task.push() > 0
    mid = scrape(client)
    assert delta(before, mid, "wxbot_tickets_total", channel="webhook", state="delivered") == 3
    assert delta(before, mid, "wxbot_tickets_total", channel="webhook", state="dead_lettered") == 1
    assert mid[("wxbot_worker_only_total", ())] == 1
    assert mid[("wxbot_worker_seconds_bucket", (("le", "0.1"),))] == 0
    assert mid[("wxbot_worker_seconds_bucket", (("le", "1.0"),))] == 1
    assert "# HELP wxbot_worker_only_total A counter only the worker has" in client.get("/metrics").get_data(as_text=True)
    # Only increments are pushed: nothing new, nothing sent; a second worker process adds up.
    assert task.push() == 0
    reg2, tickets2, _, _ = worker_registry()
    tickets2.labels("webhook", "delivered").inc(2)
    MetricsPushTask(services, registry=reg2).push()
    tickets.labels("webhook", "delivered").inc()
    task.push()
    after = scrape(client)
    assert delta(before, after, "wxbot_tickets_total", channel="webhook", state="delivered") == 6
    assert len(redis_client.hkeys(WORKER_KEY)) >= 5


def test_push_task_runs_on_its_interval(services):
    reg, tickets, _, _ = worker_registry()
    now = [100.0]
    task = MetricsPushTask(services, registry=reg, clock=lambda: now[0])
    tickets.labels("webhook", "created").inc()
    assert task.tick() is False  # pushes, but never keeps the worker loop busy
    tickets.labels("webhook", "created").inc()
    task.tick()
    assert task.push() == 1  # the second increment was not pushed by the throttled tick
    assert services.redis.hgetall(WORKER_KEY)


def test_push_is_retried_after_a_redis_failure(settings, spare_redis):
    from wxbot.services import build_services
    from wxbot.stores.redis import REDIS_ERRORS

    services = build_services(settings.replace(redis_url=spare_redis.url))
    reg, tickets, _, _ = worker_registry()
    task = MetricsPushTask(services, registry=reg)
    tickets.labels("webhook", "delivered").inc()
    spare_redis.pause()
    with pytest.raises(REDIS_ERRORS):
        task.push()
    spare_redis.resume()
    assert task.push() > 0
    assert any("delivered" in k for k in spare_redis.client().hkeys(WORKER_KEY))
    services.close()
