"""``GET/POST /wechat``: a thin adapter. verify -> (decrypt) -> parse -> pipeline -> reply bytes.

Unauthenticated requests get 403; authenticated but unusable ones get ``success`` with the reason
logged. Nothing here raises into Flask: a 5xx or an HTML error page makes WeChat tell followers
"该公众号暂时无法提供服务".
"""
from __future__ import annotations

import logging
import secrets
import time
from urllib.parse import unquote_plus, unquote_to_bytes

from flask import Blueprint, Response, current_app, request

from . import metrics
from .pipeline import handle_message
from .protocol import (
    Envelope,
    MalformedMessage,
    SignatureError,
    check_msg_signature,
    check_query,
    parse_xml,
    render_text_reply,
    to_message,
)
from .router import hash_openid
from .services import Services

log = logging.getLogger(__name__)
bp = Blueprint("wechat", __name__)

SUCCESS = b"success"


def get_services() -> Services:
    return current_app.extensions["wxbot"]


def _plain(body: bytes | str, status: int = 200) -> Response:
    return Response(body, status=status, mimetype="text/plain")


def _forbidden(reason: str) -> Response:
    log.info("wechat request refused status=403 reason=%s", reason)
    return _plain(b"forbidden", 403)


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


def _raw_arg(name: str) -> bytes | None:
    """A query argument exactly as sent (percent-decoded to bytes, no charset guessing)."""
    for part in request.query_string.split(b"&"):
        key, sep, value = part.partition(b"=")
        if sep and unquote_to_bytes(key.replace(b"+", b" ")) == name.encode():
            return unquote_to_bytes(value.replace(b"+", b" "))
    return None


@bp.get("/wechat")
def verify() -> Response:
    services = get_services()
    try:
        check_query(request.args, services.settings.wechat_token, services.webhook_cfg.timestamp_window)
    except SignatureError as exc:
        return _forbidden(str(exc))
    echostr = _raw_arg("echostr")
    if echostr is None:
        return _plain(b"missing echostr", 400)
    return _plain(echostr)


PLAIN = "text/plain; charset=utf-8"
XML = "application/xml; charset=utf-8"
_STATUS = {200: "200 OK", 400: "400 Bad Request", 403: "403 Forbidden", 413: "413 Payload Too Large"}


def _refused(reason: str) -> tuple[int, str, bytes]:
    log.info("wechat request refused status=403 reason=%s", reason)
    return 403, PLAIN, b"forbidden"


def receive_post(services: Services, environ: dict) -> tuple[int, str, bytes]:
    """Handle one POST from WeChat: (status, content type, body). Raises nothing it can foresee."""
    started = time.perf_counter()
    settings = services.settings
    cfg = services.webhook_cfg
    # Authenticate first: an unsigned request's body is never read.
    args = _query(environ)
    try:
        timestamp, nonce = check_query(args, settings.wechat_token, cfg.timestamp_window)
    except SignatureError as exc:
        return _refused(str(exc))
    try:
        body = _read_body(environ, cfg.max_body_bytes)
    except _TooLarge:
        log.info("wechat request refused status=413 reason=body too large")
        return 413, PLAIN, b"request body too large"
    except Exception as exc:  # a broken chunked encoding, a client gone mid-body: the server's errors
        log.info("wechat request refused status=400 reason=unreadable body (%s)", exc.__class__.__name__)
        return 400, PLAIN, b"unreadable request body"

    envelope: Envelope | None = services.extensions.get("envelope")
    try:
        if envelope is not None:
            # The mode comes from configuration: a plaintext body on a safe-mode account is refused.
            try:
                outer = parse_xml(body)
            except MalformedMessage as exc:
                return _refused(f"no valid envelope ({exc})")
            encrypt = outer.get("Encrypt") or ""
            if not encrypt:
                return _refused("no Encrypt in a safe-mode request")
            check_msg_signature(args.get("msg_signature", ""), settings.wechat_token, timestamp, nonce, encrypt)
            body = envelope.decrypt(encrypt)
        msg = to_message(parse_xml(body))
    except SignatureError as exc:
        return _refused(str(exc))
    except MalformedMessage as exc:
        metrics.MESSAGES.labels("invalid", "malformed").inc()
        log.info("wechat message ignored outcome=malformed reason=%s", exc)
        return 200, PLAIN, SUCCESS

    reply, ctx = handle_message(services, msg)
    elapsed = time.perf_counter() - started
    metrics.MESSAGES.labels(msg.type, ctx.outcome or "none").inc()
    metrics.LATENCY.observe(elapsed)
    log.info(
        "msg rid=%s user=%s type=%s event=%s route=%s outcome=%s detail=%s dup=%d redis=%s ms=%.1f",
        secrets.token_hex(4), hash_openid(msg.from_user, services.log_salt), msg.type, msg.event or "-",
        ctx.route or "-", ctx.outcome or "-", ctx.detail or "-", int(bool(ctx.claim and ctx.claim.duplicate)),
        "ok" if ctx.redis_ok else "down", elapsed * 1000,
    )
    if not reply:
        return 200, PLAIN, SUCCESS
    xml = render_text_reply(msg, reply)
    if envelope is not None:
        xml = envelope.encrypt_reply(xml)
    return 200, XML, xml.encode("utf-8")


class FastPath:
    """WSGI middleware: ``POST /wechat`` goes straight to ``receive_post``, skipping Flask's request
    context, URL matching, response object and signals, which cost about as much again as wxbot's
    own work on a message (measured with bench/hotpath.py). Everything else, GET /wechat included, is
    the Flask app.
    """

    def __init__(self, wsgi_app, services: Services, path: str = "/wechat"):
        self.wsgi_app = wsgi_app
        self.services = services
        self.path = path

    def __call__(self, environ, start_response):
        if environ.get("REQUEST_METHOD") != "POST" or environ.get("PATH_INFO") != self.path:
            return self.wsgi_app(environ, start_response)
        try:
            status, content_type, body = receive_post(self.services, environ)
        except Exception as exc:  # never a 5xx or a traceback: WeChat would tell followers it failed
            log.error("unhandled error: %s", exc.__class__.__name__, exc_info=exc)
            status, content_type, body = 200, PLAIN, SUCCESS
        start_response(_STATUS.get(status, f"{status} Error"),
                       [("Content-Type", content_type), ("Content-Length", str(len(body)))])
        return [body]
