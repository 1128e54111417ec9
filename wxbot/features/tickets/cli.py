"""``wxbot tickets list|show|reply|close|retry``."""
from __future__ import annotations

import uuid

import click

from ...clitools import CliContext, redis_errors_exit
from .store import STATUS_OPEN, STATUS_REPLIED, Runtime, format_time, normalize_id
from .support import close_ticket, list_line, render_show, reply_ticket


def _runtime(ctx: click.Context) -> Runtime:
    return ctx.ensure_object(CliContext).features.tickets.rt

@click.group("tickets")
def cli() -> None:
    """Order-issue tickets: list, show, reply, close, retry, held, release."""


@cli.command("list")
@click.option("--status", "status", default="active", show_default=True,
              type=click.Choice(["active", "open", "replied", "closed", "dead", "all"]),
              help="active = open + replied; dead = with a dead-lettered delivery.")
@click.option("--limit", default=50, show_default=True, type=int)
@click.pass_context
def list_cmd(ctx: click.Context, status: str, limit: int) -> None:
    """List tickets, newest first, one per line starting with its id."""
    rt = _runtime(ctx)
    with redis_errors_exit():
        dead = set(rt.store.dead_ids())
        if status == "dead":
            records = rt.store.many(sorted(dead, reverse=True))
        else:
            records = rt.store.recent(100000 if status != "all" else limit)
            if status == "active":
                records = [x for x in records if x.get("status") in (STATUS_OPEN, STATUS_REPLIED)]
            elif status != "all":
                records = [x for x in records if x.get("status") == status]
        if not records:
            click.echo("no tickets" + ("" if status == "all" else f" ({status}; `--status all` lists every ticket)"))
        for rec in records[:limit]:
            click.echo(list_line(rec, dead, rt.zone))


@cli.command("show")
@click.argument("ticket_id")
@click.pass_context
def show_cmd(ctx: click.Context, ticket_id: str) -> None:
    """Show one ticket: report, screenshots, replies and per-channel delivery state."""
    rt = _runtime(ctx)
    with redis_errors_exit():
        rec = rt.store.get(normalize_id(ticket_id))
        if rec is None:
            click.echo(f"wxbot: no ticket {normalize_id(ticket_id)}", err=True)
            raise SystemExit(1)
        for line in render_show(rt, rec, rt.services.texts.get()):
            click.echo(line)


@cli.command("reply")
@click.argument("ticket_id")
@click.argument("text", nargs=-1, required=True)
@click.option("--reopen", is_flag=True, help="Reopen a closed ticket to send the reply (else a closed one refuses).")
@click.pass_context
def reply_cmd(ctx: click.Context, ticket_id: str, text: tuple[str, ...], reopen: bool) -> None:
    """Send TEXT to the follower of TICKET_ID (the worker delivers it)."""
    body = " ".join(text).strip()
    if not body:
        raise click.UsageError("TEXT is empty")
    rt = _runtime(ctx)
    with redis_errors_exit():
        status, tid = reply_ticket(rt, ticket_id, body, "cli", "cli:" + uuid.uuid4().hex, reopen=reopen)
        closed_at = (rt.store.get(tid) or {}).get("closed_at") if status == "closed" else None
    if status == "missing":
        click.echo(f"wxbot: no ticket {tid}", err=True)
        raise SystemExit(1)
    if status == "closed":
        click.echo(f"wxbot: {tid} was closed on {format_time(closed_at, rt.zone)} and the follower was told it is done; "
                   f"nothing sent. To reopen it and send this reply: wxbot tickets reply --reopen {tid} …", err=True)
        raise SystemExit(1)
    click.echo(f"{tid}: reopened; reply queued for the follower" if reopen and status == "ok"
               else f"{tid}: reply queued for the follower")


@cli.command("close")
@click.argument("ticket_id")
@click.option("--note", default="", help="Shown to the follower with the closing message.")
@click.pass_context
def close_cmd(ctx: click.Context, ticket_id: str, note: str) -> None:
    """Close TICKET_ID and tell the follower."""
    rt = _runtime(ctx)
    with redis_errors_exit():
        status, tid = close_ticket(rt, ticket_id, note, "cli:" + uuid.uuid4().hex)
    if status == "missing":
        click.echo(f"wxbot: no ticket {tid}", err=True)
        raise SystemExit(1)
    click.echo(f"{tid}: already closed" if status == "already" else f"{tid}: closed; the follower will be told")


@cli.command("held")
@click.pass_context
def held_cmd(ctx: click.Context) -> None:
    """List tickets held back by the global hourly intake cap (not yet sent to support)."""
    rt = _runtime(ctx)
    with redis_errors_exit():
        ids = rt.store.held_ids()
        dead = set(rt.store.dead_ids())
        for rec in rt.store.many(ids):
            click.echo(list_line(rec, dead, rt.zone))
    click.echo(f"{len(ids)} held ticket(s)" + ("; send them on with `wxbot tickets release --all`" if ids else ""))


@cli.command("release")
@click.argument("ticket_ids", nargs=-1)
@click.option("--all", "all_", is_flag=True, help="Release every held ticket.")
@click.pass_context
def release_cmd(ctx: click.Context, ticket_ids: tuple[str, ...], all_: bool) -> None:
    """Send held tickets (the given ones, or --all) on to support."""
    if bool(ticket_ids) == all_:
        raise click.UsageError("give ticket ids or --all")
    rt = _runtime(ctx)
    with redis_errors_exit():
        ids = rt.store.held_ids() if all_ else [normalize_id(t) for t in ticket_ids]
        released = 0
        for tid in ids:
            if rt.store.release(tid):
                released += 1
                rt.services.audit.record("cli", "ticket.release", tid)
            else:
                click.echo(f"wxbot: {tid} is not held", err=True)
    click.echo(f"released {released} ticket(s)")
    if released != len(ids):
        raise SystemExit(1)


@cli.command("retry")
@click.argument("ticket_ids", nargs=-1)
@click.pass_context
def retry_cmd(ctx: click.Context, ticket_ids: tuple[str, ...]) -> None:
    """Re-queue dead-lettered deliveries (of the given tickets, or of all)."""
    rt = _runtime(ctx)
    with redis_errors_exit():
        ids = [normalize_id(t) for t in ticket_ids] or rt.store.dead_ids()
        total = 0
        for tid in ids:
            n = rt.store.requeue(tid)
            total += n
            if n:
                click.echo(f"{tid}: {n} job(s) re-queued")
    click.echo(f"re-queued {total} job(s) of {len(ids)} ticket(s)")
