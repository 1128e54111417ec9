"""Ticket delivery by the worker: every channel once, acknowledged separately, retries with persisted
backoff, dead-letter and ``tickets retry``, two workers, a worker SIGKILLed mid-delivery, support replies
(including 45015) and no secret in any log. Real Redis; local HTTP servers for the support webhook, the
WeCom robot, WeChat's API and WeChat's picture host."""
from __future__ import annotations

import base64
import hashlib
import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from helpers.env import SUPPORT, make_env
from helpers.procs import clean_env
from helpers.tickets import (
    CS_PATH,
    HOOK_PATH,
    HOOK_QUERY_SECRET,
    HOOK_SECRET,
    OPENID,
    PNG,
    ROBOT_PATH,
    TEMPLATE_PATH,
    WECOM_KEY,
    drain,
    new_ticket,
    settled,
    states,
)
from wxbot.bot import build_features
from wxbot.cli import CliContext, main
from wxbot.features.tickets.delivery import TicketDelivery
from wxbot.features.tickets.messages import wecom_markdown
from wxbot.features.tickets.support import reply_ticket
from wxbot.notifiers.webhook import verify
from wxbot.stores import keys

# -- every channel, once ---------------------------------------------------------------------------

def test_new_ticket_reaches_every_channel_once(sim, rt, redis_client, hook, robot, wechat_api, pics, settings):
    tid = new_ticket(sim, redis_client, "我支付成功了但是订单显示已过期 订单号 E2024061512345678 99元 "
                                        "我的key sk-abcd1234efgh5678ijklWXYZ")
    sim.image(OPENID, pics.url + "/pic/1.png")
    task = TicketDelivery(rt)
    drain(task, redis_client)

    (h,) = [c for c in hook.calls(HOOK_PATH) if c.json()["event"] == "ticket.created"]
    assert h.headers["Idempotency-Key"] == tid
    assert verify(HOOK_SECRET, h.headers["X-Wxbot-Timestamp"], h.body, h.headers["X-Wxbot-Signature"])
    body = h.json()
    assert body["event"] == "ticket.created"
    t = body["ticket"]
    assert t["id"] == tid and t["category"] == "expired_after_paying" and t["order_no"] == "E2024061512345678"
    assert t["amount"] == "99元" and t["status"] == "open" and t["follower"] != OPENID
    assert "sk-abcd****WXYZ" in t["description"] and "1234efgh5678" not in h.body.decode()
    assert t["screenshots"] == []  # the screenshot came after the ticket: its own event

    robot_calls = robot.calls(ROBOT_PATH)
    md = [c.json() for c in robot_calls if c.json()["msgtype"] == "markdown"]
    imgs = [c.json() for c in robot_calls if c.json()["msgtype"] == "image"]
    assert len(md) == 1 and tid in md[0]["markdown"]["content"] and "E2024061512345678" in md[0]["markdown"]["content"]
    assert "1234efgh5678" not in md[0]["markdown"]["content"]
    assert len(imgs) == 1
    data = base64.b64decode(imgs[0]["image"]["base64"])
    assert data == PNG and imgs[0]["image"]["md5"] == hashlib.md5(PNG).hexdigest()

    (cs,) = wechat_api.calls(CS_PATH)
    assert cs.json()["touser"] == SUPPORT and tid in cs.json()["text"]["content"]

    # The screenshot: stored under the data dir, referenced in its own webhook event.
    stored = Path(settings.data_dir) / "tickets" / tid / "1.png"
    assert stored.read_bytes() == PNG
    shot_events = [c for c in hook.calls(HOOK_PATH) if c.json()["event"] == "ticket.screenshot"]
    assert len(shot_events) == 1 and shot_events[0].headers["Idempotency-Key"] == f"{tid}/screenshot-1"
    ref = shot_events[0].json()["screenshot"]
    assert ref == {"n": 1, "status": "stored", "file": f"tickets/{tid}/1.png", "bytes": len(PNG),
                   "sha256": hashlib.sha256(PNG).hexdigest(), "content_type": "image/png"}
    st = states(redis_client, tid)
    assert {k: v["s"] for k, v in st.items()} == {
        "new|webhook": "done", "new|wecom": "done", f"new|support:{next(iter(k for k in st if 'support' in k)).split(':')[1]}": "done",
        "shot1|fetch:1": "done", "shot1|webhook": "done", "shot1|wecom_img:1": "done"}

    # Nothing more happens on later ticks.
    for _ in range(5):
        task.tick()
    assert len(hook.calls(HOOK_PATH)) == 1 + 1 and len(robot.calls(ROBOT_PATH)) == 2 and len(wechat_api.calls(CS_PATH)) == 1


