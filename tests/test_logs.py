"""Logs: one structured line per message, and no secret anywhere (tokens, keys, passwords, full
openids, signed query strings, webhook URLs). gunicorn's access log is checked in test_gunicorn.py."""
from __future__ import annotations

import io
import logging
import re
from urllib.parse import urlencode

import pytest

from helpers.env import ADMIN, AES_KEY, TOKEN
from wxbot.router import hash_openid

OPENID = "oLogsFollower00000000000000001"
APP_SECRET = "test-app-secret"
WECOM_KEY = "wecomkey-31b7c0de"
LINE = re.compile(r"msg rid=[0-9a-f]{8} user=(?P<user>[0-9a-f]{12}) type=(?P<type>\w+) event=(?P<event>\S+) "
                  r"route=(?P<route>\S+) outcome=(?P<outcome>\S+) detail=(?P<detail>\S+) dup=[01] redis=(ok|down) ms=[0-9.]+$")


@pytest.fixture
def env_overrides(wechat_api):
    return {"WXBOT_WECOM_WEBHOOK_URL": f"{wechat_api.url}/cgi-bin/webhook/send?key={WECOM_KEY}",
            "WXBOT_PASSWORD_SYNC_SECRET": "sync-secret-8d2f", "WXBOT_TICKET_WEBHOOK_SECRET": "ticket-secret-4e1a"}


def secrets_of(sim, settings) -> list[str]:
    q = sim.signed_query()
    return [TOKEN, AES_KEY, APP_SECRET, WECOM_KEY, OPENID, ADMIN, "sync-secret-8d2f", "ticket-secret-4e1a",
            "signature=", "nonce=", "timestamp=", "echostr=", q["signature"]]


def exercise(client, sim):
    """A bit of everything a follower, an admin and an attacker can send."""
    sim.subscribe(OPENID)
    sim.text(OPENID, "怎么买key")
    sim.text(OPENID, "密码")
    sim.text(OPENID, "订单问题")
    sim.text(OPENID, "取消")
    sim.text(OPENID, "完全无关 qwerty")
    sim.voice(OPENID, "余额怎么查")
    sim.image(OPENID, "http://127.0.0.1/x.jpg")
    sim.click(OPENID, "NO_SUCH_KEY")
    sim.text(ADMIN, "#帮助")
    sim.text(ADMIN, "#密码")
    sim.text(OPENID, "#我的ID")
    sim.unsubscribe(OPENID)
    # Refused: bad signature, stale timestamp, garbage, echostr with bad signature.
    path, body = sim.build_request(sim.text_fields(OPENID, "x"))
    client.post(path.replace("signature=", "signature=00", 1), data=body)
    client.post(path.replace("msg_signature=", "msg_signature=00", 1), data=body)
    client.post(path, data=b"<xml><Encrypt>garbage</Encrypt></xml>")
    client.get("/wechat?" + urlencode({"signature": "1" * 40, "timestamp": "1", "nonce": "2", "echostr": "3"}))
    client.get("/wechat?" + urlencode(sim.signed_query({"echostr": "echostr-value-55"})))
    query = dict(p.split("=", 1) for p in path.split("?", 1)[1].split("&"))
    return [query["signature"], query["msg_signature"]]


@pytest.mark.parametrize("mode", ["safe"], indirect=True)
def test_no_secret_reaches_the_logs(client, sim, settings, caplog):
    caplog.set_level(logging.DEBUG)
    signatures = exercise(client, sim)
    text = caplog.text
    assert "msg rid=" in text
    for secret in secrets_of(sim, settings) + signatures:
        assert secret not in text, secret
    assert "echostr-value-55" not in text


@pytest.mark.parametrize("mode", ["safe"], indirect=True)
def test_one_structured_line_per_message(client, sim, services, caplog):
    caplog.set_level(logging.INFO, logger="wxbot.wechat.endpoint")
    sim.text(OPENID, "怎么买key")
    sim.subscribe(OPENID)
    fields = sim.text_fields(OPENID, "怎么买key")
    sim.send(fields)
    sim.send(fields)  # a retry is a message too: logged with dup=1
    lines = [r.getMessage() for r in caplog.records if r.name == "wxbot.wechat.endpoint" and "msg rid=" in r.getMessage()]
    assert len(lines) == 4
    parsed = [LINE.match(ln) for ln in lines]
    assert all(parsed), lines
    assert {m["user"] for m in parsed} == {hash_openid(OPENID, services.log_salt)}
    assert [m["type"] for m in parsed] == ["text", "event", "text", "text"]
    assert parsed[1]["event"] == "subscribe" and parsed[0]["route"] == "faq"
    assert "dup=1" in lines[3] and "dup=0" in lines[2]


def test_hashed_openid_is_keyed_by_the_account():
    # The same follower on two accounts (different tokens) cannot be matched across their logs.
    a = hash_openid(OPENID, b"a" * 32)
    b = hash_openid(OPENID, b"b" * 32)
    assert a != b and len(a) == 12 and OPENID not in a


def test_logconfig_drops_third_party_urls_and_keeps_our_lines():
    from wxbot import logconfig

    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(logconfig._RedactQuery())
    for name in ("httpx", "httpcore.connection", "wxbot.test"):
        logger = logging.getLogger(name)
        record = logger.makeRecord(name, logging.INFO, __file__, 1,
                                   "HTTP Request: POST http://127.0.0.1:9/cgi-bin/webhook/send?key=%s",
                                   (WECOM_KEY,), None)
        handler.handle(record)
    out = stream.getvalue()
    assert WECOM_KEY in out and out.count("\n") == 1  # only wxbot.test's own line passed
    root = logging.getLogger()
    saved = (list(root.handlers), root.level, getattr(root, "_wxbot_configured", False),
             logging.getLogger("httpx").level)
    try:
        root._wxbot_configured = False
        logconfig.configure_logging("INFO")
        assert logging.getLogger("httpx").getEffectiveLevel() >= logging.WARNING
        ours = [h for h in root.handlers if h not in saved[0]]
        assert len(ours) == 1 and any(isinstance(f, logconfig._RedactQuery) for f in ours[0].filters)
        # log times are UTC whatever the server's zone, and say so (ISO 8601, Z); people's times are
        # in bot.yaml's timezone, labelled
        record = logging.getLogger("wxbot.test").makeRecord("wxbot.test", logging.INFO, __file__, 1, "x", (), None)
        record.created = 1764590700.25  # 2025-12-01 12:05:00.25 UTC (20:05 in Beijing)
        assert ours[0].formatter.format(record) == "2025-12-01T12:05:00Z INFO wxbot.test x"
    finally:
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])
        root._wxbot_configured = saved[2]
        logging.getLogger("httpx").setLevel(saved[3])
