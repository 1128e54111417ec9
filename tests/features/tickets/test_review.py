"""Regression tests for the ticket findings of the code review (H1, H2, M3, L2-L6, L8, metrics).

Real Redis, local HTTP servers; each test failed before its fix. Races are forced deterministically:
several handler calls are built from the same claim snapshot, which is what concurrent deliveries
of one follower see.
"""
from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
import redis

from helpers.env import SUPPORT
from helpers.tickets import (
    CS_PATH,
    HOOK_PATH,
    OPENID,
    PNG,
    dialog_state,
    drain,
    new_ticket,
    only_ticket,
    states,
    stream_jobs,
    ticket_ids,
    tickets_metric,
)
from wxbot.features.tickets.channels import UNSIGNED_REASON, host_allowed
from wxbot.features.tickets.delivery import TicketDelivery
from wxbot.features.tickets.intake import continue_intake
from wxbot.features.tickets.support import reply_ticket
from wxbot.features.tickets.understanding import extract
from wxbot.router import Ctx
from wxbot.stores import keys
from wxbot.stores.dedupe import Claim
from wxbot.wechat.protocol import to_message

_ids = iter(range(700000, 800000))


def message(kind: str, **extra) -> object:
    fields = {"ToUserName": "gh_x", "FromUserName": OPENID, "CreateTime": str(int(time.time())), "MsgType": kind,
              "MsgId": str(next(_ids))}
    fields.update(extra)
    return to_message(fields)


def handler_ctx(services, snapshot: str | None) -> Ctx:
    """What the pipeline hands a handler whose claim read ``snapshot`` as the dialogue."""
    return Ctx(services, OPENID, claim=Claim(duplicate=False, dialog=snapshot))


# -- H1: long messages cost linear time ---------------------------------------------------------------

# A hang guard, not a budget: the linear scan takes milliseconds, the quadratic one it replaced minutes.
@pytest.mark.timeout(20)
def test_extract_is_linear_on_long_digit_runs():
    assert extract("1" * 60000).amount == ""  # no unit: every start position used to be retried
    found = extract("1" * 60000 + "元")
    assert found.amount == ""  # a 60 000-digit "amount" is no amount
    assert extract("付了 99.5元").amount == "99.5元" and extract("￥ 12").amount == "¥ 12"


def test_60kb_digit_message_is_answered_well_under_a_second(sim, redis_client):
    started = time.monotonic()
    reply = sim.text(OPENID, "付款了没收到key " + "1" * 60000)
    first = time.monotonic() - started
    assert reply.status == 200 and "订单号" in reply.content
    assert first < 1.0, f"{first:.2f}s"
    # The same inside the dialogue (every text there is examined for order details).
    started = time.monotonic()
    again = sim.text(OPENID, "7" * 60000)
    second = time.monotonic() - started
    assert again.status == 200 and again.content
    assert second < 1.0, f"{second:.2f}s"
    assert len(dialog_state(redis_client)["desc"]) <= 500


# -- H2: screenshots sent together ----------------------------------------------------------------------

def test_images_sent_together_are_all_kept(sim, services, rt, redis_client):
    sim.text(OPENID, "订单问题")
    snapshot = redis_client.get(keys.dialog(OPENID))
    # Three images handled concurrently: every handler read the same dialogue before any wrote.
    replies = [continue_intake(rt, message("image", PicUrl=f"http://127.0.0.1/pic/{i}.png", MediaId=f"M{i}"),
                               handler_ctx(services, snapshot)) for i in range(3)]
    assert [("第 %d 张" % n) in r for n, r in zip((1, 2, 3), replies)] == [True, True, True]
    created = sim.text(OPENID, "订单号 E2024061500003333")
    rec = only_ticket(redis_client)
    assert rec["id"] in created.content
    assert rec["nshots"] == "3" and rec["shots0"] == "3"
    assert sorted(json.loads(rec[f"shot:{n}"])["media_id"] for n in (1, 2, 3)) == ["M0", "M1", "M2"]
    assert not redis_client.exists(keys.dialog_shots(OPENID))
    assert dialog_state(redis_client) is None  # three screenshots: nothing more to attach


