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
            raise click.UsageError("--password-stdin: no password on standard input")
        return value
    return click.prompt("password", hide_input=True, confirmation_prompt="repeat password")


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
    """Console users: add, change a password, delete, list."""


@cli.command("adduser")
@click.argument("name")
@click.option("--role", type=click.Choice(ROLES), required=True, help="admin: everything; support: tickets.")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input (scripts).")
def cli_adduser(name: str, role: str, password_stdin: bool) -> None:
    """Add a console user (the password is asked for, hidden)."""
    users, cli_ctx = _users()
    password = _read_password(password_stdin)
    with redis_errors_exit():
        with _user_errors():
            user = users.add(name, role, password)
        _audit(cli_ctx, "console.adduser", user.name, f"role={role}")
    click.echo(f"added {user.name} ({user.role}); sign in at /console/login")


@cli.command("passwd")
@click.argument("name")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input (scripts).")
def cli_passwd(name: str, password_stdin: bool) -> None:
    """Set a console user's password; their sessions end everywhere."""
    users, cli_ctx = _users()
    password = _read_password(password_stdin)
    with redis_errors_exit():
        with _user_errors():
            user = users.set_password(name, password)
        _audit(cli_ctx, "console.passwd", user.name)
    click.echo(f"password of {user.name} changed; their sessions have ended")


@cli.command("deluser")
@click.argument("name")
def cli_deluser(name: str) -> None:
    """Delete a console user; their sessions end everywhere."""
    users, cli_ctx = _users()
    with redis_errors_exit():
        with _user_errors():
            removed = users.delete(name)
        if not removed:
            raise click.ClickException(f"no user {name}")
        _audit(cli_ctx, "console.deluser", name)
    click.echo(f"deleted {name}; their sessions have ended")


@cli.command("users")
def cli_users() -> None:
    """List console users (name, role, added, password changed)."""
    users, cli_ctx = _users()
    with redis_errors_exit():
        rows = users.all()
    if not rows:
        click.echo("no console users yet: wxbot console adduser NAME --role admin")
        return
    zone = cli_ctx.services.bot.zone
    for u in rows:
        click.echo(f"{u.name:<20} {u.role:<8} added {when(u.created_at, zone)}  password changed {when(u.password_changed_at, zone)}")
