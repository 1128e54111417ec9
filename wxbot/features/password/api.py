"""``/admin/api/password``: show and rotate the password over HTTP, with ``WXBOT_ADMIN_TOKEN``.

A Flask blueprint; the factory registers it. Answers are JSON, never cached. Wrong tokens are counted
per client address in Redis (the connection's, or ``X-Forwarded-For`` behind ``WXBOT_TRUSTED_PROXIES``
proxies): past ``admin.max_failures`` in ``admin.failure_window`` the address gets 429 with
``Retry-After``, whatever it sends. A token shorter than ``admin.min_token_chars`` switches the API off
(404; one log line at start; ``wxbot doctor`` offers a replacement) while the bot serves followers.
"""
from __future__ import annotations

import hmac
import json
import logging
import time
from typing import Any

import redis
from flask import Blueprint, Response, current_app, request

from ...stores import keys
from ...stores.redis import REDIS_ERRORS
from .rotation import Passwords
from .store import PasswordState

log = logging.getLogger(__name__)

bp = Blueprint("password_admin_api", __name__, url_prefix="/admin/api/password")
_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE"]


def _json(status: int, **body: Any) -> Response:
    resp = Response(json.dumps(body, ensure_ascii=False) + "\n", status=status, mimetype="application/json")
    resp.headers["Cache-Control"] = "no-store"
    if status == 401:
        resp.headers["WWW-Authenticate"] = 'Bearer realm="wxbot-admin"'
    return resp


def _passwords() -> Passwords:
    return current_app.extensions["wxbot"].features.password.passwords


# A fixed window per client address, started by its first wrong token.
_COUNT = """
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end
return n
"""
REDIS_FAILURES = (redis.RedisError, *REDIS_ERRORS)


def token_usable(token: str | None, min_chars: int) -> bool:
    return bool(token) and len(token) >= min_chars  # type: ignore[arg-type]


@bp.record_once
def _check_token(state) -> None:
    services = state.app.extensions["wxbot"].services
    token, cfg = services.settings.admin_token, services.internals.admin
    if token and not token_usable(token, cfg.min_token_chars):
        log.error("admin api off: WXBOT_ADMIN_TOKEN has %d characters, at least %d are needed "
                  "(run `wxbot doctor` for a replacement)", len(token), cfg.min_token_chars)


def _authorise() -> Response | None:
    services = current_app.extensions["wxbot"].services
    token, cfg = services.settings.admin_token, services.internals.admin
    if not token_usable(token, cfg.min_token_chars):
        return _json(404, error="not_found")
    assert token is not None
    client = request.remote_addr or "-"
    key = keys.admin_throttle(client)
    try:
        failures = int(services.redis.get(key) or 0)
        if failures >= cfg.max_failures:
            wait = max(1, int(services.redis.ttl(key)))
            resp = _json(429, error="too_many_attempts", retry_after=wait)
            resp.headers["Retry-After"] = str(wait)
            return resp
    except REDIS_FAILURES:
        key = ""  # cannot count: the routes answer 503 themselves
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode("utf-8"), token.encode("utf-8")):
        _count_failure(services, key, client)
        return _json(401, error="unauthorized")
    return None


def _refused(method: str) -> Response | None:
    """The answer to a request that is not authorised (``_authorise``) or not ``method`` (405); None: serve it."""
    denied = _authorise()
    if denied is not None:
        return denied
    if request.method != method:
        return _json(405, error="method_not_allowed", allowed=[method])
    return None


def _count_failure(services, key: str, client: str) -> None:
    """One log line per burst: at its first wrong token and when the address is throttled."""
    cfg = services.internals.admin
    n = 0
    if key:
        try:
            n = int(services.redis.eval(_COUNT, 1, key, cfg.failure_window))
        except REDIS_FAILURES:
            n = 0
    if n <= 1:
        log.warning("admin api refused status=401 client=%s path=%s", client, request.path)
    elif n == cfg.max_failures:
        log.warning("admin api throttled client=%s after %d wrong tokens (429 for up to %ds)", client, n,
                    cfg.failure_window)
        try:
            services.audit.record("api:" + client, "admin_api.throttled", request.path, "refused", f"{n} wrong tokens")
        except REDIS_FAILURES:
            pass


def state_json(pw: Passwords, st: PasswordState, now: float) -> dict[str, Any]:
    prev = st.previous()
    return {
        "version": st.version,
        "shown": {"password": st.shown.password, "version": st.shown.version,
                  "valid_until": st.shown.valid_until or None,
                  "valid_until_display": st.shown.valid_until_display or None} if st.shown else None,
        "pending": {"password": st.current, "version": st.current_version,
                    "rotated_at": int(st.current_at)} if st.pending else None,
        "previous": {"password": prev.password if prev.expires > now else None, "version": prev.version,
                     "accepted_until": int(prev.expires)} if prev else None,
        "sync": {"enabled": pw.sync_on, "state": st.sync_state or ("off" if not pw.sync_on else "never"),
                 "attempts": st.sync_attempts, "last_error": st.sync_last_error or None,
                 "last_ok_at": int(st.sync_last_ok_at) or None, "next_attempt_at": int(st.sync_next_at) or None},
    }


@bp.route("", methods=_METHODS)
def api_show() -> Response:
    refused = _refused("GET")
    if refused is not None:
        return refused
    pw = _passwords()
    try:
        st = pw.store.state()
    except REDIS_ERRORS:
        return _json(503, error="redis_unavailable")
    return _json(200, **state_json(pw, st, time.time()))


@bp.route("/rotate", methods=_METHODS)
def api_rotate() -> Response:
    refused = _refused("POST")
    if refused is not None:
        return refused
    value = None
    if request.content_length:
        body = request.get_json(silent=True, force=True)
        if not isinstance(body, dict):
            return _json(400, error="bad_json", detail="body must be a JSON object, e.g. {\"password\": \"...\"}")
        value = body.get("password")
        if value is not None and not isinstance(value, str):
            return _json(400, error="bad_password", detail="password must be a string")
    pw = _passwords()
    try:
        rot, password = pw.rotate("api", "api", value)
    except ValueError as exc:
        return _json(400, error="bad_password", detail=str(exc))
    except REDIS_ERRORS:
        return _json(503, error="redis_unavailable")
    return _json(200, version=rot.version, password=password, visible=not pw.sync_on,
                 sync="pending" if pw.sync_on else "off", replaced_unconfirmed=rot.replaced or None)

