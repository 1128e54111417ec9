"""End-to-end webhook tests: signed (and encrypted) like WeChat, on a real Redis."""
from __future__ import annotations

import concurrent.futures
import time
from urllib.parse import urlencode

import pytest

from helpers.env import ADMIN, APP_ID, SUPPORT, TOKEN
from wxbot.testing import message_xml
from wxbot.wechat.protocol import sha1_signature

OPENID = "oFollower0000000000000000001"

# WXBizMsgCrypt's official sample (token spamtest, AppID wx2c2769f8efd9abc2).
VECTOR_TS = "1409735669"
VECTOR_NONCE = "1320562132"
VECTOR_MSG_SIG = "5d197aaffba7e9b25a30732f161a50dee96bd5fa"
VECTOR_ENCRYPT = (
    "hyzAe4OzmOMbd6TvGdIOO6uBmdJoD0Fk53REIHvxYtJlE2B655HuD0m8KUePWB3+LrPXo87wzQ1QLvbeUgmBM4x6F8PGHQHFVAF"
    "mOD2LdJF9FrXpbUAh0B5GIItb52sn896wVsMSHGuPE328HnRGBcrS7C41IzDWyWNlZkyyXwon8T332jisa+h6tEDYsVticbSnyU"
    "8dKOIbgU6ux5VTjg3yt+WGzjlpKn6NPhRjpA912xMezR4kw6KWwMrCVKSVCZciVGCgavjIQ6X8tCOp3yZbGpy0VxpAe+77TszTf"
    "Rd5RJSVO/HTnifJpXgCSUdUue1v6h0EIBYYI1BD1DlD+C0CR8e6OewpusjZ4uBl9FyJvnhvQl+q5rv1ixrcpCumEPo5MJSgM9eh"
    "VsNPfUM669WuMyVWQLCzpu9GhglF2PE="
)


def signed(sim, **extra) -> str:
    return urlencode(sim.signed_query(extra))


# -- GET verification ------------------------------------------------------------------------

def test_get_echoes_echostr_byte_for_byte(client, sim):
    q = sim.signed_query({"echostr": "5838479218127813673"})
    resp = client.get("/wechat?" + urlencode(q))
    assert resp.status_code == 200
    assert resp.data == b"5838479218127813673"
    assert resp.mimetype == "text/plain"


@pytest.mark.parametrize("drop", ["signature", "timestamp", "nonce"])
def test_get_refuses_missing_parts(client, sim, drop):
    q = sim.signed_query({"echostr": "123"})
    del q[drop]
    resp = client.get("/wechat?" + urlencode(q))
    assert resp.status_code == 403
    assert b"123" not in resp.data


def test_get_refuses_bare_sha1_of_token(client):
    # wechatpy's check_signature accepts sha1(token) when timestamp and nonce are missing.
    import hashlib

    resp = client.get("/wechat?" + urlencode({"signature": hashlib.sha1(TOKEN.encode()).hexdigest(), "echostr": "x"}))
    assert resp.status_code == 403


def test_get_refuses_bad_signature_and_stale_timestamp(client, sim):
    q = sim.signed_query({"echostr": "123"})
    q["signature"] = "0" * 40
    assert client.get("/wechat?" + urlencode(q)).status_code == 403
    old = sim.signed_query({"echostr": "123"}, timestamp=int(time.time()) - 301)
    assert client.get("/wechat?" + urlencode(old)).status_code == 403
    future = sim.signed_query({"echostr": "123"}, timestamp=int(time.time()) + 301)
    assert client.get("/wechat?" + urlencode(future)).status_code == 403
    fresh = sim.signed_query({"echostr": "123"}, timestamp=int(time.time()) - 290)
    assert client.get("/wechat?" + urlencode(fresh)).status_code == 200


# -- POST, plaintext ---------------------------------------------------------------------------

def test_text_gets_fallback_reply_with_swapped_users(sim):
    reply = sim.text(OPENID, "随便说点什么 qwerty")
    assert reply.status == 200
    assert reply.to_user == OPENID
    assert reply.from_user == sim.account
    assert "ACG508" in reply.content


