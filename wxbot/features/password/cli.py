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
    """Show, set and rotate the free NextChat password."""


@cli.command("show")
def cli_show() -> None:
    """Current, pending and previous password, version, valid until, last sync result."""
    pw = _cli_passwords()
    with redis_errors_exit():
        st = pw.store.state()
    now = time.time()
    if st.shown:
        click.echo(f"current:  {st.shown.password}  (v{st.shown.version}, valid until "
                   f"{st.shown.valid_until_display or 'next rotation'})")
    else:
        click.echo("current:  (none set: followers are asked to try later; run `wxbot password rotate`)")
    if st.pending:
        click.echo(f"pending:  {st.current}  (v{st.current_version}, waiting for NextChat to confirm)")
    prev = st.previous()
    if prev:
        state = f"accepted until {_fmt(pw, prev.expires)}" if prev.expires > now else "expired"
        click.echo(f"previous: {prev.password if prev.expires > now else '(not kept)'}  (v{prev.version}, {state})")
    click.echo(f"version:  {st.version}")
    if not pw.sync_on:
        click.echo("sync:     off (WXBOT_PASSWORD_SYNC_URL not set): rotations are shown at once")
    elif st.sync_state == "failing":
        click.echo(f"sync:     FAILING after {st.sync_attempts} attempt(s): {st.sync_last_error}; "
                   f"next attempt {_fmt(pw, st.sync_next_at)}; last ok {_fmt(pw, st.sync_last_ok_at)}")
    elif st.pending:
        click.echo(f"sync:     pending (last ok {_fmt(pw, st.sync_last_ok_at)})")
    else:
        click.echo(f"sync:     ok (last ok {_fmt(pw, st.sync_last_ok_at)})" if st.sync_last_ok_at
                   else "sync:     not synced yet")
    if pw.schedule.enabled:
        nxt = pw.schedule.next_after(now)
        click.echo(f"schedule: next rotation {_fmt(pw, nxt or 0)}")


def _report_rotation(pw: Passwords, rot: Rotation, password: str) -> None:
    click.echo(f"version {rot.version}: {password}")
    if rot.replaced:
        click.echo(f"(replaces v{rot.replaced}, which NextChat had not confirmed yet)")
    if pw.sync_on:
        click.echo("followers see it once NextChat confirms (the worker syncs it; `wxbot password show`)")
    else:
        click.echo("followers see it now (sync off: WXBOT_PASSWORD_SYNC_URL not set)")


@cli.command("set")
@click.argument("value", required=False)
def cli_set(value: str | None) -> None:
    """Set the password to VALUE (asked for, hidden, when omitted)."""
    pw = _cli_passwords()
    if value is None:
        value = click.prompt("new password", hide_input=True, confirmation_prompt=True)
    problem = pw.check_value(value)
    if problem:
        raise click.BadParameter(problem, param_hint="VALUE")
    with redis_errors_exit():
        rot, password = pw.rotate("cli", "cli", value)
    _report_rotation(pw, rot, password)


@cli.command("rotate")
def cli_rotate() -> None:
    """Generate and set a new password."""
    pw = _cli_passwords()
    with redis_errors_exit():
        rot, password = pw.rotate("cli", "cli")
    _report_rotation(pw, rot, password)


@cli.command("history")
@click.option("--limit", default=20, show_default=True, type=click.IntRange(1, 1000))
def cli_history(limit: int) -> None:
    """One line per version, newest first (plaintext only for passwords NextChat still accepts)."""
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
            live.setdefault(ret.version, (ret.password, f"previous, accepted until {_fmt(pw, ret.expires)}"))
    if not rows:
        click.echo("no rotations yet")
    for row in rows:
        password, status = live.get(row.version, ("-", ""))
        if not status:
            if row.version in confirmed:
                status = f"retired (confirmed {_fmt(pw, confirmed[row.version])})"
            elif st.shown and row.version < st.shown.version and pw.sync_on:
                status = "superseded before NextChat confirmed"
            else:
                status = "retired"
        click.echo(f"v{row.version:<5} {_fmt(pw, row.at)}  {row.trigger:<8} {row.by:<18} {password:<12} {status}")
