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
import re
import threading
import time
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from typing import Any, Callable, TypeVar
from urllib.parse import urlsplit

import httpx

log = logging.getLogger(__name__)

T = TypeVar("T")


class DeliveryError(Exception):
    """An attempt failed; ``str()`` says what happened in plain words and is safe to log (no URL, no
    secret). ``retry_after``: seconds the receiver asked for (``Retry-After`` on a 429/503);
    ``rate_limited``: the receiver refused because of its rate limit (WeCom's 45009)."""

    def __init__(self, reason: str, status: int | None = None, retryable: bool = True,
                 retry_after: float | None = None, rate_limited: bool = False, errcode: int | None = None):
        super().__init__(reason)
        self.status = status
        self.retryable = retryable
        self.retry_after = retry_after
        self.rate_limited = rate_limited
        self.errcode = errcode


def transport_reason(exc: httpx.HTTPError) -> str:
    """An httpx error in a few words, without class names (nor the URL it may carry)."""
    if isinstance(exc, httpx.TimeoutException):
        return "timed out"
    text = " ".join(str(exc).split())
    if "Connection refused" in text:
        return "connection refused"
    if "Name or service not known" in text or "nodename nor servname" in text or "getaddrinfo" in text:
        return "host name not found"
    if isinstance(exc, httpx.ConnectError):
        return _QUERY_RE.sub("", text)[:120] or "could not connect"
    return _QUERY_RE.sub("", text)[:120] or "no answer"


_QUERY_RE = re.compile(r"\?\S*")


def retry_after(headers: dict[str, str], now: float) -> float | None:
    """Seconds from ``Retry-After`` (delta-seconds or an HTTP date), or None when absent or unreadable."""
    raw = (headers.get("retry-after") or "").strip()
    if not raw:
        return None
    if raw.isdigit():
        return float(raw)
    try:
        when = parsedate_to_datetime(raw)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None:
        return None
    return max(0.0, when.timestamp() - now)


def http_error(status: int, headers: dict[str, str], who: str = "") -> DeliveryError:
    """A non-2xx answer: retryable for 5xx and 429, with the receiver's ``Retry-After`` on 429/503."""
    wait = retry_after(headers, time.time()) if status in (429, 503) else None
    return DeliveryError(f"{who} answered HTTP {status}" if who else f"HTTP {status}", status=status,
                         retryable=status >= 500 or status == 429, retry_after=wait)


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
    headers: dict[str, str] = field(default_factory=dict)  # lower-case names

    def json(self):
        return json.loads(self.body)


class DeadlineExceeded(Exception):
    pass


def with_deadline(fn: Callable[[threading.Event], T], deadline: float, name: str = "wxbot-io") -> T:
    """Run ``fn(abandon)`` in a helper thread and return its result within ``deadline`` seconds.

    Past the deadline, ``abandon`` is set (``fn`` checks it between chunks and stops) and
    DeadlineExceeded is raised; an exception of ``fn`` is raised here, in the caller's thread.
    """
    result: dict[str, Any] = {}
    abandon = threading.Event()

    def run() -> None:
        try:
            result["value"] = fn(abandon)
        except BaseException as exc:  # handed to the caller below, never lost in the thread
            result["error"] = exc

    thread = threading.Thread(target=run, name=name, daemon=True)
    thread.start()
    thread.join(deadline)
    if thread.is_alive():
        abandon.set()
        raise DeadlineExceeded(f"not complete within {deadline:.1f}s")
    if "error" in result:
        raise result["error"]
    return result["value"]


class BodyTooLarge(Exception):
    pass


def _read_capped(resp: httpx.Response, abandon: threading.Event, max_bytes: int, refuse_more: bool) -> bytes | None:
    """A streamed response's body, chunk by chunk, or None once ``abandon`` is set (the caller gave up).
    Past ``max_bytes``: BodyTooLarge with ``refuse_more``, else the whole chunks read so far."""
    chunks, size = [], 0
    for chunk in resp.iter_bytes():
        if abandon.is_set():
            return None
        size += len(chunk)
        if size > max_bytes:
            if refuse_more:
                raise BodyTooLarge(f"larger than {max_bytes} bytes")
            break
        chunks.append(chunk)
    return b"".join(chunks)


def get_bounded(client: httpx.Client, url: str, max_bytes: int, deadline: float, params: dict | None = None,
                name: str = "wxbot-get") -> tuple[int, str, bytes]:
    """GET ``url`` and read the whole body within ``deadline`` seconds and ``max_bytes``:
    (status, content type, body). Raises DeadlineExceeded, BodyTooLarge or httpx's errors."""

    def fetch(abandon: threading.Event) -> tuple[int, str, bytes] | None:
        with client.stream("GET", url, params=params, timeout=deadline) as resp:
            body = _read_capped(resp, abandon, max_bytes, refuse_more=True)
            return None if body is None else (resp.status_code, resp.headers.get("content-type", ""), body)

    return with_deadline(fetch, deadline, name)


def post_with_deadline(client: httpx.Client, url: str, body: bytes, headers: dict[str, str], deadline: float,
                       max_response_bytes: int = 1 << 20) -> Response:
    """POST and read the whole response within ``deadline`` seconds, or raise DeliveryError."""

    def post(abandon: threading.Event) -> Response | None:
        request = client.build_request("POST", url, content=body, headers=headers)
        resp = client.send(request, stream=True)
        try:
            answer = _read_capped(resp, abandon, max_response_bytes, refuse_more=False)
            return None if answer is None else Response(resp.status_code, answer,
                                                        {k.lower(): v for k, v in resp.headers.items()})
        finally:
            resp.close()

    host = urlsplit(url).hostname or "the receiver"
    try:
        return with_deadline(post, deadline, "wxbot-post")
    except DeadlineExceeded:
        raise DeliveryError(f"could not reach {host} (no complete answer within {deadline:.1f}s)") from None
    except httpx.HTTPError as exc:
        raise DeliveryError(f"could not reach {host} ({transport_reason(exc)})") from None
    except Exception as exc:  # anything else of this attempt
        raise DeliveryError(f"could not reach {host} ({exc.__class__.__name__})") from None


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
        raise http_error(resp.status, resp.headers)
    return resp