def test_post_bad_signature_is_403_and_not_processed(client, sim, redis_client):
    path, body = sim.build_request(sim.text_fields(OPENID, "密码"))
    bad = path.replace("signature=", "signature=0")
    resp = client.post(bad, data=body)
    assert resp.status_code == 403
    assert not redis_client.keys("wxbot:dedupe:*")


def test_subscribe_with_and_without_scene_gets_welcome(sim):
    assert "欢迎关注" in sim.subscribe(OPENID).content
    assert "欢迎关注" in sim.subscribe(OPENID + "x", scene="promo2026").content


def test_unsubscribe_deletes_conversational_state(sim, redis_client):
    sim.text(OPENID, "你好")
    redis_client.set(f"wxbot:dialog:{OPENID}", "{}")
    redis_client.rpush(f"wxbot:pending:{OPENID}", "x")
    assert redis_client.exists(f"wxbot:rl:msg:{OPENID}")
    reply = sim.unsubscribe(OPENID)
    assert reply.is_success
    assert not redis_client.exists(f"wxbot:rl:msg:{OPENID}", f"wxbot:dialog:{OPENID}", f"wxbot:pending:{OPENID}")


def test_voice_with_recognition_is_routed_like_text(sim):
    assert sim.voice(OPENID, "#我的ID").content == sim.text(OPENID, "#我的ID").content


def test_voice_without_recognition_and_media_get_short_replies(sim):
    assert "语音" in sim.voice(OPENID, "").content
    assert "图片" in sim.image(OPENID, "http://127.0.0.1:1/a.jpg").content
    loc = sim._base(OPENID, "location")
    loc.update({"Location_X": "23.1", "Location_Y": "113.3", "Scale": "20", "Label": "x", "MsgId": 77001})
    assert "打字" in sim.send(loc).content
    for t in ("video", "shortvideo", "link", "file", "miniprogrampage", "somethingnew"):
        fields = sim._base(OPENID, t)
        fields["MsgId"] = 77100 + len(t)
        reply = sim.send(fields)
        assert reply.status == 200 and "打字" in reply.content


def test_unknown_event_and_view_get_success(sim):
    for event in ("VIEW", "LOCATION", "TEMPLATESENDJOBFINISH", "brand_new_event"):
        assert sim.send(sim.event_fields(OPENID, event, "https://example.invalid/x")).is_success


def test_my_id_answers_anyone_with_their_openid(sim):
    assert OPENID in sim.text(OPENID, "#我的ID").content
    assert OPENID in sim.text(OPENID, "＃我的id").content


def test_staff_commands_are_ignored_on_plaintext_account(sim):
    reply = sim.text(ADMIN, "#帮助")
    assert "可用的命令" not in reply.content


def test_reply_escapes_cdata_terminator(sim):
    evil = "]]></Content><MsgType><![CDATA[news]]></MsgType><Content><![CDATA[x"
    reply = sim.text(OPENID, "#我的ID" + evil)
    # The simulator parses the reply like WeChat: still one text message, no injected fields.
    assert reply.msg_type == "text"


def test_long_replies_are_capped_at_2048_bytes(sim, config_dir):
    texts = (config_dir / "texts.yaml").read_text(encoding="utf-8")
    texts = texts.replace("fallback: |\n", "fallback: |\n  " + "长" * 1500 + "\n", 1)
    (config_dir / "texts.yaml").write_text(texts, encoding="utf-8")
    time.sleep(1.1)
    reply = sim.text(OPENID, "完全不相关的话题呀")
    assert len(reply.content.encode()) <= 2048
    assert reply.content.endswith("…")


# -- hostile and malformed bodies --------------------------------------------------------------

HOSTILE = {
    "dtd": b'<?xml version="1.0"?><!DOCTYPE xml [<!ENTITY a "aaaa">]><xml><ToUserName>a</ToUserName></xml>',
    "billion_laughs": b'<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;">]><xml>&lol2;</xml>',
    "external_entity": b'<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><xml><Content>&e;</Content></xml>',
    "wrong_root": b"<msg><ToUserName>a</ToUserName></msg>",
    "not_xml": b"hello, world",
    "empty": b"",
    "truncated": b"<xml><ToUserName><![CDATA[gh_x]]></ToUserName><FromUserName>",
    "non_utf8": "<xml><Content>密码</Content></xml>".encode("gbk"),
    "missing_fields": b"<xml><MsgType>text</MsgType></xml>",
    "bad_create_time": b"<xml><ToUserName>a</ToUserName><FromUserName>b</FromUserName><CreateTime>soon</CreateTime>"
                       b"<MsgType>text</MsgType><Content>x</Content><MsgId>1</MsgId></xml>",
    "bad_msg_id": b"<xml><ToUserName>a</ToUserName><FromUserName>b</FromUserName><CreateTime>1</CreateTime>"
                  b"<MsgType>text</MsgType><Content>x</Content><MsgId>1 OR 1=1</MsgId></xml>",
}


