"""Support's actions on tickets, shared by the ``#`` commands, the CLI and the console."""
from __future__ import annotations

import logging
import time
from datetime import tzinfo

from ... import metrics
from ...router import hash_openid
from ...stores.redis import REDIS_ERRORS
from .ids import normalize_id
from .intake import category_label, status_label
from .runtime import Runtime, format_time
from .store import STATUS_CLOSED

log = logging.getLogger(__name__)


def reply_ticket(rt: Runtime, ticket_id: str, text: str, by: str, source: str,
                 reopen: bool = False) -> tuple[str, str]:
    """Record a support reply and enqueue it for the follower; returns (status, canonical id).

    A closed ticket (the follower was told it is done) gets status ``closed`` and nothing is sent,
    unless ``reopen``: then it is open again and the reply goes out."""
    tid = normalize_id(ticket_id)
    res = rt.store.add_reply(tid, text.strip(), by, source, time.time(), reopen=reopen)
    if res.ok:
        metrics.TICKETS.labels("reply", "queued").inc()
        log.info("ticket reply queued ticket=%s n=%s", tid, res.value)
    if res.status != "dup":  # a retried command is not a second action
        _audit(rt, by, "ticket.reply", tid, res.status, f"reply {res.value}" if res.ok else "")
    return res.status, tid


def close_ticket(rt: Runtime, ticket_id: str, note: str, source: str, by: str = "cli") -> tuple[str, str]:
    tid = normalize_id(ticket_id)
    res = rt.store.close(tid, source, time.time(), note.strip())
    if res.ok:
        metrics.TICKETS.labels("close", "queued").inc()
        log.info("ticket closed ticket=%s", tid)
    if res.status != "dup":
        _audit(rt, by, "ticket.close", tid, res.status, note.strip()[:100])
    return res.status, tid


MAX_NOTE = 1000  # characters of one internal note


def note_ticket(rt: Runtime, ticket_id: str, text: str, by: str, source: str) -> tuple[str, str]:
    """Add support's internal note to a ticket (never sent to the follower); returns (status, canonical
    id): ok, missing or dup. Audited, with the note's start as the detail."""
    tid = normalize_id(ticket_id)
    body = text.strip()[:MAX_NOTE]
    res = rt.store.add_note(tid, body, by, source, time.time())
    if res.ok:
        log.info("ticket note added ticket=%s n=%s", tid, res.value)
    if res.status != "dup":
        _audit(rt, by, "ticket.note", tid, res.status, body[:100])
    return res.status, tid


def _audit(rt: Runtime, actor: str, action: str, target: str, result: str, detail: str) -> None:
    try:
        rt.services.audit.record(actor, action, target, result, detail)
    except REDIS_ERRORS:
        log.warning("audit record lost action=%s ticket=%s: redis unavailable", action, target)


def delivery_summary(states: dict[str, dict]) -> str:
    """``webhook:done wecom:pending(2) ...`` for the new-ticket job and any failed others."""
    parts = []
    for channel, st in sorted(states.items()):
        s = st.get("s", "?")
        a = st.get("a", 0)
        parts.append(f"{channel}:{s}" + (f"({a})" if s != "done" and a else ""))
    return " ".join(parts) or "-"


def render_show(rt: Runtime, rec: dict, texts) -> list[str]:
    tid = rec["id"]
    lines = [
        f"id: {tid}",
        f"status: {rec.get('status')}",
        f"category: {rec.get('category')} ({category_label(texts, rec.get('category', 'other'))})",
        f"created: {format_time(rec.get('created_at'), rt.zone)}",
        f"follower: {hash_openid(rec.get('openid', ''), rt.services.log_salt)}",
        f"order_no: {rec.get('order_no') or '-'}",
        f"paid_at: {rec.get('paid_at') or '-'}",
        f"amount: {rec.get('amount') or '-'}",
        f"description: {rec.get('description') or '-'}",
    ]
    if rec.get("told_id"):
        lines.append(f"told_id: {rec['told_id']} （暂存区导入的报告；粉丝收到的是这个工单号）")
    for n, shot in rt.store.screenshots(rec).items():
        where = shot.get("file") or shot.get("error") or "还没有取到"
        lines.append(f"screenshot {n}: {where}")
    for i, rep in enumerate(rt.store.replies(tid), 1):
        lines.append(f"reply {i} [{format_time(rep.get('at'), rt.zone)} {rep.get('by', '')}]: {rep.get('text', '')}")
    for i, note in enumerate(rt.store.notes(tid), 1):
        lines.append(f"note {i} [{format_time(note.get('at'), rt.zone)} {note.get('by', '')}]: {note.get('text', '')}")
    if rec.get("status") == STATUS_CLOSED:
        lines.append(f"closed: {format_time(rec.get('closed_at'), rt.zone)} {rec.get('close_note', '')}".rstrip())
    lines.append(f"deliveries: {delivery_summary(rt.store.deliveries(tid))}")
    return lines


def render_staff(rt: Runtime, rec: dict, texts) -> list[str]:
    """``#工单 ID`` for support on WeChat: in Chinese, without internal identifiers (config/texts.yaml)."""
    tid = rec["id"]

    def t(key: str, **kw) -> str:
        return texts.render(f"tickets.staff.detail.{key}", **kw)

    lines = [
        t("header", id=tid, status=status_label(texts, rec)),
        t("category", category=category_label(texts, rec.get("category", "other"))),
        t("created", created=format_time(rec.get("created_at"), rt.zone)),
        t("order", order_no=rec.get("order_no") or "-", paid_at=rec.get("paid_at") or "-",
          amount=rec.get("amount") or "-"),
        t("description", description=rec.get("description") or "-"),
    ]
    shots = rt.store.screenshots(rec)
    if shots:
        got = sum(1 for shot in shots.values() if shot.get("file"))
        lines.append(t("screenshots", count=len(shots), saved=got))
    for i, rep in enumerate(rt.store.replies(tid), 1):
        lines.append(t("reply", n=i, at=format_time(rep.get("at"), rt.zone), text=rep.get("text", "")))
    for note in rt.store.notes(tid):
        lines.append(t("note", at=format_time(note.get("at"), rt.zone), by=note.get("by", ""), text=note.get("text", "")))
    if rec.get("status") == STATUS_CLOSED:
        lines.append(t("closed", at=format_time(rec.get("closed_at"), rt.zone), note=rec.get("close_note") or "-"))
    if tid in rt.store.dead_ids():
        lines.append(t("undelivered"))
    return lines


def list_line(rec: dict, dead: set[str], zone: tzinfo) -> str:
    flag = " DEAD" if rec["id"] in dead else ""
    return (f"{rec['id']}  {rec.get('status', '?'):<7} {format_time(rec.get('created_at'), zone)}  "
            f"{rec.get('category', '-'):<20} order={rec.get('order_no') or '-'}{flag}")

