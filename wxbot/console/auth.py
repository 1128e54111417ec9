"""Signing in and out, and one's own account (a new password)."""
from __future__ import annotations

import logging
import math

from flask import flash, g, redirect, render_template, request, session, url_for

from .users import UserError
from .web import actor, bp, client_address, console, safe_next

log = logging.getLogger(__name__)

WHY = {"idle": "太久没有操作，已自动退出，请重新登录。", "expired": "登录时间已到，请重新登录。",
       "ended": "这个账号的密码已更换或账号已删除，请重新登录。"}


@bp.route("/")
def home():
    """Admins start on the dashboard, support on the tickets."""
    user = g.get("user")
    return redirect(url_for("console.dashboard" if user is not None and user.is_admin else "console.tickets"))


@bp.route("/login", methods=["GET", "POST"])
def login():
    c = console()
    target = request.values.get("next", "")
    if request.method == "GET":
        if g.user is not None:
            return redirect(safe_next(target))
        notice = WHY.get(request.args.get("why", ""), "")
        return render_template("console/login.html", next=target, notice=notice, error="", name="")
    name = (request.form.get("name") or "").strip().lower()[:64]
    password = request.form.get("password") or ""
    address = client_address()
    now = c.clock()
    wait = c.throttle.wait(name, address, now)
    if wait > 0:
        log.warning("console sign-in throttled user=%s addr=%s wait=%.0fs", _shown(c, name), address, wait)
        return render_template("console/login.html", next=target, name=name, notice="",
                               error=f"失败次数太多，请 {math.ceil(wait)} 秒后再试。"), 429
    user = c.users.verify(name, password) if name and password else None
    if user is None:
        failures = c.throttle.failed(name, address, now)
        who = _shown(c, name)
        log.warning("console sign-in failed user=%s addr=%s failures=%d", who, address, failures)
        c.audit.record(who, "console.signin", result="failed", detail=f"addr={address}", now=now)
        return render_template("console/login.html", next=target, name=name, notice="",
                               error="用户名或密码不对。"), 401
    c.throttle.succeeded(name)
    old_sid = session.get("sid", "")
    if old_sid:
        c.sessions.end(old_sid)
    session.clear()  # a fresh session: nothing from before sign-in is carried over (fixation)
    session["sid"] = c.sessions.create(user, now, address)
    session["u"] = user.name
    log.info("console sign-in user=%s role=%s addr=%s", user.name, user.role, address)
    c.audit.record("console:" + user.name, "console.signin", result="ok", detail=f"addr={address}", now=now)
    return redirect(safe_next(target))


def _shown(c, name: str) -> str:
    """A name fit for the log: known users by name; anything else (a mistyped password?) never."""
    return name if name and c.users.get(name) is not None else "<unknown>"


@bp.route("/logout", methods=["POST"])
def logout():
    c = console()
    c.sessions.end(session.get("sid", ""))
    c.audit.record(actor(), "console.signout", now=c.clock())
    session.clear()
    flash("已退出登录。")
    return redirect(url_for("console.login"))


@bp.route("/account", methods=["GET", "POST"])
def account():
    c = console()
    error = ""
    if request.method == "POST":
        current = request.form.get("current") or ""
        new = request.form.get("new") or ""
        if c.users.verify(g.user.name, current) is None:
            error = "当前密码不对。"
        elif new != (request.form.get("confirm") or ""):
            error = "两次输入的新密码不一样。"
        else:
            try:
                user = c.users.set_password(g.user.name, new, now=c.clock())
            except UserError:
                error = f"新密码至少 {c.cfg.min_password_length} 个字符。"
            else:
                # Every other browser of this user is signed out; this one gets a fresh session.
                now = c.clock()
                c.sessions.end(session.get("sid", ""))
                session.clear()
                session["sid"] = c.sessions.create(user, now, client_address())
                session["u"] = user.name
                c.audit.record("console:" + user.name, "console.passwd", target=user.name, now=now)
                flash("密码已更换；其他设备上的登录已全部退出。")
                return redirect(url_for("console.account"))
    return render_template("console/account.html", error=error, min_length=c.cfg.min_password_length), \
        (400 if error else 200)
