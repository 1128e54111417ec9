"""``/admin/api/password``: show and rotate the password over HTTP, with ``WXBOT_ADMIN_TOKEN``.

A Flask blueprint; the factory registers it. Answers are JSON, never cached.
"""
from __future__ import annotations

import hmac
import json
import logging
import time
from typing import Any

from flask import Blueprint, Response, current_app, request

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


def _authorise() -> Response | None:
    services = current_app.extensions["wxbot"].services
    token = services.settings.admin_token
    if not token:
        return _json(404, error="not_found")
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode("utf-8"), token.encode("utf-8")):
        log.warning("admin api refused status=401 path=%s", request.path)
        return _json(401, error="unauthorized")
    return None


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
    denied = _authorise()
    if denied is not None:
        return denied
    if request.method != "GET":
        return _json(405, error="method_not_allowed", allowed=["GET"])
    pw = _passwords()
    try:
        st = pw.store.state()
    except REDIS_ERRORS:
        return _json(503, error="redis_unavailable")
    return _json(200, **state_json(pw, st, time.time()))


@bp.route("/rotate", methods=_METHODS)
def api_rotate() -> Response:
    denied = _authorise()
    if denied is not None:
        return denied
    if request.method != "POST":
        return _json(405, error="method_not_allowed", allowed=["POST"])
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