def _dup_fields() -> bytes:
    return (b"<xml><ToUserName>a</ToUserName><FromUserName>b</FromUserName><FromUserName>c</FromUserName>"
            b"<CreateTime>1</CreateTime><MsgType>text</MsgType><Content>x</Content><MsgId>2</MsgId></xml>")


def _nested() -> bytes:
    return (b"<xml><ToUserName>a</ToUserName><FromUserName><x>b</x></FromUserName>"
            b"<CreateTime>1</CreateTime><MsgType>text</MsgType><Content>x</Content><MsgId>3</MsgId></xml>")


@pytest.mark.parametrize("name", [*HOSTILE, "duplicate_field", "nested_field"])
def test_signed_garbage_gets_success_never_5xx(client, sim, name, redis_client):
    body = HOSTILE.get(name) or (_dup_fields() if name == "duplicate_field" else _nested())
    resp = client.post("/wechat?" + signed(sim), data=body)
    assert resp.status_code == 200
    assert resp.data == b"success"
    assert not redis_client.keys("wxbot:dedupe:*")


def test_oversized_body_is_413(client, sim):
    resp = client.post("/wechat?" + signed(sim), data=b"<xml>" + b"a" * 70000 + b"</xml>")
    assert resp.status_code == 413
    assert resp.mimetype == "text/plain"


def test_unknown_paths_and_methods_are_plain_text(client):
    resp = client.get("/nope")
    assert resp.status_code == 404 and resp.mimetype == "text/plain"
    resp = client.put("/wechat")
    assert resp.status_code == 405 and b"<html" not in resp.data.lower()


# -- exactly once under retries ----------------------------------------------------------------

def test_retries_get_the_same_reply_and_count_once(sim, redis_client):
    fields = sim.text_fields(OPENID, "#我的ID")
    replies = [sim.send(fields) for _ in range(4)]
    assert len({r.content for r in replies}) == 1
    assert redis_client.get(f"wxbot:rl:msg:{OPENID}") == "1"


def test_concurrent_duplicates_count_once(app, settings, redis_client):
    from wxbot.testing import WeChatSimulator, flask_transport

    fields = None

    def one(_):
        sim = WeChatSimulator(flask_transport(app.test_client()), settings.wechat_token)
        return sim.send(fields)

    sim0 = WeChatSimulator(flask_transport(app.test_client()), settings.wechat_token)
    fields = sim0.text_fields(OPENID, "hello there")
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        replies = list(pool.map(one, range(8)))
    assert {r.status for r in replies} == {200}
    assert len({r.content for r in replies}) == 1
    assert redis_client.get(f"wxbot:rl:msg:{OPENID}") == "1"


def test_events_in_the_same_second_are_distinct(sim, redis_client):
    a = sim.event_fields(OPENID, "CLICK", "K_A")
    b = dict(a, EventKey="K_B")
    sim.send(a)
    sim.send(b)
    assert redis_client.get(f"wxbot:rl:msg:{OPENID}") == "2"
    sim.send(a)  # a retry of the first event
    assert redis_client.get(f"wxbot:rl:msg:{OPENID}") == "2"


def test_message_flood_gets_one_slow_down_then_silence(sim, settings):
    limit = 30
    replies = [sim.text(OPENID, f"消息 {i}") for i in range(limit + 3)]
    assert all(r.content for r in replies[:limit])
    assert "稍等" in replies[limit].content
    assert replies[limit + 1].is_success and replies[limit + 2].is_success


# -- safe mode ---------------------------------------------------------------------------------

