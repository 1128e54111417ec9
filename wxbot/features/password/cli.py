"""``wxbot password show|set|rotate|history``."""
from __future__ import annotations

import time
from typing import TYPE_CHECKING

import click

from ...clitools import CliContext, redis_errors_exit

if TYPE_CHECKING:
    from .rotation import Passwords
    from .store import Rotation


def _cli_passwords() -> Passwords:
    return click.get_current_context().ensure_object(CliContext).features.password.passwords

def _fmt(pw: Passwords, ts: float) -> str:
    return pw.display_time(ts) if ts else "-"


@click.group("password")
def cli() -> None:
    """查看、设置和更换公益版 NextChat 密码。"""


@cli.command("show")
def cli_show() -> None:
    """当前、待确认和上一个密码，版本，有效期，最近一次同步结果。"""
    pw = _cli_passwords()
    with redis_errors_exit():
        st = pw.store.state()
    now = time.time()
    if st.shown:
        click.echo(f"当前：    {st.shown.password}  （v{st.shown.version}，有效期至 "
                   f"{st.shown.valid_until_display or '下次更换'}）")
    else:
        click.echo("当前：    （还没有设置：粉丝会被告知稍后再试；请运行 `wxbot password rotate`）")
    if st.pending:
        click.echo(f"待确认：  {st.current}  （v{st.current_version}，等待 NextChat 确认）")
    prev = st.previous()
    if prev:
        state = f"{_fmt(pw, prev.expires)} 前仍可使用" if prev.expires > now else "已过期"
        click.echo(f"上一个：  {prev.password if prev.expires > now else '（未保留）'}  （v{prev.version}，{state}）")
    click.echo(f"版本：    {st.version}")
    if not pw.sync_on:
        click.echo("同步：    关闭（没有设置 WXBOT_PASSWORD_SYNC_URL）：更换后粉丝马上看到新密码")
    elif st.sync_state == "failing":
        click.echo(f"同步：    失败（已尝试 {st.sync_attempts} 次）：{st.sync_last_error}；"
                   f"下次尝试 {_fmt(pw, st.sync_next_at)}；上次成功 {_fmt(pw, st.sync_last_ok_at)}")
    elif st.pending:
        click.echo(f"同步：    等待确认（上次成功 {_fmt(pw, st.sync_last_ok_at)}）")
    else:
        click.echo(f"同步：    正常（上次成功 {_fmt(pw, st.sync_last_ok_at)}）" if st.sync_last_ok_at
                   else "同步：    还没有同步过")
    if pw.schedule.enabled:
        nxt = pw.schedule.next_after(now)
        click.echo(f"计划：    下次更换 {_fmt(pw, nxt or 0)}")


def _report_rotation(pw: Passwords, rot: Rotation, password: str) -> None:
    click.echo(f"版本 {rot.version}：{password}")
    if rot.replaced:
        click.echo(f"（替换了 NextChat 还没确认的 v{rot.replaced}）")
    if pw.sync_on:
        click.echo("NextChat 确认后粉丝才会看到（由 worker 同步；查看：`wxbot password show`）")
    else:
        click.echo("粉丝现在就能看到（同步关闭：没有设置 WXBOT_PASSWORD_SYNC_URL）")


@cli.command("set")
@click.argument("value", required=False)
def cli_set(value: str | None) -> None:
    """把密码设为 VALUE（不写时会提示输入，输入内容不显示）。"""
    pw = _cli_passwords()
    if value is None:
        value = click.prompt("新密码", hide_input=True, confirmation_prompt="再输入一次")
    problem = pw.check_value(value)
    if problem:
        raise click.BadParameter(problem, param_hint="VALUE")
    with redis_errors_exit():
        rot, password = pw.rotate("cli", "cli", value)
    _report_rotation(pw, rot, password)


@cli.command("rotate")
def cli_rotate() -> None:
    """自动生成并设置一个新密码。"""
    pw = _cli_passwords()
    with redis_errors_exit():
        rot, password = pw.rotate("cli", "cli")
    _report_rotation(pw, rot, password)


@cli.command("history")
@click.option("--limit", default=20, show_default=True, type=click.IntRange(1, 1000))
def cli_history(limit: int) -> None:
    """每个版本一行，最新的在前（只有 NextChat 仍然接受的密码才显示明文）。"""
    pw = _cli_passwords()
    with redis_errors_exit():
        st = pw.store.state()
        rows = pw.store.history(limit)
        confirmed = pw.store.confirmed_at([row.version for row in rows])
    now = time.time()
    live = {}
    if st.shown:
        live[st.shown.version] = (st.shown.password, "shown")
    if st.pending:
        live[st.current_version] = (st.current, "pending")
    for ret in st.retired:
        if ret.expires > now:
            live.setdefault(ret.version, (ret.password, f"previous，{_fmt(pw, ret.expires)} 前仍可使用"))
    if not rows:
        click.echo("还没有更换过密码")
    for row in rows:
        password, status = live.get(row.version, ("-", ""))
        if not status:
            if row.version in confirmed:
                status = f"已停用（{_fmt(pw, confirmed[row.version])} 确认）"
            elif st.shown and row.version < st.shown.version and pw.sync_on:
                status = "NextChat 确认前已被替换"
            else:
                status = "已停用"
        click.echo(f"v{row.version:<5} {_fmt(pw, row.at)}  {row.trigger:<8} {row.by:<18} {password:<12} {status}")
