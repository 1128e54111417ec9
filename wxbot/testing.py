"""A WeChat server stand-in: signs (and in safe mode encrypts) messages exactly like WeChat's servers,
retries like them, and verifies and decrypts replies. Used by the tests, the benchmark and
``wxbot chat``.
"""
from __future__ import annotations

import itertools
import secrets
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from typing import Callable
from urllib.parse import urlencode

import httpx

from .wechat.protocol import Envelope, cdata, sha1_signature

# (path_with_query, body, headers) -> (status, body bytes)
Transport = Callable[[str, bytes, dict], "tuple[int, bytes]"]

ACCOUNT = "gh_0123456789ab"
_msg_ids = itertools.count(int(time.time() * 1000) * 1000 + secrets.randbelow(1000))


class ReplyError(AssertionError):
    """The bot's reply is not something WeChat would accept."""


@dataclass
class Reply:
    status: int
    body: bytes
    content: str | None = None  # text reply content; None for "success"
    msg_type: str | None = None
    to_user: str | None = None
    from_user: str | None = None

    @property
    def is_success(self) -> bool:
        return self.status == 200 and self.content is None


class HttpxTransport:
    """Posts to a running bot over real HTTP; close() releases the connection pool."""

    def __init__(self, base_url: str, timeout: float = 5.0):
        self.client = httpx.Client(base_url=base_url, timeout=timeout)

    def __call__(self, path: str, body: bytes, headers: dict) -> tuple[int, bytes]:
        resp = self.client.post(path, content=body, headers=headers)
        return resp.status_code, resp.content

    def close(self) -> None:
        self.client.close()


def httpx_transport(base_url: str, timeout: float = 5.0) -> HttpxTransport:
    return HttpxTransport(base_url, timeout)


def wsgi_transport(app) -> Transport:
    """Send to a WSGI application in-process (Werkzeug's test client), e.g. a bare ``WeChatEndpoint``
    mounted with ``DispatcherMiddleware``."""
    from werkzeug.test import Client

    return flask_transport(Client(app))


def flask_transport(test_client) -> Transport:
    def post(path: str, body: bytes, headers: dict) -> tuple[int, bytes]:
        resp = test_client.post(path, data=body, headers=headers)
        return resp.status_code, resp.data

    return post


def message_xml(fields: dict[str, str | int]) -> str:
    parts = ["<xml>"]
    for key, value in fields.items():
        if isinstance(value, int):
            parts.append(f"<{key}>{value}</{key}>")
        else:
            parts.append(f"<{key}>{cdata(value)}</{key}>")
    parts.append("</xml>")
    return "".join(parts)