def test_screenshot_given_before_the_ticket_is_fetched_and_forwarded_with_it(sim, rt, redis_client, hook, robot,
                                                                             pics):
    sim.text(OPENID, "订单问题")
    sim.image(OPENID, pics.url + "/pic/1.png")
    tid = new_ticket(sim, redis_client, "订单号 E2024061500000077")
    drain(TicketDelivery(rt), redis_client)
    (h,) = hook.calls(HOOK_PATH)
    assert h.json()["ticket"]["screenshots"][0]["status"] == "stored"
    kinds = [c.json()["msgtype"] for c in robot.calls(ROBOT_PATH)]
    assert kinds == ["markdown", "image"]  # the image follows the ticket's text
    assert states(redis_client, tid)["new|fetch:1"]["s"] == "done"


def test_oversized_picture_falls_back_to_media_download(sim, rt, redis_client, pics, wechat_api, settings):
    pics.on("/pic/big.jpg", lambda req: (200, b"\xff\xd8\xff" + b"x" * 300_000, {"Content-Type": "image/jpeg"}))
    wechat_api.on("/cgi-bin/media/get", lambda req: (200, PNG, {"Content-Type": "image/png"}))
    sim.text(OPENID, "订单问题")
    sim.image(OPENID, pics.url + "/pic/big.jpg", media_id="MEDIA-42")
    tid = new_ticket(sim, redis_client, "订单号 E2024061500000078")
    drain(TicketDelivery(rt), redis_client)
    (m,) = wechat_api.calls("/cgi-bin/media/get")
    assert m.query["media_id"] == ["MEDIA-42"]
    assert (Path(settings.data_dir) / "tickets" / tid / "1.png").read_bytes() == PNG


def test_wecom_markdown_stays_within_its_size_limit(services):
    rec = {"id": "240615-K7M3", "category": "refund", "order_no": "E2024061512345678", "created_at": "1718454600",
           "description": "我付款了但是一直没收到，" * 400 + "<font color=red>[x](http://evil)</font>"}
    content = wecom_markdown(services, rec, {}, 4096)
    assert len(content.encode("utf-8")) <= 4096
    assert "240615-K7M3" in content and "E2024061512345678" in content and "#回复 240615-K7M3" in content
    short = wecom_markdown(services, dict(rec, description="<b>hi</b> [x](y)"), {}, 4096)
    assert "<b>" not in short and "](y)" not in short


def test_wecom_errcode_is_checked(sim, rt, redis_client, robot):
    answers = iter([{"errcode": -1, "errmsg": "system busy, hint: [1718454600_abc], from ip: 10.0.0.1"}])
    robot.on(ROBOT_PATH, lambda req: (200, next(answers, {"errcode": 0, "errmsg": "ok"})))
    tid = new_ticket(sim, redis_client)
    task = TicketDelivery(rt)
    task.tick()
    st = states(redis_client, tid)["new|wecom"]
    assert st["s"] == "pending" and st["a"] == 1 and st["e"] == "WeCom refused: -1 system busy"
    drain(task, redis_client)
    assert states(redis_client, tid)["new|wecom"]["s"] == "done"
    assert len(robot.calls(ROBOT_PATH)) == 2