def test_image_racing_the_order_number_is_attached_not_a_second_report(sim, services, rt, redis_client):
    sim.text(OPENID, "订单问题")
    snapshot = redis_client.get(keys.dialog(OPENID))
    text = message("text", Content="订单号 E2024061500004444")
    image = message("image", PicUrl="http://127.0.0.1/pic/1.png", MediaId="M1")
    created = continue_intake(rt, text, handler_ctx(services, snapshot))
    attached = continue_intake(rt, image, handler_ctx(services, snapshot))  # read "collect" before the ticket
    rec = only_ticket(redis_client)
    assert rec["id"] in created and rec["id"] in attached
    assert redis_client.hget(keys.ticket(rec["id"]), "nshots") == "1"
    assert dialog_state(redis_client)["st"] == "attach"
    # A later order number is not taken by a resurrected "collect" dialogue as a second report.
    sim.text(OPENID, "E2024061500005555")
    assert len(ticket_ids(redis_client)) == 1


def test_text_racing_the_order_number_does_not_reopen_the_report(services, rt, sim, redis_client):
    sim.text(OPENID, "订单问题")
    snapshot = redis_client.get(keys.dialog(OPENID))
    continue_intake(rt, message("text", Content="订单号 E2024061500006666"), handler_ctx(services, snapshot))
    late = continue_intake(rt, message("text", Content="昨天晚上8点付的 99元"), handler_ctx(services, snapshot))
    tid = only_ticket(redis_client)["id"]
    assert tid in late and "ACG508" in late
    assert dialog_state(redis_client)["st"] == "attach"


def test_concurrent_texts_both_reach_the_report(services, rt, sim, redis_client):
    sim.text(OPENID, "订单问题")
    snapshot = redis_client.get(keys.dialog(OPENID))
    continue_intake(rt, message("text", Content="昨天晚上8点付的"), handler_ctx(services, snapshot))
    continue_intake(rt, message("text", Content="付了99元"), handler_ctx(services, snapshot))
    state = dialog_state(redis_client)
    assert state["amount"] == "99元" and "8点" in state["paid_at"]


# -- M3: the dialogue takes only what belongs to the report -----------------------------------------

def test_asking_for_a_person_gets_the_contact_not_a_report(sim, redis_client):
    for word in ("人工", "人工客服", "转人工"):
        reply = sim.text(OPENID, word)
        assert "ACG508" in reply.content and "订单问题" in reply.content, word
        assert dialog_state(redis_client) is None and ticket_ids(redis_client) == []
    assert "已记下" not in sim.text(OPENID, "在吗").content


def test_dialogue_lets_other_questions_through_and_keeps_the_report(sim, redis_client):
    sim.text(OPENID, "我付款了但是没收到key")
    before = dialog_state(redis_client)
    answers = {q: sim.text(OPENID, q).content for q in ("baseurl填啥", "怎么查余额", "你好", "谢谢", "公益版密码", "人工")}
    for q, a in answers.items():
        assert "已记下" not in a, (q, a)
    assert "公益版" in answers["公益版密码"]  # the password feature answered
    assert "ACG508" in answers["人工"] and "还没提交" in answers["人工"]
    assert dialog_state(redis_client) == before  # the partial report is untouched

    assert "已记下" in sim.text(OPENID, "昨天晚上8点付的 99元").content
    assert "已记下" in sim.text(OPENID, "用支付宝付的").content  # a short answer right after the question
    created = sim.text(OPENID, "订单号 E2024061500007777")
    rec = only_ticket(redis_client)
    assert rec["id"] in created.content and rec["amount"] == "99元"
    assert "支付宝" in rec["description"] and "8点" in rec["description"]
    for q in ("baseurl", "余额", "谢谢", "公益版"):
        assert q not in rec["description"]


def test_a_short_reply_long_after_the_question_is_not_an_answer(sim, redis_client):
    sim.text(OPENID, "订单问题")
    state = dialog_state(redis_client)
    state["q"] = state["t0"] = int(time.time()) - 1000
    redis_client.set(keys.dialog(OPENID), json.dumps(state, ensure_ascii=False), ex=600)
    assert "已记下" not in sim.text(OPENID, "用支付宝付的").content
    assert "已记下" in sim.text(OPENID, "付了99元").content  # details are always taken


# -- L6: no "订单问题（订单问题）" ----------------------------------------------------------------------

