"""WeChat's passive-message protocol: signatures, AES envelopes, hardened XML parsing, replies.

wechatpy supplies the AES cipher (``PrpCrypto``); the rest is done here because wechatpy's helpers
accept a missing signature/timestamp/nonce, parse before authenticating, and do not escape ``]]>`` in
CDATA. Everything is pure and precomputed per process, so it is cheap on the hot path.
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
import secrets
import struct
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field

from ..textnorm import clip_utf8

_SIG_RE = re.compile(r"[0-9a-fA-F]{40}")
_TS_RE = re.compile(r"[0-9]{1,12}")
_NONCE_RE = re.compile(r"[0-9A-Za-z_-]{1,64}")
# Anything that starts a declaration other than CDATA: DOCTYPE, ENTITY, comments in odd places.
_DECL_RE = re.compile(rb"<!(?!\[CDATA\[)")
_XML_NAME = "xml"
# Event payloads that WeChat nests (menu scan/photo/location events); anything else nested is hostile.
_CONTAINERS = frozenset({"ScanCodeInfo", "SendPicsInfo", "SendLocationInfo", "CopyrightCheckResult"})
_REQUIRED = ("ToUserName", "FromUserName", "CreateTime", "MsgType")


class SignatureError(Exception):
    """The request is not authenticated: answer 403."""


class MalformedMessage(Exception):
    """Authenticated but unusable: answer ``success`` and log the reason."""


def sha1_signature(*parts: str) -> str:
    return hashlib.sha1("".join(sorted(parts)).encode("utf-8")).hexdigest()


def check_query(args: "dict[str, str] | object", token: str, window: float, now: float | None = None) -> tuple[str, str]:
    """Verify ``signature``/``timestamp``/``nonce`` of a request; return (timestamp, nonce).

    All three must be present and well formed before anything is compared; the timestamp must be
    within ``window`` seconds of now; the comparison is constant time.
    """
    signature = args.get("signature") or ""
    timestamp = args.get("timestamp") or ""
    nonce = args.get("nonce") or ""
    if not (_SIG_RE.fullmatch(signature) and _TS_RE.fullmatch(timestamp) and _NONCE_RE.fullmatch(nonce)):
        raise SignatureError("missing or malformed signature/timestamp/nonce")
    now = time.time() if now is None else now
    if abs(now - int(timestamp)) > window:
        raise SignatureError("timestamp outside the replay window")
    expected = sha1_signature(token, timestamp, nonce)
    if not hmac.compare_digest(expected, signature.lower()):
        raise SignatureError("bad signature")
    return timestamp, nonce


def check_msg_signature(msg_signature: str, token: str, timestamp: str, nonce: str, encrypt: str) -> None:
    if not _SIG_RE.fullmatch(msg_signature or ""):
        raise SignatureError("missing or malformed msg_signature")
    expected = sha1_signature(token, timestamp, nonce, encrypt)
    if not hmac.compare_digest(expected, msg_signature.lower()):
        raise SignatureError("bad msg_signature")


def parse_xml(body: bytes) -> dict[str, str]:
    """Parse one WeChat XML document into a flat dict, refusing anything a real WeChat never sends.

    Refused: DTDs/entities/declarations, non-UTF-8, a root other than <xml>, duplicate fields, nested
    fields (except the event containers WeChat really nests, kept as their inner XML text).
    """
    if _DECL_RE.search(body):
        raise MalformedMessage("declaration or DTD in body")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise MalformedMessage("body is not UTF-8") from None
    try:
        root = ET.fromstring(text)
    except ET.ParseError as exc:
        raise MalformedMessage(f"not well-formed XML ({exc.code})") from None
    if root.tag != _XML_NAME:
        raise MalformedMessage("root element is not <xml>")
    out: dict[str, str] = {}
    for child in root:
        tag = child.tag
        if not isinstance(tag, str):
            continue
        if tag in out:
            raise MalformedMessage(f"duplicate field {tag}")
        if len(child):
            if tag not in _CONTAINERS:
                raise MalformedMessage(f"nested field {tag}")
            out[tag] = ET.tostring(child, encoding="unicode")
        else:
            out[tag] = child.text or ""
    return out


@dataclass(slots=True)
class Message:
    """One inbound message or event, as WeChat sent it."""

    to_user: str
    from_user: str
    create_time: int
    type: str
    msg_id: str | None = None
    content: str = ""
    event: str = ""
    event_key: str = ""
    recognition: str = ""
    pic_url: str = ""
    media_id: str = ""
    raw: dict = field(default_factory=dict)

    @property
    def text(self) -> str:
        """What the follower said: typed text, or a voice message's recognition."""
        if self.type == "text":
            return self.content
        if self.type == "voice":
            return self.recognition
        return ""

    @property
    def dedupe_id(self) -> str:
        """MsgId for messages; FromUserName+CreateTime+Event+EventKey for events."""
        if self.msg_id:
            return "m:" + self.msg_id
        return f"e:{self.from_user}:{self.create_time}:{self.event}:{self.event_key}"