@pytest.fixture
def templated(env_overrides):
    env_overrides["WXBOT_SUPPORT_TEMPLATE_ID"] = "TPL-ORDER-1"
    return env_overrides


def test_support_gets_a_template_message(templated, sim, rt, redis_client, wechat_api):
    tid = new_ticket(sim, redis_client)
    drain(TicketDelivery(rt), redis_client)
    (call,) = wechat_api.calls(TEMPLATE_PATH)
    body = call.json()
    assert body["touser"] == SUPPORT and body["template_id"] == "TPL-ORDER-1"
    assert body["data"]["character_string1"]["value"] == tid
    assert all(len(v["value"]) <= 20 for v in body["data"].values())
    assert wechat_api.calls(CS_PATH) == []


def test_support_outside_the_48h_window_sees_it_at_their_next_message(sim, rt, redis_client, wechat_api):
    wechat_api.on(CS_PATH, lambda req: (200, {"errcode": 45015, "errmsg": "response out of time limit"}))
    tid = new_ticket(sim, redis_client)
    drain(TicketDelivery(rt), redis_client)
    (support_state,) = [v for k, v in states(redis_client, tid).items() if "support" in k]
    assert support_state["s"] == "deferred"
    assert tid in redis_client.lindex(keys.pending_replies(SUPPORT), 0)


# -- failures, retries, dead letters ---------------------------------------------------------------

def test_support_endpoint_down_then_back(sim, rt, redis_client, hook, robot):
    calls = {"n": 0}

    def flaky(req):
        calls["n"] += 1
        return (503, "down") if calls["n"] <= 2 else (200, {"ok": True})

    hook.on(HOOK_PATH, flaky)
    tid = new_ticket(sim, redis_client)
    task = TicketDelivery(rt)
    before = time.time()
    task.tick()
    st = states(redis_client, tid)
    assert st["new|webhook"]["s"] == "pending" and st["new|webhook"]["e"] == "HTTP 503"
    # The other channels are not held back (acknowledged separately), and the retry time is in Redis.
    assert st["new|wecom"]["s"] == "done"
    due = float(st["new|webhook"]["n"])
    assert before + 0.2 <= due <= time.time() + 0.25  # backoff_initial 0.2 + jitter <= 0.05
    assert redis_client.zscore(keys.TICKETS_RETRY, redis_client.xrange(keys.TICKETS_STREAM)[0][0]) == pytest.approx(due)

    # A restarted worker (new process state) honours the persisted schedule: nothing before it is due.
    task2 = TicketDelivery(rt)
    task2.tick()
    assert calls["n"] == 1
    drain(task2, redis_client)
    times = [c.at for c in hook.calls(HOOK_PATH)]
    assert calls["n"] == 3 and states(redis_client, tid)["new|webhook"]["a"] == 3
    assert times[1] - times[0] >= 0.2 and times[2] - times[1] >= 0.4  # exponential: 0.2 s, then 0.4 s (+jitter)
    assert len(robot.calls(ROBOT_PATH)) == 1
    assert [c.headers["Idempotency-Key"] for c in hook.calls(HOOK_PATH)] == [tid] * 3


