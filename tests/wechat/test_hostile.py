"""Hostile input at /wechat through the real app and Redis: query parts that only prefix-match, a used
signed URL with another body (plaintext mode), replays at the edge of the window, forged log lines,
invented message types, and an EncodingAESKey that differs from the MP console's."""
from __future__ import annotations

import base64
import json
import logging
import time
from urllib.parse import urlencode

import pytest
from prometheus_client import REGISTRY

from helpers.env import APP_ID
from wxbot.stores import keys
from wxbot.testing import WeChatSimulator, flask_transport, message_xml
from wxbot.wechat.protocol import sha1_signature

OPENID = "oHostileFollower00000000001"
VICTIM = "oHostileVictim0000000000001"
REPORT = "付款了key没有发给我 订单号 E2024061512345678 99元"


def signed_path(token: str, timestamp: str, nonce: str) -> str:
    return "/wechat?" + urlencode({"signature": sha1_signature(token, timestamp.strip(), nonce.strip()),
                                   "timestamp": timestamp, "nonce": nonce})


@pytest.mark.parametrize("part", ["timestamp", "nonce"])
def test_query_parts_must_match_whole(sim, settings, redis_client, part):
    ts, nonce = str(int(time.time())), "8392015"
    values = {"timestamp": ts, "nonce": nonce}
    values[part] += "\n"  # `$` would match before the newline
    status, _ = sim.post_raw(signed_path(settings.wechat_token, values["timestamp"], values["nonce"]),
                             message_xml(sim.text_fields(OPENID, "你好")).encode())
    assert status == 403
    assert redis_client.keys("wxbot:dedupe:*") == []


def test_a_used_signed_url_with_another_body_is_refused(sim, redis_client):
    fields = sim.text_fields(OPENID, REPORT)
    path, body = sim.build_request(fields)
    first = sim.check_reply(fields, *sim.post_raw(path, body))
    assert first.status == 200 and first.content
    assert redis_client.zcard(keys.TICKETS_ALL) == 1

    # Someone who saw the URL (a proxy log) forges a report and an unsubscribe from another follower.
    for forged in (sim.text_fields(VICTIM, REPORT), sim.event_fields(VICTIM, "unsubscribe"),
                   sim.text_fields(OPENID, REPORT + " 再来一单")):
        status, _ = sim.post_raw(path, message_xml(forged).encode())
        assert status == 403
    assert redis_client.zcard(keys.TICKETS_ALL) == 1
    assert redis_client.exists(keys.msg_counter(VICTIM)) == 0

    # WeChat's retry of the same request is a normal retry: the same reply, still one ticket.
    again = sim.check_reply(fields, *sim.post_raw(path, body))
    assert again.status == 200 and again.content == first.content
    assert redis_client.zcard(keys.TICKETS_ALL) == 1


def test_the_dedupe_record_outlives_every_legal_replay(sim, services, redis_client):
    reply = sim.text(OPENID, REPORT)
    assert reply.status == 200
    (key,) = redis_client.keys("wxbot:dedupe:*")
    window = services.internals.webhook.timestamp_window
    # A request signed at now + window is accepted until now + 2 × window: the record must last as long.
    assert redis_client.pttl(key) > (2 * window - 5) * 1000
    (signed,) = redis_client.keys("wxbot:signed:*")
    assert redis_client.pttl(signed) > (2 * window - 5) * 1000


def test_message_values_cannot_forge_log_lines(sim, caplog):
    caplog.set_level(logging.INFO, logger="wxbot.wechat.endpoint")
    fields = sim.event_fields(OPENID, "view\nmsg rid=forged user=admin route=staff outcome=replied" + "x" * 500)
    assert sim.send(fields).status == 200
    fields = sim.text_fields(OPENID, "x")
    fields["MsgType"] = "text\r\nwxbot: FORGED"
    assert sim.send(fields).status == 200
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("msg rid=")]
    assert len(lines) == 2
    for line in lines:
        assert "\n" not in line and "\r" not in line and len(line) < 400
    assert all("\\x0a" in line for line in lines)  # XML turns CR LF into LF


def test_invented_message_types_share_one_metric_series(sim):
    def series() -> set[str]:
        return {s.labels["type"] for fam in REGISTRY.collect() if fam.name == "wxbot_messages"
                for s in fam.samples if s.name == "wxbot_messages_total"}

    before = series()
    for i in range(50):
        fields = sim.text_fields(OPENID, "x")
        fields["MsgType"] = f"invented{i}"
        assert sim.send(fields).status == 200
    assert series() - before <= {"other"} and "other" in series()


@pytest.mark.parametrize("mode", ["safe"], indirect=True)
def test_an_aes_key_mismatch_alerts_once_and_shows_in_readyz(sim, client, settings, redis_client):
    wrong_key = base64.b64decode("Z" * 43 + "=")
    wrong = WeChatSimulator(flask_transport(client), settings.wechat_token, wrong_key, APP_ID)
    for _ in range(5):  # correctly signed (the token is right), encrypted with another key
        assert wrong.text(OPENID, "你好").is_success
    alerts = [json.loads(x) for x in redis_client.lrange("wxbot:alerts:queue", 0, -1)]
    assert [a["kind"] for a in alerts] == ["aes_mismatch"]
    assert "EncodingAESKey" in alerts[0]["message"]
    ready = client.get("/readyz")
    assert ready.status_code == 200 and "EncodingAESKey" in ready.get_data(as_text=True)

    # One message that decrypts clears it.
    assert sim.text(OPENID, "你好").content
    redis_client.hset(keys.WORKERS, "host:1", repr(time.time()))  # and a worker runs: nothing to warn about
    assert client.get("/readyz").data == b"ready\n"
    assert redis_client.exists(keys.AES_MISMATCH) == 0


@pytest.mark.parametrize("mode", ["safe"], indirect=True)
def test_no_aes_alert_while_messages_decrypt(sim, client, settings, redis_client):
    assert sim.text(OPENID, "你好").content  # the right key: messages decrypt
    wrong = WeChatSimulator(flask_transport(client), settings.wechat_token, base64.b64decode("Z" * 43 + "="), APP_ID)
    for _ in range(5):  # e.g. someone with the token but not the key
        assert wrong.text(OPENID, "你好").is_success
    assert redis_client.llen("wxbot:alerts:queue") == 0
