"""``/wechat``: the endpoint WeChat's servers call, a small WSGI application mounted beside the Flask
app (``DispatcherMiddleware`` in ``wxbot.create_app``), because it is machine-to-machine with a strict
protocol and none of Flask's per-request machinery helps it.

One message takes one straight path, top to bottom in ``WeChatEndpoint.post`` and ``dispatch``:
verify -> read -> decrypt -> parse -> claim -> route -> handle -> reply. Unauthenticated requests get
403; authenticated but unusable ones get ``success`` with the reason logged. Nothing here raises: a
5xx or an HTML error page makes WeChat tell followers "该公众号暂时无法提供服务". Redis errors degrade
the answer instead of taking it away. One Redis round trip on the hot path (the claim); routes with
side effects add one more to store their reply for retries.
"""
from __future__ import annotations

import logging
import os
import re
import secrets
import signal
import time
from typing import TYPE_CHECKING
from urllib.parse import unquote_plus, unquote_to_bytes

import redis

from .. import metrics
from ..alerts import DecryptWatch
from ..router import Ctx, Route, Router, hash_openid
from ..stores import counters
from ..stores.redis import REDIS_ERRORS
from ..textnorm import TEXT_LIMIT, clip_utf8
from .protocol import (
    Envelope,
    MalformedMessage,
    Message,
    SignatureError,
    check_msg_signature,
    check_query,
    parse_xml,
    render_text_reply,
    to_message,
)

if TYPE_CHECKING:
    from ..services import Services

log = logging.getLogger(__name__)

SUCCESS = b"success"
PLAIN = "text/plain; charset=utf-8"
XML = "application/xml; charset=utf-8"
_STATUS = {200: "200 OK", 400: "400 Bad Request", 403: "403 Forbidden", 404: "404 Not Found",
           405: "405 Method Not Allowed", 413: "413 Payload Too Large"}

# Any Redis failure (not only connection errors: NOREPLICAS, MISCONF, BUSY...) degrades the answer;
# none may take the reply away.
REDIS_FAILURES = (redis.RedisError, *REDIS_ERRORS)


class _TooLarge(Exception):
    pass


