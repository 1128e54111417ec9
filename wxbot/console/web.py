"""The console's blueprint and what every page shares: the guard (console on, signed in, CSRF on
every POST, roles), the response headers, and error pages that say what to do."""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from functools import wraps
from typing import Callable
from urllib.parse import urlsplit

from flask import (
    Blueprint,
    Flask,
    Response,
    current_app,
    g,
    jsonify,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_wtf.csrf import CSRFError, CSRFProtect
from werkzeug.exceptions import HTTPException, NotFound

from ..audit import AuditLog
from ..defaults import Console as ConsoleInternals
from ..stores.redis import REDIS_ERRORS
from .held import HeldTickets
from .sessions import ConsoleSessionInterface, LoginThrottle, SessionStore
from .users import ADMIN, ConsoleUsers, User

log = logging.getLogger(__name__)

bp = Blueprint("console", __name__, url_prefix="/console", template_folder="templates", static_folder="static")
csrf = CSRFProtect()
PREFIX = "/console"
PUBLIC = {"console.login", "console.static"}


@dataclass
class Console:
    """What the console's views share (``app.extensions["wxbot_console"]``); ``clock`` is for tests."""

    cfg: ConsoleInternals
    users: ConsoleUsers
    sessions: SessionStore
    throttle: LoginThrottle
    audit: AuditLog
    enabled: bool
    held: HeldTickets
    clock: Callable[[], float] = time.time


def init_app(app: Flask) -> None:
    """Register /console on the app. Without WXBOT_SECRET_KEY every console path answers 404."""
    services = app.extensions["wxbot"].services
    cfg = services.internals.console
    users = ConsoleUsers(services.redis, cfg.min_password_length, cfg.hash_profile)
    secret = services.settings.secret_key
    app.extensions["wxbot_console"] = Console(cfg, users, SessionStore(services.redis, users, cfg),
                                              LoginThrottle(services.redis, cfg), AuditLog(services.redis),
                                              enabled=bool(secret),
                                              held=HeldTickets(app.extensions["wxbot"].features.tickets.rt))
    if secret:
        app.secret_key = secret
    app.config.update(SESSION_COOKIE_NAME="wxbot_console", SESSION_COOKIE_PATH=PREFIX, SESSION_COOKIE_HTTPONLY=True,
                      SESSION_COOKIE_SAMESITE="Lax", WTF_CSRF_CHECK_DEFAULT=False,
                      WTF_CSRF_TIME_LIMIT=int(cfg.absolute_timeout))
    app.session_interface = ConsoleSessionInterface()
    csrf.init_app(app)
    app.register_blueprint(bp)


def console() -> Console:
    return current_app.extensions["wxbot_console"]


def bot():
    return current_app.extensions["wxbot"]


def zone():
    """bot.yaml ``timezone``: every time a console page shows is in it (``labels.when``)."""
    return bot().services.bot.zone


def handles(path: str) -> bool:
    """Whether an error on ``path`` is the console's to render (routing errors reach the app's handler)."""
    return path == PREFIX or path.startswith(PREFIX + "/")


def client_address() -> str:
    return request.remote_addr or "-"


def safe_next(target: str | None) -> str:
    """Where to go after sign-in: a console path on this site, nothing else (no open redirect)."""
    default = url_for("console.home")
    if not target or any(c in target for c in "\\\r\n\t") or target.startswith("//"):
        return default
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not handles(parts.path):
        return default
    return target


# -- the guard -------------------------------------------------------------------------------------

@bp.before_request
def guard() -> Response | None:
    c = console()
    if not c.enabled:
        raise NotFound()
    if request.endpoint == "console.static":
        return None
    if request.method == "POST":
        csrf.protect()
    g.user = None
    check = c.sessions.check(session.get("u", ""), session.get("sid", ""), c.clock())
    g.user = check.user
    if request.endpoint in PUBLIC or g.user is not None:
        return None
    if request.endpoint == "console.poll":
        resp = jsonify(error="signed_out", message="登录已过期，请刷新页面重新登录。")
        resp.status_code = 401
        return resp
    if check.reason in ("idle", "expired", "gone"):
        session.clear()
        reason = {"idle": "idle", "expired": "expired", "gone": "ended"}[check.reason]
        return redirect(url_for("console.login", next=_here(), why=reason))
    return redirect(url_for("console.login", next=_here()))


def _here() -> str | None:
    if request.method != "GET":
        return None
    return request.full_path.rstrip("?")


def admin_only(view):
    """A support user who opens an admin page gets the 403 page (not merely a hidden link)."""

    @wraps(view)
    def wrapper(*args, **kwargs):
        user: User | None = g.get("user")
        if user is None or user.role != ADMIN:
            return error_page(403)
        return view(*args, **kwargs)

    return wrapper


def actor() -> str:
    return "console:" + g.user.name


@bp.after_request
def headers(resp: Response) -> Response:
    resp.headers["X-Content-Type-Options"] = "nosniff"
    resp.headers["X-Frame-Options"] = "DENY"
    resp.headers["Referrer-Policy"] = "same-origin"
    resp.headers["Content-Security-Policy"] = ("default-src 'self'; img-src 'self'; script-src 'self'; "
                                               "style-src 'self'; form-action 'self'; frame-ancestors 'none'; "
                                               "base-uri 'none'")
    if request.endpoint != "console.static":
        # Pages show passwords and followers' words: never kept by the browser or a proxy.
        resp.headers["Cache-Control"] = "no-store"
    return resp


# -- errors ---------------------------------------------------------------------------------------

ERRORS = {
    400: ("请求无效", "请返回上一页，刷新后再试一次。"),
    403: ("没有权限", "这个页面只对管理员开放。需要的话，请联系管理员。"),
    404: ("找不到这个页面", "请检查网址，或回到工单列表。"),
    405: ("不支持这个操作", "请从页面上的按钮操作，不要直接打开这个网址。"),
    413: ("内容太大", "请缩短内容后再提交。"),
    429: ("操作太频繁", "请稍等片刻再试。"),
    500: ("出错了", "请稍后重试；如果一再出现，请联系管理员查看服务器日志。"),
    503: ("暂时连不上数据库", "系统暂时连不上 Redis，请稍后刷新页面；如果一直这样，请联系管理员运行 wxbot doctor。"),
}


def error_page(code: int, title: str | None = None, advice: str | None = None) -> Response:
    default_title, default_advice = ERRORS.get(code, ERRORS[500] if code >= 500 else ERRORS[400])
    if "user" not in g and code == 404 and console().enabled:  # an unknown path: the guard did not run
        try:
            g.user = console().sessions.check(session.get("u", ""), session.get("sid", ""), console().clock()).user
        except REDIS_ERRORS:
            g.user = None
    try:
        body = render_template("console/error.html", code=code, title=title or default_title,
                               advice=advice or default_advice, user=g.get("user"))
    except Exception:  # noqa: BLE001 - the error page must never fail in turn
        log.exception("console error page failed code=%s", code)
        body = f"{code} {title or default_title}: {advice or default_advice}"
    resp = Response(body, status=code, mimetype="text/html")
    return headers(resp)


def error_response(exc: Exception) -> Response:
    """The console's page for any error, also for routing errors the app's handler passes on."""
    if isinstance(exc, CSRFError):
        return error_page(400, "页面已过期或表单无效", "为了安全，表单需要从本站页面提交。请返回上一页，刷新后再提交一次。")
    if isinstance(exc, HTTPException):
        code = exc.code or 500
        if code == 404 and not current_app.extensions["wxbot_console"].enabled:
            return error_page(404, advice="控制台还没有启用。管理员：请在服务器上设置 WXBOT_SECRET_KEY 后重启，"
                                          "运行 wxbot doctor 可查看原因。")
        return error_page(code)
    if isinstance(exc, REDIS_ERRORS):
        log.warning("console: redis unavailable (%s) path=%s", exc.__class__.__name__, request.path)
        return error_page(503)
    log.error("console: unhandled error %s path=%s", exc.__class__.__name__, request.path, exc_info=exc)
    return error_page(500)


bp.register_error_handler(Exception, error_response)