def to_message(fields: dict[str, str]) -> Message:
    for name in _REQUIRED:
        if not fields.get(name):
            raise MalformedMessage(f"missing {name}")
    ct = fields["CreateTime"].strip()
    if not ct.isdigit() or len(ct) > 12:
        raise MalformedMessage("bad CreateTime")
    msg_id = (fields.get("MsgId") or fields.get("MsgID") or "").strip() or None
    if msg_id is not None and (not msg_id.isdigit() or len(msg_id) > 32):
        raise MalformedMessage("bad MsgId")
    msg_type = fields["MsgType"].strip().lower()
    return Message(
        to_user=fields["ToUserName"],
        from_user=fields["FromUserName"],
        create_time=int(ct),
        type=msg_type,
        msg_id=msg_id,
        content=fields.get("Content", ""),
        event=fields.get("Event", "").strip().lower(),
        event_key=fields.get("EventKey", "").strip(),
        recognition=fields.get("Recognition", ""),
        pic_url=fields.get("PicUrl", ""),
        media_id=fields.get("MediaId", ""),
        raw=fields,
    )


# -- replies ---------------------------------------------------------------------------------

def cdata(value: str) -> str:
    """Wrap in CDATA, splitting any ``]]>`` so user text cannot close the section early."""
    return "<![CDATA[" + value.replace("]]>", "]]]]><![CDATA[>") + "]]>"


def render_text_reply(msg: Message, content: str, now: int | None = None) -> str:
    now = int(time.time()) if now is None else now
    return (
        "<xml><ToUserName>" + cdata(msg.from_user) + "</ToUserName><FromUserName>" + cdata(msg.to_user)
        + "</FromUserName><CreateTime>" + str(now) + "</CreateTime><MsgType><![CDATA[text]]></MsgType>"
        "<Content>" + cdata(clip_utf8(content)) + "</Content></xml>"
    )




class Envelope:
    """AES envelopes of safe/compatible mode (WXBizMsgCrypt), with wechatpy's cipher."""

    def __init__(self, token: str, aes_key: bytes, app_id: str):
        # wechatpy (and its cryptography) loads when a process builds its envelope (the endpoint, at
        # start), not with every module that names a ``Message`` (the router, the CLI's skeleton).
        from wechatpy.crypto import PrpCrypto
        from wechatpy.exceptions import InvalidAppIdException

        self.token = token
        self.app_id = app_id
        self._crypto = PrpCrypto(aes_key)
        self._other_app_id = InvalidAppIdException

    def decrypt(self, encrypt: str) -> bytes:
        try:
            return self._crypto.decrypt(encrypt, self.app_id).encode("utf-8")
        except self._other_app_id:
            raise MalformedMessage("envelope for another AppID") from None
        except (ValueError, binascii.Error, UnicodeDecodeError, struct.error, IndexError, TypeError) as exc:
            raise MalformedMessage(f"envelope does not decrypt ({exc.__class__.__name__})") from None

    def encrypt_reply(self, xml: str, now: int | None = None) -> str:
        timestamp = str(int(time.time()) if now is None else now)
        nonce = secrets.token_hex(5)  # ten characters, one read of the system's randomness
        encrypt = self._crypto.encrypt(xml, self.app_id).decode("ascii")
        signature = sha1_signature(self.token, timestamp, nonce, encrypt)
        return (
            "<xml><Encrypt><![CDATA[" + encrypt + "]]></Encrypt><MsgSignature><![CDATA[" + signature
            + "]]></MsgSignature><TimeStamp>" + timestamp + "</TimeStamp><Nonce><![CDATA[" + nonce
            + "]]></Nonce></xml>"
        )

    def encrypt_raw(self, text: str) -> str:
        return self._crypto.encrypt(text, self.app_id).decode("ascii")


def b64_aes_key(encoding_aes_key: str) -> bytes:
    return base64.b64decode(encoding_aes_key + "=")
