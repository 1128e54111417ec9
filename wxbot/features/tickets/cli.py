"""``wxbot tickets list|show|reply|note|close|retry|held|release``."""
from __future__ import annotations

import uuid

import click

from ...clitools import CliContext, redis_errors_exit
from ...stores import keys
from .ids import normalize_id
from .runtime import Runtime, format_time
from .support import MAX_NOTE, close_ticket, list_line, note_ticket, render_show, reply_ticket


def _runtime(ctx: click.Context) -> Runtime:
    return ctx.ensure_object(CliContext).features.tickets.rt


def _text_of(words: tuple[str, ...]) -> str:
    """The TEXT arguments as one message (a usage error when it is empty)."""
    body = " ".join(words).strip()
    if not body:
        raise click.UsageError("TEXT is empty")
    return body


def _exit_if_missing(status: str, tid: str) -> None:
    """A write on a ticket that does not exist: say so and exit 1."""
    if status == "missing":
        click.echo(f"wxbot: no ticket {tid}", err=True)
        raise SystemExit(1)


@click.group("tickets")
def cli() -> None:
    """Order-issue tickets: list, show, reply, note, close, retry, held, release."""


@cli.command("list")
@click.option("--status", "status", default="active", show_default=True,
              type=click.Choice(["active", "open", "replied", "closed", "dead", "all"]),
              help="active = open + replied; dead = with a dead-lettered delivery.")
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 10_000), help="Tickets per page.")
@click.option("--page", "page_no", default=1, show_default=True, type=click.IntRange(1), help="Which page (1 = newest).")
@click.pass_context
def list_cmd(ctx: click.Context, status: str, limit: int, page_no: int) -> None:
    """List tickets, newest first, one per line starting with its id (a page of an index, however many)."""
    rt = _runtime(ctx)
    store = rt.store
    offset = (page_no - 1) * limit
    with redis_errors_exit():
        store.ensure_indexes()
        if status == "dead":
            r = rt.services.redis
            records = store.many(r.zrevrange(keys.TICKETS_DEAD, offset, offset + limit - 1))
            total = r.zcard(keys.TICKETS_DEAD)
        elif status == "active":
            page = store.active(offset, limit)
            records, total = page.records, page.total
        else:
            page = store.page(status, offset=offset, limit=limit)
            records, total = page.records, page.total
        dead = rt.store.dead_among([rec["id"] for rec in records])
    if not records:
        if total and page_no > 1:
            click.echo(f"no tickets on page {page_no} ({total} {status}; {-(-total // limit)} page(s) of {limit})")
        else:
            click.echo("no tickets" + ("" if status == "all" else f" ({status}; `--status all` lists every ticket)"))
    for rec in records:
        click.echo(list_line(rec, dead, rt.zone))
    if records and offset + len(records) < total:
        click.echo(f"{offset + 1}-{offset + len(records)} of {total}; next: wxbot tickets list --status {status} "
                   f"--limit {limit} --page {page_no + 1}", err=True)


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
    body = _text_of(text)
    rt = _runtime(ctx)
    with redis_errors_exit():
        status, tid = reply_ticket(rt, ticket_id, body, "cli", "cli:" + uuid.uuid4().hex, reopen=reopen)
        closed_at = (rt.store.get(tid) or {}).get("closed_at") if status == "closed" else None
    _exit_if_missing(status, tid)
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
    _exit_if_missing(status, tid)
    click.echo(f"{tid}: already closed" if status == "already" else f"{tid}: closed; the follower will be told")


@cli.command("note")
@click.argument("ticket_id")
@click.argument("text", nargs=-1, required=True)
@click.pass_context
def note_cmd(ctx: click.Context, ticket_id: str, text: tuple[str, ...]) -> None:
    """Add an internal note to TICKET_ID (for support and admins; never sent to the follower)."""
    body = _text_of(text)
    if len(body) > MAX_NOTE:
        raise click.UsageError(f"TEXT is longer than {MAX_NOTE} characters")
    rt = _runtime(ctx)
    with redis_errors_exit():
        status, tid = note_ticket(rt, ticket_id, body, "cli", "cli:" + uuid.uuid4().hex)
    _exit_if_missing(status, tid)
    click.echo(f"{tid}: note added (not sent to the follower)")


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
