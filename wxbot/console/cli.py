"""``wxbot console adduser|passwd|deluser|users``: the console's users, from the server's shell."""
from __future__ import annotations

import contextlib
import sys
from typing import Iterator

import click

from ..audit import AuditLog
from ..clitools import CliContext, redis_errors_exit
from .labels import when
from .users import ROLES, ConsoleUsers, UserError


def _users() -> tuple[ConsoleUsers, CliContext]:
    cli_ctx = click.get_current_context().ensure_object(CliContext)
    services = cli_ctx.services
    cfg = services.internals.console
    return ConsoleUsers(services.redis, cfg.min_password_length, cfg.hash_profile), cli_ctx


def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        value = sys.stdin.readline().rstrip("\r\n")
        if not value:
            raise click.UsageError("--password-stdin：标准输入里没有密码")
        return value
    return click.prompt("密码", hide_input=True, confirmation_prompt="再输入一次")


def _audit(cli_ctx: CliContext, action: str, target: str, detail: str = "") -> None:
    AuditLog(cli_ctx.services.redis).record("cli", action, target=target, detail=detail)


@contextlib.contextmanager
def _user_errors() -> Iterator[None]:
    """A refused change of a console user (UserError) is the command's one-line error."""
    try:
        yield
    except UserError as exc:
        raise click.ClickException(str(exc)) from None


@click.group("console")
def cli() -> None:
    """网页控制台的账号：添加、改密码、删除、列出。"""


@cli.command("adduser")
@click.argument("name")
@click.option("--role", type=click.Choice(ROLES), required=True, help="admin：全部页面；support：工单。")
@click.option("--password-stdin", is_flag=True, help="从标准输入读取密码（用于脚本）。")
def cli_adduser(name: str, role: str, password_stdin: bool) -> None:
    """添加一个控制台账号（提示输入密码，输入内容不显示）。"""
    users, cli_ctx = _users()
    password = _read_password(password_stdin)
    with redis_errors_exit():
        with _user_errors():
            user = users.add(name, role, password)
        _audit(cli_ctx, "console.adduser", user.name, f"role={role}")
    click.echo(f"已添加 {user.name}（{user.role}）；在 /console/login 登录")


@cli.command("passwd")
@click.argument("name")
@click.option("--password-stdin", is_flag=True, help="从标准输入读取密码（用于脚本）。")
def cli_passwd(name: str, password_stdin: bool) -> None:
    """设置控制台账号的密码；这个账号在所有地方的登录都会失效。"""
    users, cli_ctx = _users()
    password = _read_password(password_stdin)
    with redis_errors_exit():
        with _user_errors():
            user = users.set_password(name, password)
        _audit(cli_ctx, "console.passwd", user.name)
    click.echo(f"已修改 {user.name} 的密码；这个账号的所有登录都已失效")


@cli.command("deluser")
@click.argument("name")
def cli_deluser(name: str) -> None:
    """删除控制台账号；这个账号在所有地方的登录都会失效。"""
    users, cli_ctx = _users()
    with redis_errors_exit():
        with _user_errors():
            removed = users.delete(name)
        if not removed:
            raise click.ClickException(f"没有账号 {name}")
        _audit(cli_ctx, "console.deluser", name)
    click.echo(f"已删除 {name}；这个账号的所有登录都已失效")


@cli.command("users")
def cli_users() -> None:
    """列出控制台账号（名称、角色、添加时间、改密码时间）。"""
    users, cli_ctx = _users()
    with redis_errors_exit():
        rows = users.all()
    if not rows:
        click.echo("还没有控制台账号：wxbot console adduser NAME --role admin")
        return
    zone = cli_ctx.services.bot.zone
    for u in rows:
        click.echo(f"{u.name:<20} {u.role:<8} 添加于 {when(u.created_at, zone)}  改密码于 {when(u.password_changed_at, zone)}")
