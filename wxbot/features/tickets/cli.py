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
        raise click.UsageError("TEXT 为空")
    return body


def _exit_if_missing(status: str, tid: str) -> None:
    """A write on a ticket that does not exist: say so and exit 1."""
    if status == "missing":
        click.echo(f"wxbot: 没有工单 {tid}", err=True)
        raise SystemExit(1)


@click.group("tickets")
def cli() -> None:
    """订单问题工单：列出、查看、回复、备注、关闭、重新排队、暂缓的工单、放行。"""


@cli.command("list")
@click.option("--status", "status", default="active", show_default=True,
              type=click.Choice(["active", "open", "replied", "closed", "dead", "all"]),
              help="active = open + replied；dead = 有投递进入了死信队列。")
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 10_000), help="每页几张工单。")
@click.option("--page", "page_no", default=1, show_default=True, type=click.IntRange(1), help="第几页（1 = 最新）。")
@click.pass_context
def list_cmd(ctx: click.Context, status: str, limit: int, page_no: int) -> None:
    """列出工单，最新的在前，每张一行，工单号在最前（按索引分页，工单再多也可以）。"""
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
            click.echo(f"第 {page_no} 页没有工单（{status} 共 {total} 张；每页 {limit} 张，共 {-(-total // limit)} 页）")
        else:
            click.echo("没有工单" + ("" if status == "all" else f"（{status}；`--status all` 列出全部工单）"))
    for rec in records:
        click.echo(list_line(rec, dead, rt.zone))
    if records and offset + len(records) < total:
        click.echo(f"第 {offset + 1}-{offset + len(records)} 张，共 {total} 张；下一页：wxbot tickets list --status {status} "
                   f"--limit {limit} --page {page_no + 1}", err=True)


@cli.command("show")
@click.argument("ticket_id")
@click.pass_context
def show_cmd(ctx: click.Context, ticket_id: str) -> None:
    """查看一张工单：粉丝的报告、截图、回复和每个渠道的送达情况。"""
    rt = _runtime(ctx)
    with redis_errors_exit():
        rec = rt.store.get(normalize_id(ticket_id))
        if rec is None:
            click.echo(f"wxbot: 没有工单 {normalize_id(ticket_id)}", err=True)
            raise SystemExit(1)
        for line in render_show(rt, rec, rt.services.texts.get()):
            click.echo(line)


@cli.command("reply")
@click.argument("ticket_id")
@click.argument("text", nargs=-1, required=True)
@click.option("--reopen", is_flag=True, help="重新打开已关闭的工单并发送回复（不加时，已关闭的工单拒绝回复）。")
@click.pass_context
def reply_cmd(ctx: click.Context, ticket_id: str, text: tuple[str, ...], reopen: bool) -> None:
    """把 TEXT 回复给工单 TICKET_ID 的粉丝（由 worker 发送）。"""
    body = _text_of(text)
    rt = _runtime(ctx)
    with redis_errors_exit():
        status, tid = reply_ticket(rt, ticket_id, body, "cli", "cli:" + uuid.uuid4().hex, reopen=reopen)
        closed_at = (rt.store.get(tid) or {}).get("closed_at") if status == "closed" else None
    _exit_if_missing(status, tid)
    if status == "closed":
        click.echo(f"wxbot: {tid} 已于 {format_time(closed_at, rt.zone)} 关闭，粉丝已被告知问题处理完了；"
                   f"没有发送。要重新打开并发送这条回复：wxbot tickets reply --reopen {tid} …", err=True)
        raise SystemExit(1)
    click.echo(f"{tid}：已重新打开，回复已排队等待发给粉丝" if reopen and status == "ok"
               else f"{tid}：回复已排队等待发给粉丝")


@cli.command("close")
@click.argument("ticket_id")
@click.option("--note", default="", help="随关闭通知一起发给粉丝的说明。")
@click.pass_context
def close_cmd(ctx: click.Context, ticket_id: str, note: str) -> None:
    """关闭工单 TICKET_ID，并通知粉丝。"""
    rt = _runtime(ctx)
    with redis_errors_exit():
        status, tid = close_ticket(rt, ticket_id, note, "cli:" + uuid.uuid4().hex)
    _exit_if_missing(status, tid)
    click.echo(f"{tid}：已经是关闭的" if status == "already" else f"{tid}：已关闭，会通知粉丝")


@cli.command("note")
@click.argument("ticket_id")
@click.argument("text", nargs=-1, required=True)
@click.pass_context
def note_cmd(ctx: click.Context, ticket_id: str, text: tuple[str, ...]) -> None:
    """给工单 TICKET_ID 加一条内部备注（只有客服和管理员能看到，绝不会发给粉丝）。"""
    body = _text_of(text)
    if len(body) > MAX_NOTE:
        raise click.UsageError(f"TEXT 超过 {MAX_NOTE} 个字符")
    rt = _runtime(ctx)
    with redis_errors_exit():
        status, tid = note_ticket(rt, ticket_id, body, "cli", "cli:" + uuid.uuid4().hex)
    _exit_if_missing(status, tid)
    click.echo(f"{tid}：已添加内部备注（不会发给粉丝）")


@cli.command("held")
@click.pass_context
def held_cmd(ctx: click.Context) -> None:
    """列出因全局每小时上限而暂缓的工单（还没有发给客服）。"""
    rt = _runtime(ctx)
    with redis_errors_exit():
        ids = rt.store.held_ids()
        dead = set(rt.store.dead_ids())
        for rec in rt.store.many(ids):
            click.echo(list_line(rec, dead, rt.zone))
    click.echo(f"暂缓的工单：{len(ids)} 张" + ("；用 `wxbot tickets release --all` 发给客服" if ids else ""))


@cli.command("release")
@click.argument("ticket_ids", nargs=-1)
@click.option("--all", "all_", is_flag=True, help="放行全部暂缓的工单。")
@click.pass_context
def release_cmd(ctx: click.Context, ticket_ids: tuple[str, ...], all_: bool) -> None:
    """把暂缓的工单（指定的几张，或 --all 全部）发给客服。"""
    if bool(ticket_ids) == all_:
        raise click.UsageError("请给出工单号，或者加 --all")
    rt = _runtime(ctx)
    with redis_errors_exit():
        ids = rt.store.held_ids() if all_ else [normalize_id(t) for t in ticket_ids]
        released = 0
        for tid in ids:
            if rt.store.release(tid):
                released += 1
                rt.services.audit.record("cli", "ticket.release", tid)
            else:
                click.echo(f"wxbot: {tid} 不是暂缓的工单", err=True)
    click.echo(f"已放行 {released} 张工单")
    if released != len(ids):
        raise SystemExit(1)


@cli.command("retry")
@click.argument("ticket_ids", nargs=-1)
@click.pass_context
def retry_cmd(ctx: click.Context, ticket_ids: tuple[str, ...]) -> None:
    """把进入死信队列的投递重新排队（指定的工单，或者全部）。"""
    rt = _runtime(ctx)
    with redis_errors_exit():
        ids = [normalize_id(t) for t in ticket_ids] or rt.store.dead_ids()
        total = 0
        for tid in ids:
            n = rt.store.requeue(tid)
            total += n
            if n:
                click.echo(f"{tid}：{n} 个投递任务已重新排队")
    click.echo(f"已重新排队 {len(ids)} 张工单的 {total} 个投递任务")