def _read_body(environ: dict, limit: int) -> bytes:
    """Read at most ``limit`` bytes of the body, refusing more (chunked bodies included).

    Reads ``wsgi.input`` directly: the servers wxbot runs on (gunicorn, Werkzeug's) decode chunked
    bodies there and end the stream at the end of the body. Werkzeug's ``MAX_CONTENT_LENGTH`` is not
    used because it silently truncates a chunked body instead of refusing it.
    """
    length = environ.get("CONTENT_LENGTH")
    stream = environ["wsgi.input"]
    if length:
        try:
            n = int(length)
        except ValueError:
            raise _TooLarge() from None
        if n > limit or n < 0:
            raise _TooLarge()
        chunks = [stream.read(n)]
        total = len(chunks[0])
        while total < n:  # a short read: keep reading until the declared length or EOF
            chunk = stream.read(n - total)
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
        return b"".join(chunks)
    if not (environ.get("wsgi.input_terminated") or "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower()):
        return b""  # no length and no end marker: treat as empty rather than block
    chunks = []
    total = 0
    while True:
        chunk = stream.read(min(65536, limit + 1 - total))
        if not chunk:
            break
        chunks.append(chunk)
        total += len(chunk)
        if total > limit:
            raise _TooLarge()
    return b"".join(chunks)


def _query(environ: dict) -> dict[str, str]:
    """The query string as a plain dict (first value wins); cheaper than Werkzeug's MultiDict."""
    out: dict[str, str] = {}
    qs = environ.get("QUERY_STRING", "")
    if not qs:
        return out
    for part in qs.split("&"):
        key, sep, value = part.partition("=")
        if "%" in part or "+" in part:
            key, value = unquote_plus(key), unquote_plus(value)
        if key not in out:
            out[key] = value
    return out


def _raw_arg(environ: dict, name: str) -> bytes | None:
    """A query argument exactly as sent (percent-decoded to bytes, no charset guessing)."""
    for part in environ.get("QUERY_STRING", "").encode("latin-1").split(b"&"):
        key, sep, value = part.partition(b"=")
        if sep and unquote_to_bytes(key.replace(b"+", b" ")) == name.encode():
            return unquote_to_bytes(value.replace(b"+", b" "))
    return None


_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def safe_log(value: object, limit: int = 40) -> str:
    """A message-derived value for a log line: control characters escaped (no forged lines), at most
    ``limit`` characters."""
    text = str(value)
    if len(text) > limit:
        text = text[:limit] + "…"
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


def _refused(reason: str) -> tuple[int, str, bytes]:
    log.info("wechat request refused status=403 reason=%s", safe_log(reason, 120))
    return 403, PLAIN, b"forbidden"


class WeChatEndpoint:
    """The WSGI application at ``/wechat``: ``GET`` is the MP console's URL check, ``POST`` a message."""

    def __init__(self, services: "Services", router: Router):
        self.services = services
        self.router = router
        settings = services.settings
        self.envelope = (Envelope(settings.wechat_token, settings.aes_key_bytes, settings.wechat_app_id)
                         if settings.safe_mode else None)
        self.decrypts = DecryptWatch(services) if settings.safe_mode else None

    def __call__(self, environ, start_response):
        method = environ.get("REQUEST_METHOD")
        try:
            if environ.get("PATH_INFO", "") not in ("", "/"):
                status, content_type, body = 404, PLAIN, b"not found"
            elif method == "POST":
                status, content_type, body = self.post(environ)
            elif method in ("GET", "HEAD"):
                status, content_type, body = self.get(environ)
            else:
                status, content_type, body = 405, PLAIN, b"method not allowed"
        except Exception as exc:  # never a 5xx or a traceback: WeChat would tell followers it failed
            log.error("unhandled error: %s", exc.__class__.__name__, exc_info=exc)
            status, content_type, body = 200, PLAIN, SUCCESS
        headers = [("Content-Type", content_type), ("Content-Length", str(len(body)))]
        if status == 405:
            headers.append(("Allow", "GET, POST"))
        start_response(_STATUS.get(status, f"{status} Error"), headers)
        return [b"" if method == "HEAD" else body]

    def get(self, environ: dict) -> tuple[int, str, bytes]:
        """The MP console's server check: echo ``echostr`` for a correctly signed request."""
        settings = self.services.settings
        try:
            check_query(_query(environ), settings.wechat_token, self.services.internals.webhook.timestamp_window)
        except SignatureError as exc:
            return _refused(str(exc))
        echostr = _raw_arg(environ, "echostr")
        if echostr is None:
            return 400, PLAIN, b"missing echostr"
        return 200, PLAIN, echostr

    def post(self, environ: dict) -> tuple[int, str, bytes]:
        """One message from WeChat: (status, content type, body)."""
        started = time.perf_counter()
        services = self.services
        settings = services.settings
        web = services.internals.webhook
        # 1. verify: an unsigned request's body is never read.
        args = _query(environ)
        try:
            timestamp, nonce = check_query(args, settings.wechat_token, web.timestamp_window)
        except SignatureError as exc:
            return _refused(str(exc))
        # 2. read, capped.
        try:
            body = _read_body(environ, web.max_body_bytes)
        except _TooLarge:
            log.info("wechat request refused status=413 reason=body too large")
            return 413, PLAIN, b"request body too large"
        except Exception as exc:  # a broken chunked encoding, a client gone mid-body: the server's errors
            log.info("wechat request refused status=400 reason=unreadable body (%s)", exc.__class__.__name__)
            return 400, PLAIN, b"unreadable request body"
        # 3. decrypt (safe mode comes from configuration: a plaintext body on a safe-mode account is
        # refused) and 4. parse.
        envelope = self.envelope
        try:
            if envelope is not None:
                try:
                    outer = parse_xml(body)
                except MalformedMessage as exc:
                    return _refused(f"no valid envelope ({exc})")
                encrypt = outer.get("Encrypt") or ""
                if not encrypt:
                    return _refused("no Encrypt in a safe-mode request")
                check_msg_signature(args.get("msg_signature", ""), settings.wechat_token, timestamp, nonce, encrypt)
                try:
                    body = envelope.decrypt(encrypt)
                except MalformedMessage:
                    self._watch_decrypt(failed=True)
                    raise
                self._watch_decrypt(failed=False)
            msg = to_message(parse_xml(body))
        except SignatureError as exc:
            return _refused(str(exc))
        except MalformedMessage as exc:
            metrics.MESSAGES.labels("invalid", "malformed").inc()
            log.info("wechat message ignored outcome=malformed reason=%s", safe_log(exc, 120))
            return 200, PLAIN, SUCCESS
        # 5-7. claim, route, handle.
        # Plaintext mode signs the URL only: the claim also keeps the body's hash per signed URL.
        signed = (args.get("signature", ""), timestamp, nonce, body) if envelope is None else None
        reply, ctx = dispatch(services, self.router, msg, signed=signed)
        if ctx.outcome == "forged":
            return _refused("a used signed URL with another body")
        elapsed = time.perf_counter() - started
        metrics.child(metrics.MESSAGES, metrics.message_type(msg.type), ctx.outcome or "none").inc()
        metrics.LATENCY.observe(elapsed)
        log.info(
            "msg rid=%s user=%s type=%s event=%s route=%s outcome=%s detail=%s dup=%d redis=%s ms=%.1f",
            secrets.token_hex(4), hash_openid(msg.from_user, services.log_salt), safe_log(msg.type),
            safe_log(msg.event or "-"), ctx.route or "-", ctx.outcome or "-", safe_log(ctx.detail or "-", 80),
            int(bool(ctx.claim and ctx.claim.duplicate)), "ok" if ctx.redis_ok else "down", elapsed * 1000,
        )
        # 8. reply.
        if not reply:
            return 200, PLAIN, SUCCESS
        xml = render_text_reply(msg, reply)
        if envelope is not None:
            xml = envelope.encrypt_reply(xml)
        return 200, XML, xml.encode("utf-8")


    def _watch_decrypt(self, failed: bool) -> None:
        if self.decrypts is None or not self.services.breaker.available():
            return
        try:
            if failed:
                self.decrypts.failed()
            else:
                self.decrypts.decrypted()
        except REDIS_FAILURES as exc:
            metrics.REDIS_ERRORS.labels("aes_watch").inc()
            log.warning("redis unavailable at the decrypt watch (%s)", exc.__class__.__name__)


def _fault_after_claim(services: "Services") -> None:
    """Test only (``webhook.fault_kill_after_claim``): die the hardest way, right after the claim."""
    path = services.internals.webhook.fault_kill_after_claim
    if path and os.path.exists(path):
        os.unlink(path)
        os.kill(os.getpid(), signal.SIGKILL)


def dispatch(services: "Services", router: Router, msg: Message, now: float | None = None,
             signed: tuple[str, str, str, bytes] | None = None) -> tuple[str | None, Ctx]:
    """Claim -> route -> handle one authenticated, parsed message.

    ``signed`` (plaintext mode: signature, timestamp, nonce, body) is checked in the claim: a signed
    URL seen before with another body gives ``ctx.outcome == "forged"`` and nothing is done.
    Returns (reply text or None for ``success``, the request context for logging).
    """
    started = time.monotonic()
    web = services.internals.webhook
    limits = services.bot.webhook
    recount = None  # the dashboard's counter to move: a dialogue took the message after the claim
    ctx = Ctx(services, msg.from_user, now=time.time() if now is None else now)
    route = router.resolve(msg, ctx)

    claim = None
    if services.breaker.available():
        try:
            claim = services.dedupe.claim(msg.dedupe_id, msg.from_user, route.needs, route.replayable,
                                          signed=signed, signed_ttl=2 * web.timestamp_window,
                                          stat=_stat_field(route, msg, ctx), now=ctx.now,
                                          limited=route.needs.limited and not ctx.staff_allowed)
        except REDIS_FAILURES as exc:
            log.warning("redis unavailable at claim (%s); answering in degraded mode", exc.__class__.__name__)
            metrics.REDIS_ERRORS.labels("claim").inc()
            ctx.redis_failed()
    else:
        ctx.redis_ok = False
    ctx.claim = claim

    if claim is not None and claim.forged:
        ctx.route, ctx.outcome = "refused", "forged"
        return None, ctx
    if claim is not None and not route.replayable and not claim.duplicate:
        _fault_after_claim(services)
    if claim is not None:
        if claim.reply is not None:
            metrics.DEDUPE_HITS.inc()
            ctx.route, ctx.outcome = "replay", "duplicate"
            return claim.reply or None, ctx
        if claim.dialog is not None:  # the follower is in a dialogue: its routes may take the message
            claimed = route
            route = router.resolve(msg, ctx)
            if route is not claimed:
                recount = counters.recount_args(claim.stat, _stat_field(route, msg, ctx))
        if claim.duplicate:
            metrics.DEDUPE_HITS.inc()
            if not route.replayable:
                ctx.route, ctx.outcome = route.name, "duplicate"
                remaining = web.reply_deadline - (time.monotonic() - started) - 0.5
                try:
                    reply = services.dedupe.wait_reply(msg.dedupe_id, max(0.0, min(web.pending_wait, remaining)))
                except REDIS_FAILURES:
                    reply = None
                return reply, ctx
        if claim.count > limits.msg_limit and route.needs.limited and not ctx.staff_allowed:
            metrics.RATE_LIMITED.labels("messages").inc()
            ctx.route, ctx.outcome = "rate_limit", "limited"
            if claim.count != limits.msg_limit + 1:
                return None, ctx
            return ctx.text("limits.slow_down", minutes=max(1, -(-limits.msg_window // 60))), ctx

    ctx.route = route.name
    try:
        reply = route.handle(msg, ctx)
        ctx.outcome = ctx.outcome or ("replied" if reply else "silent")
    except REDIS_FAILURES as exc:
        log.warning("redis error in route=%s (%s)", route.name, exc.__class__.__name__)
        metrics.REDIS_ERRORS.labels(route.name).inc()
        ctx.redis_failed()
        reply = ctx.text("errors.busy")
        ctx.outcome = "degraded"
    except Exception:
        log.exception("handler failed route=%s", route.name)
        reply = ctx.text("errors.internal")
        ctx.outcome = "error"

    if claim is not None and claim.pending:
        reply = _with_pending(services, ctx, reply, claim.pending, first=not claim.duplicate)

    if claim is not None and not claim.duplicate and not route.replayable and ctx.redis_ok:
        try:
            services.dedupe.store_reply(msg.dedupe_id, reply or "", recount=recount)
        except REDIS_FAILURES:
            metrics.REDIS_ERRORS.labels("store_reply").inc()
            ctx.redis_failed()
    elif recount is not None and ctx.redis_ok:
        try:
            services.dedupe.recount(recount)
        except REDIS_FAILURES:
            metrics.REDIS_ERRORS.labels("recount").inc()
            ctx.redis_failed()
    if reply and (claim is None or not claim.duplicate):
        metrics.child(metrics.REPLIES, ctx.route).inc()
    return reply or None, ctx


def _stat_field(route: Route, msg: Message, ctx: Ctx) -> str:
    """The dashboard's counter field of a message ``route`` takes; a failing ``Route.stat`` only loses
    the detail."""
    detail = ""
    if route.stat is not None:
        try:
            detail = route.stat(msg, ctx)
        except Exception:  # noqa: BLE001 - a count must never take the reply away
            log.warning("route stat failed route=%s", route.name, exc_info=True)
    return counters.route_field(route.name, detail)


def _with_pending(services: "Services", ctx: Ctx, reply: str | None, pending: list[str], first: bool) -> str:
    """Put support replies waiting for the follower before the answer, never cutting the answer.

    What does not fit in WeChat's 2048 bytes goes back to the follower's list for the next message; a
    single text too long for any reply is shown clipped rather than blocking the ones behind it. Only
    the first delivery confirms (a retry replays the same texts and must not queue them twice).
    """
    size = len(reply.encode("utf-8")) if reply else 0
    shown: list[str] = []
    left: list[str] = []
    for text in pending:
        sep = 2 if (shown or reply) else 0
        add = len(text.encode("utf-8")) + sep
        if not left and size + add > TEXT_LIMIT and not shown and TEXT_LIMIT - size - sep > 200:
            text = clip_utf8(text, TEXT_LIMIT - size - sep)  # too long for any reply: show its start
            add = len(text.encode("utf-8")) + sep
        if left or size + add > TEXT_LIMIT:
            left.append(text)
            continue
        shown.append(text)
        size += add
    if first and ctx.redis_ok:
        try:
            services.dedupe.confirm_pending(ctx.openid, left)
        except REDIS_FAILURES:
            ctx.redis_failed()
    return "\n\n".join([*shown, reply] if reply else shown)
