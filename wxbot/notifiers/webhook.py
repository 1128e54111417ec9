"""Signed outbound webhooks, each attempt bounded by an overall deadline.

Every webhook wxbot sends is signed the same way: ``X-Wxbot-Timestamp: <unix seconds>`` and
``X-Wxbot-Signature: sha256=<hex HMAC-SHA256 of "<timestamp>.<raw body>">`` under the channel's secret.

httpx's timeouts apply per network operation, so a server that drips bytes can hold a request for far
longer than any single timeout; ``post_with_deadline`` runs the request in a helper thread and gives up
at the deadline (the straggler is abandoned and closed, and at-least-once delivery with an
idempotency key makes the possible late success harmless). URLs are never logged: they carry keys.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import logging
import threading
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

import httpx

log = logging.getLogger(__name__)


class DeliveryError(Exception):
    """An attempt failed; ``str()`` is safe to log (no URL, no secret)."""

    def __init__(self, reason: str, status: int | None = None, retryable: bool = True):
        super().__init__(reason)
        self.status = status
        self.retryable = retryable


def sign(secret: str, timestamp: str, body: bytes) -> str:
    mac = hmac.new(secret.encode("utf-8"), timestamp.encode("ascii") + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def verify(secret: str, timestamp: str, body: bytes, signature: str, window: float = 300,
           now: float | None = None) -> bool:
    """Receiver side: check the signature and that the timestamp is fresh."""
    if not timestamp.isdigit():
        return False
    now = time.time() if now is None else now
    if abs(now - int(timestamp)) > window:
        return False
    return hmac.compare_digest(sign(secret, timestamp, body), signature)


def safe_target(url: str) -> str:
    """What may be logged about a URL: scheme and host only."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname}"


def json_body(payload: object) -> bytes:
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":"), sort_keys=True).encode("utf-8")


@dataclass
class Response:
    status: int
    body: bytes

    def json(self):
        return json.loads(self.body)


def post_with_deadline(client: httpx.Client, url: str, body: bytes, headers: dict[str, str], deadline: float,
                       max_response_bytes: int = 1 << 20) -> Response:
    """POST and read the whole response within ``deadline`` seconds, or raise DeliveryError."""
    result: dict[str, object] = {}
    abandon = threading.Event()

    def run() -> None:
        try:
            request = client.build_request("POST", url, content=body, headers=headers)
            resp = client.send(request, stream=True)
            try:
                chunks, size = [], 0
                for chunk in resp.iter_bytes():
                    if abandon.is_set():
                        return
                    size += len(chunk)
                    if size > max_response_bytes:
                        break
                    chunks.append(chunk)
                result["response"] = Response(resp.status_code, b"".join(chunks))
            finally:
                resp.close()
        except httpx.HTTPError as exc:
            result["error"] = exc.__class__.__name__
        except Exception as exc:  # any failure of this attempt is reported, never raised in the thread
            result["error"] = exc.__class__.__name__

    thread = threading.Thread(target=run, name="wxbot-post", daemon=True)
    thread.start()
    thread.join(deadline)
    if thread.is_alive():
        abandon.set()
        raise DeliveryError(f"no complete response within {deadline:.1f}s")
    if "error" in result:
        raise DeliveryError(f"transport error {result['error']}")
    return result["response"]  # type: ignore[return-value]


def post_signed_json(client: httpx.Client, url: str, secret: str | None, payload: object, deadline: float,
                     extra_headers: dict[str, str] | None = None, now: float | None = None) -> Response:
    """POST ``payload`` as signed JSON; a non-2xx answer raises DeliveryError."""
    body = json_body(payload)
    ts = str(int(time.time() if now is None else now))
    headers = {"Content-Type": "application/json; charset=utf-8", "X-Wxbot-Timestamp": ts,
               "User-Agent": "wxbot"}
    if secret:
        headers["X-Wxbot-Signature"] = sign(secret, ts, body)
    if extra_headers:
        headers.update(extra_headers)
    resp = post_with_deadline(client, url, body, headers, deadline)
    if not 200 <= resp.status < 300:
        raise DeliveryError(f"HTTP {resp.status}", status=resp.status, retryable=resp.status >= 500 or resp.status == 429)
    return resp
