"""The follower's side of tickets: the intake dialogue and status (what a message says about an
order is ``understanding.py``).

Intake: an order-problem message (text or voice: paid but no key, expired after paying, charged twice,
refund, top-up not arrived, "订单问题") starts a short dialogue whose state lives at
``keys.dialog(openid)`` (JSON, TTL = ``tickets.dialog_timeout``). It asks for what is missing (order
number, payment time and amount, a screenshot), accepts them in any order or all at once, and
understands "取消" and "提交". As soon as the report has an order number it becomes a ticket (so a
follower who walks away loses nothing); a screenshot sent shortly afterwards is attached to it.

Creating a ticket is one Lua script (``store.TicketStore.create``) keyed by the message's dedupe id, so
WeChat's retries and concurrent duplicates create exactly one. If Redis is unreachable the report is
spooled to a local file and the follower is told it was received; the worker imports it later.
"""
from __future__ import annotations

import hashlib
import json
import logging
import time
from typing import TYPE_CHECKING, Any

from ... import metrics
from ...alerts import alert
from ...router import Ctx, hash_openid
from ...stores import keys
from ...stores.redis import REDIS_ERRORS
from ...wechat.protocol import Message
from .ids import ID_ALPHABET, new_ticket_id
from .runtime import Runtime, format_time
from .store import STATUS_CLOSED, STATUS_OPEN, STATUS_REPLIED
from .understanding import bare, classify, extract, mask_secrets

if TYPE_CHECKING:
    from ...services import Services

log = logging.getLogger(__name__)

def derived_id(services: "Services", source: str, now: float) -> str:
    """The ticket id for a message: derived from its dedupe id, so every retry names the same ticket
    even when Redis is down (the store draws a fresh id on the rare collision)."""
    digest = hashlib.blake2b(source.encode(), key=services.log_salt[:32], digest_size=8).digest()
    n = int.from_bytes(digest, "big")
    chars = []
    for _ in range(4):
        n, i = divmod(n, len(ID_ALPHABET))
        chars.append(ID_ALPHABET[i])
    return new_ticket_id(now, services.bot.zone)[:7] + "".join(chars)


def category_label(ctx_or_texts, cat: str) -> str:
    texts = ctx_or_texts
    key = f"tickets.categories.{cat}"
    return texts.render(key) if key in texts else texts.render("tickets.categories.other")



# -- intake ---------------------------------------------------------------------------------------

def dialog_state(ctx: Ctx) -> dict | None:
    if not ctx.dialog:
        return None
    try:
        state = json.loads(ctx.dialog)
    except ValueError:
        return None
    return state if isinstance(state, dict) and state.get("f") == "tickets" else None


def _missing(ctx: Ctx, state: dict, nshots: int = 0) -> str:
    lines = []
    if not state.get("order_no"):
        lines.append(ctx.text("tickets.need.order"))
    if not state.get("paid_at"):
        lines.append(ctx.text("tickets.need.paid_at"))
    if not state.get("amount"):
        lines.append(ctx.text("tickets.need.amount"))
    if not nshots:
        lines.append(ctx.text("tickets.need.screenshot"))
    return "\n".join(lines)


def _merge(state: dict, text: str, limit: int) -> None:
    masked = mask_secrets(text.strip()[: limit + 100])[: limit]
    found = extract(masked)
    for name in ("order_no", "paid_at", "amount"):
        value = getattr(found, name)
        if value and not state.get(name):
            state[name] = value
    if masked:
        desc = state.get("desc", "")
        desc = f"{desc}\n{masked}" if desc else masked
        state["desc"] = desc[:limit]


def _shot(msg: Message) -> dict:
    return {"pic_url": msg.pic_url, "media_id": msg.media_id, "msg": msg.dedupe_id, "at": int(time.time())}


def _attach_state(ticket_id: str) -> str:
    """The dialogue after a ticket was created (the create script ends it when screenshots are full)."""
    return json.dumps({"f": "tickets", "st": "attach", "id": ticket_id}, ensure_ascii=False)


def _spool(rt: Runtime, ctx: Ctx, msg: Message, state: dict) -> str:
    now = ctx.now
    tid = derived_id(rt.services, msg.dedupe_id, now)
    if msg.dedupe_id in rt.spooled:  # WeChat's retry of a report this process already spooled
        return ctx.text("tickets.spooled", id=tid)
    record = {"source": msg.dedupe_id, "id": tid, "openid": msg.from_user, "created_at": now,
              "fields": _fields(state)}
    try:
        rt.spool.append(record)
    except OSError:
        log.exception("ticket spool append failed; follower told to contact support directly")
        metrics.TICKETS.labels("intake", "lost").inc()
        return ctx.text("errors.busy")
    rt.spooled[msg.dedupe_id] = None
    while len(rt.spooled) > 1024:
        rt.spooled.popitem(last=False)
    metrics.TICKETS.labels("intake", "spooled").inc()
    log.warning("ticket spooled (redis unavailable) ticket=%s user=%s", tid,
                hash_openid(msg.from_user, rt.services.log_salt))
    return ctx.text("tickets.spooled", id=tid)