def test_dead_letter_alert_and_retry(sim, services, rt, settings, redis_client, hook, robot):
    broken = {"on": True}
    hook.on(HOOK_PATH, lambda req: (500, "boom") if broken["on"] else (200, {"ok": True}))
    tid = new_ticket(sim, redis_client)
    task = TicketDelivery(rt)
    drain(task, redis_client)  # settles: every channel final, the webhook one dead
    st = states(redis_client, tid)
    assert st["new|webhook"]["s"] == "dead" and st["new|webhook"]["a"] == 4
    assert len(hook.calls(HOOK_PATH)) == 4
    assert redis_client.zscore(keys.TICKETS_DEAD, tid) is not None
    alert = json.loads(redis_client.lindex("wxbot:alerts:queue", 0))
    assert alert["kind"] == "ticket_dead_letter" and alert["key"] == tid and tid in alert["message"]

    runner = CliRunner()
    obj = CliContext(settings, services)
    dead = runner.invoke(main, ["tickets", "list", "--status", "dead"], obj=obj)
    assert dead.output.split()[0] == tid and "DEAD" in dead.output
    shown = runner.invoke(main, ["tickets", "show", tid], obj=obj)
    assert "new|webhook:dead(4)" in shown.output

    broken["on"] = False
    retried = runner.invoke(main, ["tickets", "retry"], obj=obj)
    assert retried.exit_code == 0 and "已重新排队 1 张工单的 1 个投递任务" in retried.output
    drain(task, redis_client)
    assert states(redis_client, tid)["new|webhook"]["s"] == "done"
    assert len(hook.calls(HOOK_PATH)) == 5 and len(robot.calls(ROBOT_PATH)) == 1  # WeCom not sent again
    assert redis_client.zcard(keys.TICKETS_DEAD) == 0
    assert runner.invoke(main, ["tickets", "retry"], obj=obj).output.strip() == "已重新排队 0 张工单的 0 个投递任务"


def test_a_client_error_is_dead_lettered_at_once(sim, rt, redis_client, hook):
    hook.on(HOOK_PATH, lambda req: (401, "bad signature"))
    tid = new_ticket(sim, redis_client)
    drain(TicketDelivery(rt), redis_client)
    st = states(redis_client, tid)["new|webhook"]
    assert (st["s"], st["a"], st["e"]) == ("dead", 1, "HTTP 401")
    assert len(hook.calls(HOOK_PATH)) == 1


def test_two_workers_deliver_each_ticket_once_per_channel(sim, settings, redis_client, hook, robot, wechat_api):
    from wxbot.services import build_services

    hook.on(HOOK_PATH, lambda req: (time.sleep(0.02), (200, {"ok": True}))[1])
    ids = [new_ticket(sim, redis_client, f"没收到key 订单号 E20240615{i:08d}", openid=f"oFollowerTwoWorkers{i:09d}")
           for i in range(6)]
    others = [build_services(settings) for _ in range(2)]
    try:
        tasks = [TicketDelivery(build_features(s).tickets.rt) for s in others]
        stop = threading.Event()

        errors: list[BaseException] = []

        def run(task):
            try:
                while not stop.is_set():
                    task.tick()
            except BaseException as exc:  # surfaced below
                errors.append(exc)

        threads = [threading.Thread(target=run, args=(t,)) for t in tasks]
        for t in threads:
            t.start()
        deadline = time.monotonic() + 10
        while not settled(redis_client) and time.monotonic() < deadline:
            time.sleep(0.02)
        stop.set()
        for t in threads:
            t.join()
    finally:
        for s in others:
            s.close()
    assert errors == [] and settled(redis_client)
    assert sorted(c.headers["Idempotency-Key"] for c in hook.calls(HOOK_PATH)) == sorted(ids)
    md = [c.json()["markdown"]["content"] for c in robot.calls(ROBOT_PATH)]
    assert len(md) == 6 and all(sum(tid in m for m in md) == 1 for tid in ids)
    assert len(wechat_api.calls(CS_PATH)) == 6
    consumers = redis_client.xinfo_consumers(keys.TICKETS_STREAM, keys.TICKETS_GROUP)
    assert len(consumers) == 2


