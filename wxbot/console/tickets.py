"""The tickets pages: the list (filters, paging that costs the page), the poll for new tickets, one
ticket with its screenshots, deliveries and internal notes, and support's actions on it."""
from __future__ import annotations

import re
import uuid

from flask import Response, abort, flash, g, jsonify, redirect, render_template, request, url_for

from ..features import tickets as tf
from ..stores import keys
from .labels import channel_label, job_label, state_label, when
from .web import actor, bot, bp, console, error_page, zone

NONCE_RE = re.compile(r"^[0-9a-f]{32}$")
AGES = {"1": 86400, "7": 7 * 86400, "30": 30 * 86400}
FILTER_STATUSES = ("open", "replied", "closed", "all", "dead")
MAX_REPLY = 600  # characters; WeChat's customer-service text allows about 2,000 bytes
IMAGE_TYPES = {b"\xff\xd8\xff": "image/jpeg", b"\x89PNG\r\n\x1a\n": "image/png", b"GIF87a": "image/gif",
               b"GIF89a": "image/gif"}


def _rt():
    return bot().features.tickets.rt


def _texts():
    return bot().services.texts.get()


def categories(texts) -> list[tuple[str, str]]:
    prefix = "tickets.categories."
    return [(k[len(prefix):], texts.get(k)) for k in texts.keys() if k.startswith(prefix)]


def row(rec: dict, texts, dead: set[str]) -> dict:
    desc = rec.get("description") or ""
    return {"id": rec["id"], "status": rec.get("status", ""), "status_label": tf.status_label(texts, rec),
            "category": tf.category_label(texts, rec.get("category") or "other"),
            "order_no": rec.get("order_no") or "-", "amount": rec.get("amount") or "-",
            "created": when(rec.get("created_at"), zone()), "created_at": float(rec.get("created_at") or 0),
            "description": desc if len(desc) <= 60 else desc[:59] + "…", "shots": int(rec.get("nshots") or 0),
            "dead": rec["id"] in dead, "held": console().held.is_held(rec),
            "url": url_for("console.ticket", tid=rec["id"])}


def _newest(r) -> float:
    top = r.zrevrange(keys.TICKETS_ALL, 0, 0, withscores=True)
    return float(top[0][1]) if top else 0.0