class WeChatSimulator:
    def __init__(
        self,
        transport: Transport,
        token: str,
        aes_key: bytes | None = None,
        app_id: str | None = None,
        path: str = "/wechat",
        account: str = ACCOUNT,
        clock: Callable[[], float] = time.time,
    ):
        self.transport = transport
        self.token = token
        self.path = path
        self.account = account
        self.clock = clock
        self.envelope = Envelope(token, aes_key, app_id) if aes_key else None

    def close(self) -> None:
        close = getattr(self.transport, "close", None)
        if close is not None:
            close()

    def __enter__(self) -> "WeChatSimulator":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- message builders ------------------------------------------------------------------
    def _base(self, openid: str, msg_type: str) -> dict[str, str | int]:
        return {"ToUserName": self.account, "FromUserName": openid, "CreateTime": int(self.clock()), "MsgType": msg_type}

    def text_fields(self, openid: str, content: str, msg_id: int | None = None) -> dict:
        f = self._base(openid, "text")
        f["Content"] = content
        f["MsgId"] = msg_id if msg_id is not None else next(_msg_ids)
        return f

    def voice_fields(self, openid: str, recognition: str) -> dict:
        f = self._base(openid, "voice")
        f.update({"MediaId": "media_" + secrets.token_hex(8), "Format": "amr", "Recognition": recognition,
                  "MsgId": next(_msg_ids)})
        return f

    def image_fields(self, openid: str, pic_url: str, media_id: str = "") -> dict:
        f = self._base(openid, "image")
        f.update({"PicUrl": pic_url, "MediaId": media_id or "media_" + secrets.token_hex(8), "MsgId": next(_msg_ids)})
        return f

    def event_fields(self, openid: str, event: str, key: str | None = None) -> dict:
        f = self._base(openid, "event")
        f["Event"] = event
        if key is not None:
            f["EventKey"] = key
        return f

    # -- sending ---------------------------------------------------------------------------
    def signed_query(self, extra: dict | None = None, timestamp: int | None = None) -> dict[str, str]:
        ts = str(int(self.clock()) if timestamp is None else timestamp)
        nonce = str(secrets.randbelow(10**10))
        q = {"signature": sha1_signature(self.token, ts, nonce), "timestamp": ts, "nonce": nonce}
        if extra:
            q.update(extra)
        return q

    def build_request(self, fields: dict, openid: str | None = None) -> tuple[str, bytes]:
        """Return (path with query, body) exactly as WeChat would POST it."""
        xml = message_xml(fields)
        q = self.signed_query({"openid": openid or str(fields.get("FromUserName", ""))})
        if self.envelope is None:
            return f"{self.path}?{urlencode(q)}", xml.encode("utf-8")
        encrypt = self.envelope.encrypt_raw(xml)
        q["encrypt_type"] = "aes"
        q["msg_signature"] = sha1_signature(self.token, q["timestamp"], q["nonce"], encrypt)
        body = f"<xml><ToUserName>{cdata(self.account)}</ToUserName><Encrypt>{cdata(encrypt)}</Encrypt></xml>"
        return f"{self.path}?{urlencode(q)}", body.encode("utf-8")

    def post_raw(self, path: str, body: bytes) -> tuple[int, bytes]:
        return self.transport(path, body, {"Content-Type": "text/xml"})

    def send(self, fields: dict) -> Reply:
        """One delivery; the reply is checked as WeChat checks it."""
        path, body = self.build_request(fields)
        status, data = self.post_raw(path, body)
        return self.check_reply(fields, status, data)

    def deliver(self, fields: dict, retries: int = 3, timeout: float = 5.0) -> list[Reply]:
        """Deliver like WeChat: resend the same message (same MsgId) while no valid reply came back in
        ``timeout`` seconds, up to ``retries`` times. Returns every reply received."""
        replies = []
        for _ in range(retries + 1):
            path, body = self.build_request(fields)
            started = time.monotonic()
            try:
                status, data = self.post_raw(path, body)
            except httpx.TransportError:
                continue
            reply = self.check_reply(fields, status, data)
            replies.append(reply)
            if status == 200 and time.monotonic() - started <= timeout:
                break
        return replies

    def check_reply(self, fields: dict, status: int, data: bytes) -> Reply:
        if status != 200:
            return Reply(status, data)
        if data in (b"success", b""):
            return Reply(status, data)
        xml = data
        if self.envelope is not None:
            xml = self._open_envelope(data)
        try:
            root = ET.fromstring(xml)
        except ET.ParseError as exc:
            raise ReplyError(f"reply is not XML: {exc}") from None
        got = {child.tag: (child.text or "") for child in root}
        tags = [child.tag for child in root]
        if len(tags) != len(set(tags)):
            raise ReplyError(f"reply has duplicate fields: {tags}")
        if got.get("ToUserName") != fields["FromUserName"] or got.get("FromUserName") != fields["ToUserName"]:
            raise ReplyError("reply does not swap ToUserName/FromUserName")
        if got.get("MsgType") == "text":
            content = got.get("Content", "")
            if len(content.encode("utf-8")) > 2048:
                raise ReplyError("text reply over 2048 bytes")
            return Reply(status, data, content, "text", got["ToUserName"], got["FromUserName"])
        return Reply(status, data, None, got.get("MsgType"), got.get("ToUserName"), got.get("FromUserName"))

    def _open_envelope(self, data: bytes) -> bytes:
        root = ET.fromstring(data)
        f = {child.tag: (child.text or "") for child in root}
        for name in ("Encrypt", "MsgSignature", "TimeStamp", "Nonce"):
            if not f.get(name):
                raise ReplyError(f"encrypted reply lacks {name}")
        expected = sha1_signature(self.token, f["TimeStamp"], f["Nonce"], f["Encrypt"])
        if expected != f["MsgSignature"]:
            raise ReplyError("encrypted reply has a bad MsgSignature")
        assert self.envelope is not None
        return self.envelope.decrypt(f["Encrypt"])

    # -- conveniences ----------------------------------------------------------------------
    def text(self, openid: str, content: str) -> Reply:
        return self.send(self.text_fields(openid, content))

    def voice(self, openid: str, recognition: str) -> Reply:
        return self.send(self.voice_fields(openid, recognition))

    def image(self, openid: str, pic_url: str, media_id: str = "") -> Reply:
        return self.send(self.image_fields(openid, pic_url, media_id))

    def click(self, openid: str, key: str) -> Reply:
        return self.send(self.event_fields(openid, "CLICK", key))

    def subscribe(self, openid: str, scene: str | None = None) -> Reply:
        return self.send(self.event_fields(openid, "subscribe", f"qrscene_{scene}" if scene else None))

    def unsubscribe(self, openid: str) -> Reply:
        return self.send(self.event_fields(openid, "unsubscribe"))