def _fields(state: dict) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "category": state.get("cat") or "other",
        "order_no": state.get("order_no", ""),
        "paid_at": state.get("paid_at", ""),
        "amount": state.get("amount", ""),
        "description": state.get("desc", ""),
        # screenshots of the dialogue are added by the create script (keys.dialog_shots);
        # shots0 = those delivered with the ticket, later ones are jobs of their own
        "nshots": 0,
        "shots0": 0,
    }
    return fields


def _create(rt: Runtime, ctx: Ctx, msg: Message, state: dict) -> str:
    """Turn the report (and the screenshots collected for it) into a ticket, or spool it when Redis fails."""
    tid = derived_id(rt.services, msg.dedupe_id, ctx.now)
    try:
        res = rt.store.create(tid, msg.from_user, msg.dedupe_id, _fields(state), ctx.now,
                              dialog_after=_attach_state(tid), take_shots=True, max_shots=rt.cfg.max_screenshots)
    except REDIS_ERRORS as exc:
        log.warning("ticket create failed: redis unavailable (%s); spooling", exc.__class__.__name__)
        ctx.redis_failed()
        return _spool(rt, ctx, msg, state)
    shots = res.count
    if res.status in ("limit_open", "limit_rate"):
        rt.store.end_dialog(msg.from_user)
        metrics.RATE_LIMITED.labels("tickets").inc()
        key = "tickets.limit_open" if res.status == "limit_open" else "tickets.limit_rate"
        return ctx.text(key, count=res.value)
    if res.status not in ("ok", "dup"):
        log.error("ticket create refused status=%s", res.status)
        return ctx.text("errors.internal")
    tid = res.value
    if res.held == "first":  # one alert per flood (and per alerts.cooldown)
        alert(rt.services, "tickets_held", "intake", ctx.text("alerts.tickets_held", limit=rt.cfg.max_tickets_per_hour))
    if res.held:
        metrics.TICKETS.labels("intake", "held").inc()
        log.warning("ticket held back (global hourly intake cap %d) ticket=%s", rt.cfg.max_tickets_per_hour, res.value)
    if res.ok:  # "dup": WeChat's retry of a message that already made this ticket
        metrics.TICKETS.labels("intake", "created").inc()
        log.info("ticket created ticket=%s user=%s category=%s shots=%d", tid,
                 hash_openid(msg.from_user, rt.services.log_salt), state.get("cat"), shots)
    reply = ctx.text("tickets.created", id=tid)
    if not shots:
        reply += "\n" + ctx.text("tickets.attach_hint", minutes=max(1, rt.cfg.dialog_timeout // 60))
    return reply


def start_intake(rt: Runtime, msg: Message, ctx: Ctx) -> str:
    """Start (or, with an order number, finish at once) an order-problem report. Also the FAQ's handler for ``route: tickets`` entries."""
    current = dialog_state(ctx)
    if current is not None and current.get("st") == "collect":  # already reporting: add to that report
        return continue_intake(rt, msg, ctx)
    text = msg.text or ""
    state: dict[str, Any] = {"f": "tickets", "st": "collect", "cat": classify(text, rt.cfg) or "other",
                             "t0": int(ctx.now), "q": int(ctx.now)}
    _merge(state, text, rt.internals.max_description_chars)
    if not ctx.redis_ok:
        return _spool(rt, ctx, msg, state)
    try:
        open_, rate = rt.store.counts_of(msg.from_user)
        if open_ >= rt.cfg.max_open_per_follower:
            metrics.RATE_LIMITED.labels("tickets").inc()
            return ctx.text("tickets.limit_open", count=open_)
        if rate >= rt.cfg.max_reports_per_hour:
            metrics.RATE_LIMITED.labels("tickets").inc()
            return ctx.text("tickets.limit_rate", count=rate)
        if state.get("order_no"):
            return _create(rt, ctx, msg, state)
        ctx.services.redis.set(keys.dialog(msg.from_user), json.dumps(state, ensure_ascii=False),
                               ex=rt.cfg.dialog_timeout)
    except REDIS_ERRORS as exc:
        log.warning("ticket intake: redis unavailable (%s); spooling", exc.__class__.__name__)
        ctx.redis_failed()
        return _spool(rt, ctx, msg, state)
    metrics.TICKETS.labels("intake", "dialog").inc()
    if state["cat"] == "other":  # "订单问题（订单问题）" would say it twice
        return ctx.text("tickets.ask_general", missing=_missing(ctx, state))
    return ctx.text("tickets.ask", category=category_label(ctx.texts, state["cat"]), missing=_missing(ctx, state))


def _attach_to(rt: Runtime, ctx: Ctx, msg: Message, tid: str, dialog_after: str) -> str:
    res = rt.store.add_screenshot(tid, msg.dedupe_id, _shot(msg), ctx.now, rt.cfg.max_screenshots,
                                  openid=msg.from_user, dialog_after=dialog_after)
    if res.status in ("ok", "dup"):
        if res.ok:  # not for a retry of the same image
            metrics.TICKETS.labels("intake", "screenshot").inc()
        return ctx.text("tickets.attached", id=tid, count=res.value)
    rt.store.end_dialog(msg.from_user)
    if res.status == "limit":
        return ctx.text("tickets.attach_full", id=tid)
    return ctx.text("media.image")


def _collect_image(rt: Runtime, ctx: Ctx, msg: Message, state: dict) -> str:
    """A screenshot while the report is collected: appended to the dialogue's own list (atomic, so
    images sent together are all kept), or attached to the ticket a concurrent message created."""
    res = rt.store.add_dialog_shot(msg.from_user, msg.dedupe_id, _shot(msg), rt.cfg.max_screenshots)
    if res.status == "attach" and res.value:
        return _attach_to(rt, ctx, msg, res.value, "")
    if res.status == "gone":
        return ctx.text("media.image")
    count = int(res.value or 0)
    if res.status == "full":
        reply = ctx.text("tickets.shots_full")
    else:
        if res.ok:
            metrics.TICKETS.labels("intake", "dialog_screenshot").inc()
        reply = ctx.text("tickets.got_image", count=count)
    return f"{reply}\n{ctx.text('tickets.got', missing=_missing(ctx, state, count))}"


def continue_intake(rt: Runtime, msg: Message, ctx: Ctx) -> str:
    state = dialog_state(ctx)
    assert state is not None
    if state.get("st") == "attach":
        return _attach_to(rt, ctx, msg, state.get("id", ""), json.dumps(state, ensure_ascii=False))
    if msg.type == "image":
        return _collect_image(rt, ctx, msg, state)

    text = msg.text
    if not text.strip():
        return ctx.text("media.voice_unrecognized")
    word = bare(text)
    if word in {bare(w) for w in rt.cfg.cancel_words}:
        rt.store.end_dialog(msg.from_user)
        metrics.TICKETS.labels("intake", "cancelled").inc()
        return ctx.text("tickets.cancelled")
    submit = word in {bare(w) for w in rt.cfg.submit_words}
    expected = ctx.dialog or ""
    for _ in range(4):  # compare-and-set against concurrent messages of the same follower
        if not submit:
            _merge(state, text, rt.internals.max_description_chars)
            if state.get("cat") == "other":
                state["cat"] = classify(text, rt.cfg) or "other"
        if submit or state.get("order_no"):
            return _create(rt, ctx, msg, state)
        state["q"] = int(ctx.now)
        res = rt.store.save_dialog(msg.from_user, json.dumps(state, ensure_ascii=False), expected)
        if res.ok:
            return ctx.text("tickets.got", missing=_missing(ctx, state, int(res.value or 0)))
        expected = res.value
        try:
            current = json.loads(expected) if expected else None
        except ValueError:
            current = None
        if not isinstance(current, dict) or current.get("f") != "tickets":
            return ctx.text("tickets.dialog_over")
        if current.get("st") != "collect":  # a concurrent message made the ticket meanwhile
            return ctx.text("tickets.noted_late", id=current.get("id", ""))
        state = current
    return ctx.text("errors.busy")


def follower_status(rt: Runtime, msg: Message, ctx: Ctx) -> str:
    if not ctx.redis_ok:  # the breaker is open: answer now rather than wait for a socket timeout
        return ctx.text("errors.busy")
    records = rt.store.of_follower(msg.from_user, rt.internals.status_limit)
    if not records:
        return ctx.text("tickets.status.none")
    lines = [ctx.text("tickets.status.header")]
    for rec in records:
        lines.append(ctx.text("tickets.status.line", id=rec["id"], status=status_label(ctx.texts, rec),
                              created=format_time(rec.get("created_at"), rt.zone),
                              category=category_label(ctx.texts, rec.get("category", "other"))))
        replies = rt.store.replies(rec["id"]) if rec.get("status") in (STATUS_REPLIED, STATUS_CLOSED) else []
        if replies:
            lines.append(ctx.text("tickets.status.reply_line", text=_clip(replies[-1].get("text", ""), 60)))
        if rec.get("status") == STATUS_CLOSED:
            lines.append(ctx.text("tickets.status.close_line", note=_clip(rec.get("close_note") or "-", 60)))
    if all(rec.get("status") == STATUS_CLOSED for rec in records):
        lines.append(ctx.text("tickets.status.footer_closed"))
    else:
        lines.append(ctx.text("tickets.status.footer"))
    return "\n".join(lines)


def status_label(texts, rec: dict) -> str:
    status = rec.get("status", STATUS_OPEN)
    key = f"tickets.status_names.{status}"
    return texts.render(key) if key in texts else status


def _clip(text: str, n: int) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"