@bp.route("/tickets")
def tickets():
    c = console()
    rt = _rt()
    store = rt.store
    texts = _texts()
    store.ensure_indexes()
    status = request.args.get("status", "open")
    if status not in FILTER_STATUSES:
        status = "open"
    cats = categories(texts)
    category = request.args.get("category", "")
    if category not in {k for k, _ in cats}:
        category = ""
    age = request.args.get("age", "")
    if age not in AGES:
        age = ""
    q = tf.normalize_id(request.args.get("q", ""))[:64]
    held_only = request.args.get("held") == "1"
    try:
        page_no = max(1, min(10_000, int(request.args.get("page", "1"))))
    except ValueError:
        page_no = 1
    size = c.cfg.page_size
    now = c.clock()
    if q:
        records = store.by_order(q, size)
        if tf.looks_like_id(q):
            rec = store.get(q)
            if rec is not None and all(x["id"] != rec["id"] for x in records):
                records.insert(0, rec)
        total = len(records)
    elif held_only:
        ids = rt.services.redis.zrevrange(keys.TICKETS_HELD, (page_no - 1) * size, page_no * size - 1)
        records = store.many(ids)
        total = rt.services.redis.zcard(keys.TICKETS_HELD)
    elif status == "dead":
        ids = rt.services.redis.zrevrange(keys.TICKETS_DEAD, (page_no - 1) * size, page_no * size - 1)
        records = store.many(ids)
        total = rt.services.redis.zcard(keys.TICKETS_DEAD)
    else:
        page = store.page("all" if status == "all" else status, category, now - AGES[age] if age else None,
                          (page_no - 1) * size, size)
        records, total = page.records, page.total
    dead = rt.store.dead_among([r["id"] for r in records])
    rows = [row(rec, texts, dead) for rec in records]
    pages = max(1, -(-total // size))
    args = {k: v for k, v in (("status", status), ("category", category), ("age", age), ("q", q),
                              ("held", "1" if held_only else "")) if v}
    return render_template("console/tickets.html", rows=rows, status=status, category=category, age=age, q=q,
                           categories=cats, page=page_no, pages=pages, total=total, args=args,
                           newest=repr(_newest(rt.services.redis)), poll_ms=int(c.cfg.poll_interval * 1000),
                           held=c.held.available)


@bp.route("/tickets/poll")
def poll():
    """New tickets since ``since`` (a creation time the page had), for the list to show without a reload."""
    rt = _rt()
    try:
        since = float(request.args.get("since", "0"))
    except ValueError:
        since = 0.0
    texts = _texts()
    records = rt.store.newer_than(since, 50)
    dead = rt.store.dead_among([r["id"] for r in records])
    rows = [row(rec, texts, dead) for rec in records]
    newest = max([since] + [r["created_at"] for r in rows])
    return jsonify(since=repr(newest), tickets=rows)


def _record(tid: str) -> dict:
    tid = tf.normalize_id(tid)
    if not tf.looks_like_id(tid):
        abort(404)
    rec = _rt().store.get(tid)
    if rec is None:
        abort(404)
    return rec


@bp.route("/tickets/<tid>")
def ticket(tid: str):
    rt = _rt()
    store = rt.store
    rec = _record(tid)
    tid = rec["id"]
    texts = _texts()
    r = rt.services.redis
    shots = store.screenshots(rec)
    stored = rt.shots.present(tid, shots, console().clock()) if shots else {}
    shot_rows = [{"n": n, "url": url_for("console.screenshot", tid=tid, n=n) if stored.get(n) else "",
                  "why": "" if stored.get(n) else ("下载失败：" + shot["error"] if shot.get("error")
                                                    else "还没下载好（稍后刷新）" if not shot.get("file")
                                                    else "已过保存期限或在别的机器上")}
                 for n, shot in shots.items()]
    deliveries = []
    for name, st in sorted(store.deliveries(tid).items()):
        job, _, channel = name.partition("|")
        deliveries.append({"job": job_label(job), "channel": channel_label(channel), "state": state_label(st, zone()),
                           "s": st.get("s", ""), "error": st.get("e") or ""})
    replies = [{"at": when(x.get("at"), zone()), "by": x.get("by", ""), "text": x.get("text", "")}
               for x in store.replies(tid)]
    # support's internal notes: shown here only, never sent to the follower
    notes = [{"at": when(x.get("at"), zone()), "by": _who(x.get("by", "")), "text": x.get("text", "")}
             for x in store.notes(tid)]
    dead = r.zscore(keys.TICKETS_DEAD, tid) is not None
    return render_template("console/ticket.html", notes=notes, max_note=tf.MAX_NOTE, t=rec, tid=tid, status_label=tf.status_label(texts, rec),
                           category=tf.category_label(texts, rec.get("category") or "other"),
                           created=when(rec.get("created_at"), zone()), closed=when(rec.get("closed_at"), zone()), shots=shot_rows,
                           deliveries=deliveries, replies=replies, dead=dead, held=console().held.is_held(rec),
                           nonce=uuid.uuid4().hex, max_reply=MAX_REPLY)


def _who(by: str) -> str:
    """Who wrote a note, for people: the console user's name, 命令行, or 微信客服."""
    if by.startswith("console:"):
        return by[len("console:"):]
    if by == "cli":
        return "命令行"
    if by.startswith("wechat:"):
        return "微信客服"
    return by or "-"


@bp.route("/tickets/<tid>/shots/<int:n>")
def screenshot(tid: str, n: int):
    """A screenshot, from Redis or the S3 bucket (whichever its record names), to signed-in users only;
    the content type is the one its bytes prove (nosniff is on every console response)."""
    rec = _record(tid)
    shot = _rt().store.screenshots(rec).get(n, {})
    try:
        data = _rt().shots.get(rec["id"], n, shot, console().clock())
    except tf.ShotStoreError:
        return error_page(503, "截图存储暂时连不上", "截图保存在对象存储（S3）里，现在连不上。请稍后刷新；"
                                                  "如果一直这样，请管理员运行 wxbot doctor 查看原因。")
    ctype = _image_type(data) if data else None
    if ctype is None:
        abort(404)
    resp = Response(data, mimetype=ctype)
    resp.headers["Content-Disposition"] = f'inline; filename="{rec["id"]}-{n}.{ctype.split("/")[1]}"'
    return resp


def _image_type(data: bytes) -> str | None:
    for magic, ctype in IMAGE_TYPES.items():
        if data.startswith(magic):
            return ctype
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return None


def _source() -> str:
    """The form's nonce: a double-clicked button or a resubmitted form acts once."""
    nonce = request.form.get("nonce", "")
    if not NONCE_RE.match(nonce):
        abort(400)
    return "console:" + nonce


def _back(tid: str):
    return redirect(url_for("console.ticket", tid=tid))


def _posted_text(limit: int, empty: str, too_long: str) -> str | None:
    """The form's ``text``, stripped; None (with ``empty`` or ``too_long`` flashed) when it cannot be sent."""
    text = (request.form.get("text") or "").strip()
    if not text or len(text) > limit:
        flash(too_long if text else empty, "error")
        return None
    return text


@bp.route("/tickets/<tid>/reply", methods=["POST"])
def reply(tid: str):
    rec = _record(tid)
    text = _posted_text(MAX_REPLY, "回复内容是空的。", f"回复太长（最多 {MAX_REPLY} 字），请分几次发送。")
    if text is None:
        return _back(rec["id"])
    status, tid = tf.reply_ticket(_rt(), rec["id"], text, actor(), _source())
    c = console()
    if status == "ok":
        c.audit.record(actor(), "ticket.reply", target=tid, now=c.clock())
        flash("回复已提交，正在发给用户（下方“送达情况”可看进度）。")
    elif status == "dup":
        flash("这条回复已经提交过了。")
    return _back(tid)


@bp.route("/tickets/<tid>/close", methods=["POST"])
def close(tid: str):
    rec = _record(tid)
    note = (request.form.get("note") or "").strip()[:300]
    status, tid = tf.close_ticket(_rt(), rec["id"], note, _source())
    c = console()
    if status == "ok":
        c.audit.record(actor(), "ticket.close", target=tid, detail=note[:100], now=c.clock())
        flash("工单已关闭，并会通知用户。")
    elif status == "already":
        flash("这个工单已经是关闭状态。")
    return _back(tid)


@bp.route("/tickets/<tid>/note", methods=["POST"])
def note(tid: str):
    """An internal note for support and admins (never sent to the follower), audited."""
    rec = _record(tid)
    text = _posted_text(tf.MAX_NOTE, "备注内容是空的。", f"备注太长（最多 {tf.MAX_NOTE} 字）。")
    if text is None:
        return _back(rec["id"])
    status, tid = tf.note_ticket(_rt(), rec["id"], text, actor(), "note:" + _source())
    flash("备注已保存（只有客服和管理员能看到）。" if status == "ok" else "这条备注已经保存过了。")
    return _back(tid)


@bp.route("/tickets/<tid>/reopen", methods=["POST"])
def reopen(tid: str):
    rec = _record(tid)
    c = console()
    res = _rt().store.reopen(rec["id"], _source(), c.clock())
    if res.ok:
        c.audit.record(actor(), "ticket.reopen", target=rec["id"], now=c.clock())
        flash("工单已重新打开。")
    elif res.status == "not_closed":
        flash("这个工单没有关闭，不需要重新打开。")
    return _back(rec["id"])


@bp.route("/tickets/<tid>/retry", methods=["POST"])
def retry(tid: str):
    rec = _record(tid)
    c = console()
    jobs = _rt().store.requeue(rec["id"])
    c.audit.record(actor(), "ticket.retry", target=rec["id"], detail=f"jobs={jobs}", now=c.clock())
    flash(f"已重新发送 {jobs} 项失败的投递。" if jobs else "没有失败的投递需要重新发送。")
    return _back(rec["id"])


@bp.route("/tickets/<tid>/release", methods=["POST"])
def release(tid: str):
    rec = _record(tid)
    c = console()
    if not c.held.available:
        flash("这个版本还没有“暂扣”的工单。", "error")
        return _back(rec["id"])
    result = c.held.release(rec["id"], g.user.name)
    c.audit.record(actor(), "ticket.release", target=rec["id"], result=result, now=c.clock())
    flash("工单已放行。" if result == "ok" else "这个工单没有被暂扣。")
    return _back(rec["id"])