def test_worker_killed_mid_delivery_loses_nothing(sim, rt, redis_client, redis_server, config_dir, tmp_path, hook,
                                                  robot, wechat_api, env_overrides):
    release = threading.Event()
    first = {"seen": False}

    def hang_first(req):
        if not first["seen"]:
            first["seen"] = True
            release.wait(10)  # the worker is killed while waiting for this answer
            return 200, {"ok": True}
        return 200, {"ok": True}

    hook.on(HOOK_PATH, hang_first)
    tid = new_ticket(sim, redis_client)
    env = make_env(redis_server, config_dir, tmp_path / "data", WECHAT_API_BASE_URL=wechat_api.url, **env_overrides)
    wxbot_bin = str(Path(sys.executable).parent / "wxbot")
    proc = subprocess.Popen([wxbot_bin, "worker"], env=clean_env(dict(env, WXBOT_LOG_LEVEL="INFO")), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT)
    try:
        got = hook.wait_for(HOOK_PATH, 1, timeout=20)
        assert len(got) == 1, proc.stdout.read1(65536).decode() if proc.poll() is not None else "no request"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(5)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(5)
        release.set()
    out = proc.stdout.read().decode()
    proc.stdout.close()
    assert HOOK_QUERY_SECRET not in out and WECOM_KEY not in out and HOOK_SECRET not in out
    pending = redis_client.xpending(keys.TICKETS_STREAM, keys.TICKETS_GROUP)
    assert pending["pending"] == 1  # the killed worker's entry is still there
    assert robot.calls(ROBOT_PATH) == []  # it never got past the webhook

    # A new worker takes the entry over once it has been idle for reclaim_idle, and finishes it.
    (killed,) = redis_client.xinfo_consumers(keys.TICKETS_STREAM, keys.TICKETS_GROUP)
    drain(TicketDelivery(rt), redis_client, timeout=10)
    consumers = {c["name"]: c["pending"] for c in redis_client.xinfo_consumers(keys.TICKETS_STREAM, keys.TICKETS_GROUP)}
    assert len(consumers) == 2 and consumers[killed["name"]] == 0
    st = states(redis_client, tid)
    assert all(v["s"] == "done" for v in st.values()), st
    assert [c.headers["Idempotency-Key"] for c in hook.calls(HOOK_PATH)] == [tid, tid]  # at least once
    assert len(robot.calls(ROBOT_PATH)) == 1 and len(wechat_api.calls(CS_PATH)) == 1


def test_trim_never_drops_unacknowledged_entries(rt, redis_client):
    task = TicketDelivery(rt)
    task.ensure_group()
    ids = [redis_client.xadd(keys.TICKETS_STREAM, {"t": f"x{i}", "k": "close", "r": ""}) for i in range(3)]
    redis_client.xreadgroup(keys.TICKETS_GROUP, "c1", {keys.TICKETS_STREAM: ">"}, count=2)
    redis_client.xack(keys.TICKETS_STREAM, keys.TICKETS_GROUP, ids[0])
    time.sleep(0.005)
    assert task.trim() == 1  # stream_retention is 0 in tests: only the acknowledged entry goes
    assert [e[0] for e in redis_client.xrange(keys.TICKETS_STREAM)] == ids[1:]
    assert task.trim() == 0


# -- support replies back to the follower ---------------------------------------------------------

def test_reply_and_close_via_cli_reach_the_follower(sim, services, rt, settings, redis_client, wechat_api):
    tid = new_ticket(sim, redis_client)
    task = TicketDelivery(rt)
    drain(task, redis_client)
    runner = CliRunner()
    obj = CliContext(settings, services)
    assert runner.invoke(main, ["tickets", "reply", tid, "已补发，请查收邮箱"], obj=obj).exit_code == 0
    drain(task, redis_client)
    assert runner.invoke(main, ["tickets", "close", tid, "--note", "祝使用愉快"], obj=obj).exit_code == 0
    drain(task, redis_client)
    to_follower = [c.json() for c in wechat_api.calls(CS_PATH) if c.json()["touser"] == OPENID]
    assert len(to_follower) == 2
    assert tid in to_follower[0]["text"]["content"] and "已补发，请查收邮箱" in to_follower[0]["text"]["content"]
    assert "已处理完毕并关闭" in to_follower[1]["text"]["content"] and "祝使用愉快" in to_follower[1]["text"]["content"]
    assert "已关闭" in sim.text(OPENID, "工单").content


