"""WeCom (企业微信) group robot: markdown and image messages.

The robot URL carries its key in the query string, so it is never logged (``DeliveryError`` texts
name no URL). WeCom answers HTTP 200 with ``{"errcode": ..., "errmsg": ...}``; anything but
``errcode == 0`` is refused, said in plain words ("WeCom refused: 93000 invalid webhook key ..."); 45009
(over 20 messages a minute) is ``rate_limited``: senders share ``throttle.RobotBudget`` to avoid it. Markdown content is capped at 4096 UTF-8 bytes by WeCom; images
at 2 MB (JPG/PNG), sent base64-encoded with their MD5.
"""
from __future__ import annotations

import base64
import hashlib
import json

import httpx

from ..textnorm import clip_utf8
from .webhook import DeliveryError, http_error, post_with_deadline

MARKDOWN_LIMIT = 4096  # bytes of UTF-8, WeCom's limit for markdown.content
IMAGE_LIMIT = 2 * 1024 * 1024  # bytes before base64
# errcodes that will not get better by retrying the same request (bad key, bad payload).
PERMANENT_ERRCODES = {40008, 40058, 93000, 93004, 300005}
RATE_LIMITED = 45009
# What WeCom's errcodes mean, for admins (WeCom's own errmsg carries hints that may echo the request).
MEANINGS = {
    93000: "invalid webhook key (the URL is wrong or the robot was removed from the group)",
    93004: "the robot is disabled",
    45009: "over the robot's limit of 20 messages a minute",
    40008: "invalid message type",
    40058: "a field of the message is invalid",
    300005: "the robot's key does not exist",
}


def refused(errcode: object, errmsg: object) -> str:
    """``WeCom refused: <code> <what it means>`` (the first clause of WeCom's errmsg for unknown codes)."""
    meaning = MEANINGS.get(errcode) if isinstance(errcode, int) else None
    if meaning is None:
        meaning = " ".join(str(errmsg or "").split(",")[0].split())[:80]
    return f"WeCom refused: {errcode} {meaning}".rstrip()


def markdown_payload(content: str, limit: int = MARKDOWN_LIMIT) -> dict:
    return {"msgtype": "markdown", "markdown": {"content": clip_utf8(content, limit)}}


def image_payload(data: bytes) -> dict:
    if len(data) > IMAGE_LIMIT:
        raise DeliveryError(f"image of {len(data)} bytes is over WeCom's {IMAGE_LIMIT} limit", retryable=False)
    return {"msgtype": "image",
            "image": {"base64": base64.b64encode(data).decode("ascii"), "md5": hashlib.md5(data).hexdigest()}}


def send(client: httpx.Client, url: str, payload: dict, deadline: float) -> dict:
    """POST one robot message within ``deadline`` seconds; raise DeliveryError unless errcode is 0."""
    body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    resp = post_with_deadline(client, url, body, {"Content-Type": "application/json; charset=utf-8"}, deadline)
    if not 200 <= resp.status < 300:
        raise http_error(resp.status, resp.headers, "WeCom")
    try:
        data = resp.json()
    except ValueError:
        raise DeliveryError("WeCom answered with something other than JSON", status=resp.status) from None
    errcode = data.get("errcode") if isinstance(data, dict) else None
    if errcode != 0:
        code = errcode if isinstance(errcode, int) else -1
        raise DeliveryError(refused(errcode, data.get("errmsg") if isinstance(data, dict) else None),
                            status=resp.status, retryable=code not in PERMANENT_ERRCODES,
                            rate_limited=code == RATE_LIMITED, errcode=code)
    return data


def send_text(client: httpx.Client, url: str, content: str, deadline: float) -> dict:
    return send(client, url, {"msgtype": "text", "text": {"content": content}}, deadline)


def send_markdown(client: httpx.Client, url: str, content: str, deadline: float,
                  limit: int = MARKDOWN_LIMIT) -> dict:
    return send(client, url, markdown_payload(content, limit), deadline)


def send_image(client: httpx.Client, url: str, data: bytes, deadline: float) -> dict:
    return send(client, url, image_payload(data), deadline)