def test_general_report_does_not_repeat_its_category(sim):
    assert "（订单问题）" not in sim.text(OPENID, "订单问题").content
    assert "（付款后没收到 Key）" in sim.text("oTicketFollower000000000003", "钱扣了没收到key").content


# -- L2 / L5: staff commands --------------------------------------------------------------------------

@pytest.mark.parametrize("mode", ["safe"], indirect=True)
def test_staff_commands_accept_any_whitespace(sim, redis_client):
    sim.text(OPENID, "没收到key 订单号 E2024061512120000")
    tid = only_ticket(redis_client)["id"]
    assert tid in sim.text(SUPPORT, f"#回复 {tid}　已补发，请查收").content  # full-width space
    assert tid in sim.text(SUPPORT, f"#回复 {tid}\n第一行\n第二行").content  # newline
    assert tid in sim.text(SUPPORT, f"#回复　{tid}　全角空格").content  # full-width spaces only
    texts = [json.loads(x)["text"] for x in redis_client.lrange(keys.ticket_replies(tid), 0, -1)]
    assert texts == ["已补发，请查收", "第一行\n第二行", "全角空格"]
    assert "已关闭" in sim.text(SUPPORT, f"#关闭 {tid}\n已补发").content
    assert redis_client.hget(keys.ticket(tid), "close_note") == "已补发"


@pytest.mark.parametrize("mode", ["safe"], indirect=True)
def test_open_breaker_answers_busy_at_once(sim, services, redis_client):
    sim.text(OPENID, "没收到key 订单号 E2024061512120001")
    tid = only_ticket(redis_client)["id"]
    busy = services.texts.get().render("errors.busy")
    services.breaker.trip()
    assert sim.text(OPENID, "工单").content == busy
    assert sim.text(SUPPORT, f"#回复 {tid} 你好").content == busy
    assert sim.text(SUPPORT, f"#关闭 {tid}").content == busy
    assert sim.text(SUPPORT, "#工单").content == busy
    assert redis_client.llen(keys.ticket_replies(tid)) == 0 and redis_client.hget(keys.ticket(tid), "status") == "open"


# -- L3: never an unsigned webhook -----------------------------------------------------------------------

@pytest.fixture
def unsigned(env_overrides):
    env_overrides.pop("WXBOT_TICKET_WEBHOOK_SECRET")
    return env_overrides


def test_webhook_without_secret_is_refused_and_alerted_once(unsigned, sim, rt, redis_client, hook, robot):
    first = new_ticket(sim, redis_client)
    second = new_ticket(sim, redis_client, "重复扣款 订单号 E2024061500008888")
    drain(TicketDelivery(rt), redis_client)
    assert hook.calls(HOOK_PATH) == []  # nothing unsigned left wxbot
    for tid in (first, second):
        st = states(redis_client, tid)
        assert st["new|webhook"]["s"] == "dead" and st["new|webhook"]["e"] == UNSIGNED_REASON
        assert st["new|wecom"]["s"] == "done"  # the other channels still work
    alerts = [json.loads(x) for x in redis_client.lrange("wxbot:alerts:queue", 0, -1)]
    assert [(a["kind"], a["key"]) for a in alerts] == [("ticket_config", "webhook")]
    assert "WXBOT_TICKET_WEBHOOK_SECRET" in alerts[0]["message"]


# -- L4: screenshot fetch -----------------------------------------------------------------------------

def test_picture_host_allow_list():
    allowed = [".qpic.cn", ".qlogo.cn"]
    assert host_allowed("http://mmbiz.qpic.cn/mmbiz_jpg/abc/0", allowed)
    assert host_allowed("https://qpic.cn/x", allowed)
    assert not host_allowed("http://qpic.cn.evil.example/x", allowed)
    assert not host_allowed("http://evilqpic.cn/x", allowed)
    assert not host_allowed("http://127.0.0.1:8080/x", allowed)
    assert not host_allowed("http://169.254.169.254/latest/meta-data", allowed)
    assert host_allowed("http://127.0.0.1:8080/x", ["127.0.0.1"])


def _restrict_hosts(rt, hosts):
    rt.cfg = rt.cfg.model_copy(update={"picture_hosts": hosts})