@pytest.mark.parametrize("mode", ["safe"], indirect=True)
def test_reply_via_wechat_reaches_the_follower(sim, rt, redis_client, wechat_api):
    tid = new_ticket(sim, redis_client)
    assert tid in sim.text(SUPPORT, f"#回复 {tid} 您好，已为您补发 Key").content
    drain(TicketDelivery(rt), redis_client)
    (msg,) = [c.json() for c in wechat_api.calls(CS_PATH) if c.json()["touser"] == OPENID]
    assert "您好，已为您补发 Key" in msg["text"]["content"]


@pytest.mark.parametrize("errcode", [45015, 48001, 40164])
def test_reply_outside_the_48h_window_is_shown_at_the_next_message(sim, rt, redis_client, wechat_api, errcode):
    """45015/45047 (48-hour window, quota), and an account that cannot send customer-service messages
    at all (48001 unverified, 40164 IP not allow-listed): the reply waits for the follower's next message."""
    def cs(req):
        if req.json()["touser"] == OPENID:
            return 200, {"errcode": errcode, "errmsg": "cannot send now"}
        return 200, {"errcode": 0, "errmsg": "ok"}

    wechat_api.on(CS_PATH, cs)
    tid = new_ticket(sim, redis_client)
    reply_ticket(rt, tid, "Key 已补发到你的邮箱", "cli", f"cli:{errcode}")
    drain(TicketDelivery(rt), redis_client)
    (st,) = [v for k, v in states(redis_client, tid).items() if k.startswith("reply1|")]
    assert st["s"] == "deferred" and str(errcode) in st["e"]
    assert redis_client.llen(keys.pending_replies(OPENID)) == 1
    nxt = sim.text(OPENID, "你好")
    assert nxt.content.startswith(f"【工单 {tid} 客服回复】") and "Key 已补发到你的邮箱" in nxt.content
    assert redis_client.llen(keys.pending_replies(OPENID)) == 0
    assert "Key 已补发" not in sim.text(OPENID, "你好").content  # shown once


# -- secrets never reach logs ---------------------------------------------------------------------

def test_no_url_or_secret_in_logs(sim, rt, redis_client, hook, robot, wechat_api, caplog, settings):
    from wxbot.logconfig import configure_logging

    root = logging.getLogger()
    saved = (list(root.handlers), root.level, getattr(root, "_wxbot_configured", False),
             logging.getLogger("httpx").level, logging.getLogger("httpcore").level,
             (logging._srcfile, logging.logThreads, logging.logProcesses, logging.logMultiprocessing))
    try:
        root._wxbot_configured = False
        # caplog first: it restores the root level it found (WARNING) at teardown, not configure_logging's
        # DEBUG (which would make later tests' caplog see INFO records).
        caplog.set_level(logging.DEBUG)
        configure_logging("DEBUG")  # what `wxbot worker` does, at the most verbose level
        answers = iter([(500, "boom")])
        hook.on(HOOK_PATH, lambda req: next(answers, (200, {"ok": True})))
        robot.on(ROBOT_PATH, lambda req: (200, {"errcode": 93000, "errmsg": "invalid webhook url"}))
        tid = new_ticket(sim, redis_client, "付款了key没有发给我 订单号 E2024061512345678 sk-SECRETKEY0123456789abcd")
        reply_ticket(rt, tid, "ok", "cli", "cli:log")
        drain(TicketDelivery(rt), redis_client)
    finally:
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])
        root._wxbot_configured = saved[2]
        logging.getLogger("httpx").setLevel(saved[3])
        logging.getLogger("httpcore").setLevel(saved[4])
        logging._srcfile, logging.logThreads, logging.logProcesses, logging.logMultiprocessing = saved[5]
    text = caplog.text
    assert "ticket delivery failed" in text and "dead-lettered" in text  # the logs did see the failures
    for secret in (HOOK_QUERY_SECRET, HOOK_SECRET, WECOM_KEY, settings.wechat_app_secret, "ACCESS-TOKEN",
                   OPENID, SUPPORT, "SECRETKEY0123456789", hook.url, robot.url, "access_token="):
        assert secret not in text, secret
    assert "HTTP Request" not in text  # httpx's own request log stays silent

