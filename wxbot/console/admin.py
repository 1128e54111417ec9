"""Admins' pages: the NextChat password (show, history, rotate), console users, the audit log."""
from __future__ import annotations

import logging

from flask import flash, g, redirect, render_template, request, url_for

from .labels import when
from .users import ROLES, UserError
from .web import actor, admin_only, bot, bp, console, zone

log = logging.getLogger(__name__)

TRIGGERS = {"cli": "命令行", "api": "HTTP 接口", "chat": "微信 #换密码", "schedule": "定时更换", "console": "控制台"}
SYNC_STATES = {"ok": "已同步", "pending": "等待同步", "failing": "同步失败，正在重试", "off": "未开启同步",
               "": "还没同步过"}


def _passwords():
    return bot().features.password.passwords


@bp.route("/password")
@admin_only
def password():
    pw = _passwords()
    c = console()
    st = pw.store.state()
    now = c.clock()
    prev = st.previous()
    history = [{"version": h.version, "at": when(h.at, zone()), "trigger": TRIGGERS.get(h.trigger, h.trigger), "by": h.by,
                "replaced": h.replaced} for h in pw.store.history(20)]
    return render_template(
        "console/password.html", st=st, sync_on=pw.sync_on,
        sync_state=SYNC_STATES.get(st.sync_state if pw.sync_on else "off", st.sync_state),
        previous=prev if prev and prev.expires > now else None,
        previous_until=pw.display_time(prev.expires) if prev else "", pending_at=when(st.current_at, zone()),
        last_ok=when(st.sync_last_ok_at, zone()), next_attempt=when(st.sync_next_at, zone()) if st.sync_state == "failing" else "-",
        history=history, min_length=pw.cfg.min_length)


@bp.route("/password/rotate", methods=["POST"])
@admin_only
def rotate():
    pw = _passwords()
    c = console()
    if request.form.get("confirm") != "yes":
        flash("请勾选“我确认要更换密码”。", "error")
        return redirect(url_for("console.password"))
    value = None
    if request.form.get("mode") == "typed":
        value = (request.form.get("value") or "").strip()
        problem = pw.check_value(value)
        if problem:
            flash(f"这个密码不能用：需要 {pw.cfg.min_length}-64 个字符，只能有字母、数字和 _ . ~ @ + = -", "error")
            return redirect(url_for("console.password"))
    rot, _password = pw.rotate("console", actor(), value)
    c.audit.record(actor(), "password.rotate", target=f"v{rot.version}",
                   detail="typed" if value else "generated", now=c.clock())
    flash(f"已更换为第 {rot.version} 版。" + ("等 NextChat 确认后用户才会看到新密码。" if pw.sync_on
                                        else "用户现在发“密码”就会收到新密码。"))
    return redirect(url_for("console.password"))


@bp.route("/users")
@admin_only
def users():
    return render_template("console/users.html", users=[
        {"name": u.name, "role": u.role, "created": when(u.created_at, zone()), "changed": when(u.password_changed_at, zone())}
        for u in console().users.all()], roles=ROLES, min_length=console().cfg.min_password_length)


@bp.route("/users/add", methods=["POST"])
@admin_only
def user_add():
    c = console()
    password = request.form.get("password") or ""
    if password != (request.form.get("confirm") or ""):
        flash("两次输入的密码不一样。", "error")
        return redirect(url_for("console.users"))
    try:
        user = c.users.add(request.form.get("name") or "", request.form.get("role") or "", password, now=c.clock())
    except UserError as exc:
        flash(_user_error(str(exc), c.cfg.min_password_length), "error")
        return redirect(url_for("console.users"))
    c.audit.record(actor(), "console.adduser", target=user.name, detail=f"role={user.role}", now=c.clock())
    flash(f"已添加 {user.name}（{user.role}）。")
    return redirect(url_for("console.users"))


@bp.route("/users/<name>/delete", methods=["POST"])
@admin_only
def user_delete(name: str):
    c = console()
    if name == g.user.name:
        flash("不能在这里删除自己的账号。", "error")
        return redirect(url_for("console.users"))
    try:
        removed = c.users.delete(name)
    except UserError:
        removed = False
    if removed:
        c.audit.record(actor(), "console.deluser", target=name, now=c.clock())
        flash(f"已删除 {name}，TA 的登录已全部退出。")
    else:
        flash("没有这个用户。", "error")
    return redirect(url_for("console.users"))


def _user_error(reason: str, min_length: int) -> str:
    if reason.startswith("用户名"):
        return "用户名需要 2-32 个字符：小写字母、数字和 _ . -"
    if reason.startswith("角色"):
        return "角色只能是 admin 或 support。"
    if "已存在" in reason:
        return "这个用户名已经有了。"
    return f"密码至少 {min_length} 个字符。"


@bp.route("/audit")
@admin_only
def audit():
    c = console()
    entries = [{"at": when(e.at, zone()), "actor": e.actor, "action": e.action, "target": e.target, "result": e.result,
                "detail": e.detail} for e in c.audit.recent(c.cfg.audit_limit)]
    return render_template("console/audit.html", entries=entries)