@pytest.mark.parametrize("mode", ["safe"], indirect=True)
def test_official_vector_decrypts_and_gets_encrypted_reply(client, redis_client):
    import wxbot.wechat.protocol as protocol

    body = message_xml({"ToUserName": "gh_10f6c3c3ac5a", "Encrypt": VECTOR_ENCRYPT}).encode()
    q = {"signature": sha1_signature(TOKEN, VECTOR_TS, VECTOR_NONCE), "timestamp": VECTOR_TS, "nonce": VECTOR_NONCE,
         "encrypt_type": "aes", "msg_signature": VECTOR_MSG_SIG}
    # The vector is from 2014: accept its timestamp for this request only.
    real_time = protocol.time.time
    protocol.time.time = lambda: 1409735669.0
    try:
        resp = client.post("/wechat?" + urlencode(q), data=body)
    finally:
        protocol.time.time = real_time
    assert resp.status_code == 200
    assert b"<Encrypt>" in resp.data and b"abcdteT" not in resp.data
    assert redis_client.exists("wxbot:dedupe:m:6054768590064713728")


@pytest.mark.parametrize("mode", ["safe"], indirect=True)
def test_safe_mode_round_trip_and_staff_commands(sim):
    reply = sim.text(OPENID, "#我的ID")
    assert OPENID in reply.content  # the simulator verified MsgSignature and decrypted
    assert "可用的命令" in sim.text(ADMIN, "#帮助").content
    assert "可用的命令" in sim.text(SUPPORT, "#帮助").content
    assert "可用的命令" not in (sim.text(OPENID, "#帮助").content or "")


@pytest.mark.parametrize("mode", ["safe"], indirect=True)
def test_safe_mode_refuses_plaintext_downgrade(client, settings):
    from wxbot.testing import WeChatSimulator, flask_transport

    plain = WeChatSimulator(flask_transport(client), settings.wechat_token)  # signs, does not encrypt
    path, body = plain.build_request(plain.text_fields(ADMIN, "#帮助"))
    assert client.post(path, data=body).status_code == 403
    assert client.post(path.replace("signature", "x_signature") + "&encrypt_type=raw", data=body).status_code == 403


@pytest.mark.parametrize("mode", ["safe"], indirect=True)
def test_safe_mode_bad_msg_signature_and_garbage_envelope(client, sim):
    path, body = sim.build_request(sim.text_fields(OPENID, "hi"))
    assert client.post(path.replace("msg_signature=", "msg_signature=f"), data=body).status_code == 403
    # A valid msg_signature over an Encrypt that does not decrypt: authenticated garbage -> success.
    q = sim.signed_query({"encrypt_type": "aes"})
    junk = "bm90IGEgcmVhbCBlbnZlbG9wZQ=="
    q["msg_signature"] = sha1_signature(TOKEN, q["timestamp"], q["nonce"], junk)
    resp = client.post("/wechat?" + urlencode(q), data=message_xml({"ToUserName": "gh", "Encrypt": junk}).encode())
    assert resp.status_code == 200 and resp.data == b"success"


@pytest.mark.parametrize("mode", ["safe"], indirect=True)
def test_safe_mode_envelope_for_another_app_is_ignored(client, settings):
    from wxbot.testing import WeChatSimulator, flask_transport
    from wxbot.wechat.protocol import Envelope, b64_aes_key

    other = WeChatSimulator(flask_transport(client), TOKEN, b64_aes_key("abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"),
                            "wx0000000000000000")
    path, body = other.build_request(other.text_fields(OPENID, "hi"))
    resp = client.post(path, data=body)
    assert resp.status_code == 200 and resp.data == b"success"
    assert isinstance(other.envelope, Envelope) and APP_ID != "wx0000000000000000"


@pytest.mark.parametrize("mode", ["safe"], indirect=True)
def test_staff_help_lists_each_command_once_from_texts(sim):
    support_help = sim.text(SUPPORT, "#帮助").content
    assert support_help.count("#回复 工单号 内容：回复用户") == 1 and "#回复 #回复" not in support_help
    assert "#换密码" not in support_help  # admins only
    admin_help = sim.text(ADMIN, "#帮助").content
    assert "#换密码 [新密码]：更换公益版密码（不附新密码则自动生成）" in admin_help