def test_media_id_is_preferred_to_the_picture_url(sim, rt, redis_client, pics, wechat_api, settings):
    wechat_api.on("/cgi-bin/media/get", lambda req: (200, PNG, {"Content-Type": "image/png"}))
    sim.text(OPENID, "订单问题")
    sim.image(OPENID, pics.url + "/pic/1.png", media_id="MEDIA-9")
    tid = new_ticket(sim, redis_client, "订单号 E2024061500009999")
    drain(TicketDelivery(rt), redis_client)
    assert [c.query["media_id"] for c in wechat_api.calls("/cgi-bin/media/get")] == [["MEDIA-9"]]
    assert pics.calls("/pic/1.png") == []
    assert (Path(settings.data_dir) / "tickets" / tid / "1.png").read_bytes() == PNG


def test_picture_url_outside_the_allow_list_is_never_fetched(sim, rt, redis_client, pics, wechat_api):
    _restrict_hosts(rt, [".qpic.cn", ".qlogo.cn"])  # the shipped default: 127.0.0.1 is not allowed
    wechat_api.on("/cgi-bin/media/get", lambda req: (200, {"errcode": 40007, "errmsg": "invalid media_id"}))
    sim.text(OPENID, "订单问题")
    sim.image(OPENID, pics.url + "/pic/1.png", media_id="EXPIRED")
    tid = new_ticket(sim, redis_client, "订单号 E2024061500001010")
    drain(TicketDelivery(rt), redis_client)
    assert pics.calls("/pic/1.png") == []
    st = states(redis_client, tid)["new|fetch:1"]
    assert st["s"] == "dead" and st["a"] == 1 and "picture host not in tickets.picture_hosts" in st["e"]


# -- L8: a deferred message is queued once, even across a crash --------------------------------------

def test_deferred_follower_message_is_queued_once_across_a_crash(sim, services, rt, redis_client, wechat_api,
                                                                 monkeypatch):
    def cs(req):
        if req.json()["touser"] == OPENID:
            return 200, {"errcode": 45015, "errmsg": "response out of time limit"}
        return 200, {"errcode": 0, "errmsg": "ok"}

    wechat_api.on(CS_PATH, cs)
    tid = new_ticket(sim, redis_client)
    drain(TicketDelivery(rt), redis_client)
    reply_ticket(rt, tid, "Key 已补发", "cli", "cli:l8")

    # The worker dies right after queuing the message: its state write never happens.
    real_hset = services.redis.hset

    def crash_on_deferred_state(name, key=None, value=None, *args, **kwargs):
        if key and key.startswith("reply1|") and value and '"deferred"' in value:
            raise redis.ConnectionError("worker killed")
        return real_hset(name, key, value, *args, **kwargs)

    monkeypatch.setattr(services.redis, "hset", crash_on_deferred_state)
    try:
        TicketDelivery(rt, consumer="crashing").tick()
    except redis.ConnectionError:
        pass
    monkeypatch.setattr(services.redis, "hset", real_hset)
    # Another worker takes the entry over (reclaim_idle) and finishes it.
    drain(TicketDelivery(rt, consumer="successor"), redis_client)
    assert redis_client.llen(keys.pending_replies(OPENID)) == 1
    (st,) = [v for k, v in states(redis_client, tid).items() if k.startswith("reply1|")]
    assert st["s"] == "deferred"


# -- metrics count real events, not WeChat's retries -------------------------------------------------

def test_ticket_metrics_count_each_event_once(sim, redis_client):
    created0 = tickets_metric("intake", "created")
    shot0 = tickets_metric("intake", "screenshot")
    fields = sim.text_fields(OPENID, "付款了key没有发给我 订单号 E2024061500001212")
    sim.send(fields)
    redis_client.delete(keys.dedupe("m:" + str(fields["MsgId"])))  # the retry's dedupe record is gone
    sim.send(fields)
    image = sim.image_fields(OPENID, "http://127.0.0.1/pic/1.png", media_id="M1")
    assert "第 1 张" in sim.send(image).content
    redis_client.delete(keys.dedupe("m:" + str(image["MsgId"])))
    assert "第 1 张" in sim.send(image).content
    assert tickets_metric("intake", "created") - created0 == 1
    assert tickets_metric("intake", "screenshot") - shot0 == 1
    assert len(stream_jobs(redis_client)) == 2
