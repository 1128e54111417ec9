"""The dashboard (admins' home): the account at a glance, today and over the last 7 and 30 days.

Messages by route and the FAQ's answered vs unanswered come from the hourly counters the claim writes
(``stores/counters.py``); new, open and held tickets from the tickets' own time indexes; the password
from its store and schedule; recent alerts from the alerts' capped list; health from Redis itself and
the workers' heartbeats. Charts are server-side SVG (``charts.py``). Support gets the 403 page.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo

import redis
from flask import render_template, request

from ..alerts import aes_mismatch_since, recent_alerts
from ..stores import keys
from ..stores.counters import HOUR, RATE_LIMITED, Counters, Series
from ..worker import worker_beats
from . import charts
from .admin import SYNC_STATES
from .labels import when
from .web import admin_only, bot, bp, console, zone

DAY = 86400
PERIODS = {"today": "今天", "7": "最近 7 天", "30": "最近 30 天"}

# Messages by route: the dashboard's groups of the router's route names (app.compose_router).
ROUTE_GROUPS: list[tuple[str, tuple[str, ...]]] = [
    ("密码", ("password", "faq_password")),
    ("常见问题", ("faq", "faq_feature")),
    ("AI 回答", ("ai",)),
    ("工单", ("tickets_dialog", "tickets_status", "tickets_human", "tickets_no_report", "tickets_intake")),
    ("兜底回复", ("fallback",)),
]
OTHER = "其他"  # events, media, staff commands, #我的ID, messages over the limit
# The FAQ's results: a confident answer (also the entries that hand over to a feature) vs no answer.
FAQ_ANSWERED = ("r:faq:answered", "r:faq_feature", "r:faq_password")
FAQ_UNANSWERED = ("r:faq:unmatched", "r:ai")
FAQ_OTHER = ("r:faq:ambiguous", "r:faq:greeting", "r:faq:ack")
AGE_EDGES = [(3600, "1 小时内"), (6 * 3600, "1-6 小时"), (DAY, "6-24 小时"), (3 * DAY, "1-3 天"), (None, "3 天以上")]


def route_of(field: str) -> str:
    """``r:faq:answered`` -> ``faq``."""
    return field.split(":")[1] if field.startswith("r:") else ""


def group_of(field: str) -> str:
    route = route_of(field)
    for name, routes in ROUTE_GROUPS:
        if route in routes:
            return name
    return OTHER


def by_group(series: Series) -> dict[str, list[int]]:
    """The series' route fields summed per dashboard group, in ROUTE_GROUPS order, then OTHER."""
    out = {name: [0] * len(series.starts) for name, _ in ROUTE_GROUPS}
    out[OTHER] = [0] * len(series.starts)
    for field, values in series.values.items():
        if not field.startswith("r:"):
            continue
        row = out[group_of(field)]
        for i, v in enumerate(values):
            row[i] += v
    return out


def faq_rate(answered: int, unanswered: int) -> str:
    total = answered + unanswered
    return f"{answered * 100 / total:.0f}%" if total else "-"


@dataclass
class Period:
    key: str
    name: str
    start: float
    buckets: int
    step: int
    labels: list[str]


def period(key: str, now: float, zone: tzinfo) -> Period:
    """The buckets of a period in the bot's zone (bot.yaml ``timezone``): today by hour, 7 and 30 days
    by day (today last)."""
    local = datetime.fromtimestamp(now, zone)
    midnight = local.replace(hour=0, minute=0, second=0, microsecond=0)
    if key == "today":
        return Period(key, PERIODS[key], midnight.timestamp(), 24, HOUR, [f"{h}时" for h in range(24)])
    days = int(key)
    first = midnight - timedelta(days=days - 1)
    labels = [f"{d.month}/{d.day}" for d in (first + timedelta(days=i) for i in range(days))]
    return Period(key, PERIODS[key], first.timestamp(), days, DAY, labels)


def new_tickets(r: redis.Redis, p: Period) -> list[int]:
    """Tickets created per bucket (the tickets' creation index, scored by creation time)."""
    pipe = r.pipeline(transaction=False)
    for i in range(p.buckets):
        start = p.start + i * p.step
        pipe.zcount(keys.TICKETS_ALL, start, f"({start + p.step!r}")
    return [int(n) for n in pipe.execute()]


def ages(r: redis.Redis, key: str, now: float) -> list[tuple[str, int]]:
    """How many members of a time-scored set are how old (AGE_EDGES), one round trip."""
    cuts = [now - edge for edge, _ in AGE_EDGES[:-1]]
    uppers = ["+inf", *(repr(c) for c in cuts)]
    lowers = [*(f"({c!r}" for c in cuts), "-inf"]
    pipe = r.pipeline(transaction=False)
    for low, high in zip(lowers, uppers):
        pipe.zcount(key, low, high)
    return [(label, int(n)) for (_edge, label), n in zip(AGE_EDGES, pipe.execute())]


def oldest(r: redis.Redis, key: str) -> float | None:
    first = r.zrange(key, 0, 0, withscores=True)
    return float(first[0][1]) if first else None


def age_text(seconds: float) -> str:
    if seconds < 60:
        return "不到 1 分钟"
    if seconds < 3600:
        return f"{int(seconds // 60)} 分钟"
    if seconds < 2 * DAY:
        return f"{int(seconds // 3600)} 小时"
    return f"{int(seconds // DAY)} 天"


def health(services, now: float) -> list[dict]:
    """What /readyz and doctor know, and the workers' heartbeats: [{name, ok, detail}]."""
    r = services.redis
    out = []
    started = time.perf_counter()
    r.ping()
    ms = (time.perf_counter() - started) * 1000
    try:
        info = r.info("server")
        mem = r.info("memory")
        detail = f"连接正常（{ms:.1f} 毫秒），版本 {info.get('redis_version', '?')}，内存 {mem.get('used_memory_human', '?')}"
    except redis.ResponseError:
        detail = f"连接正常（{ms:.1f} 毫秒）"
    out.append({"name": "Redis", "ok": True, "detail": detail, "id": "health-redis"})
    cfg = services.internals.worker
    beats = worker_beats(r)
    alive = [at for at in beats.values() if now - at <= cfg.heartbeat_stale_beats * cfg.heartbeat_interval]
    if alive:
        detail = f"{len(alive)} 个在运行，最近一次心跳 {max(0, int(now - max(alive)))} 秒前"
    elif beats:
        detail = f"没有在运行的后台进程：最后一次心跳在 {when(max(beats.values()), zone())}。请检查 wxbot worker"
    else:
        detail = "还没有后台进程报到过。请启动 wxbot worker（工单、密码同步和提醒都靠它）"
    out.append({"name": "后台进程", "ok": bool(alive), "detail": detail, "id": "health-worker"})
    pipe = r.pipeline(transaction=False)
    pipe.zcard(keys.TICKETS_RETRY)
    pipe.zcard(keys.TICKETS_DEAD)
    retry, dead = pipe.execute()
    try:
        pending = int(r.xpending(keys.TICKETS_STREAM, keys.TICKETS_GROUP).get("pending") or 0)
    except redis.ResponseError:  # no stream or group yet: no worker has read it
        pending = 0
    out.append({"name": "工单投递", "ok": not dead,
                "detail": f"处理中 {pending}，等待重试 {retry}，发送失败已放弃 {dead}", "id": "health-delivery"})
    since = aes_mismatch_since(r)
    if since is not None:
        out.append({"name": "消息解密", "ok": False, "id": "health-aes",
                    "detail": f"{when(since, zone())} 起消息解密失败：EncodingAESKey 和公众平台的不一致"})
    return out


def password_facts(now: float) -> dict:
    pw = bot().features.password.passwords
    st = pw.store.state()
    nxt = pw.schedule.next_after(now) if pw.schedule.enabled else None
    return {"version": st.shown.version if st.shown else 0, "pending": st.pending,
            "sync": SYNC_STATES.get(st.sync_state if pw.sync_on else "off", st.sync_state),
            "sync_failing": pw.sync_on and st.sync_state == "failing", "sync_error": st.sync_last_error,
            "last_ok": when(st.sync_last_ok_at, zone()), "rotated": when(st.rotated_at, zone()),
            "next": pw.display_time(nxt) if nxt else "没有设置定时更换"}


@bp.route("/dashboard")
@admin_only
def dashboard():
    services = bot().services
    r = services.redis
    now = console().clock()
    key = request.args.get("period", "today")
    if key not in PERIODS:
        key = "today"
    counters = Counters(r)
    p = period(key, now, services.bot.zone)
    series = counters.series(p.start, p.buckets, p.step)
    groups = by_group(series)
    route_chart = charts.stacked_bars(
        "chart-routes", f"{p.name}的消息（按类型）", p.labels,
        [charts.Bars(name, values) for name, values in groups.items()])
    answered, unanswered, other = (series.sum_of(FAQ_ANSWERED), series.sum_of(FAQ_UNANSWERED),
                                   series.sum_of(FAQ_OTHER))
    rate = faq_rate(sum(answered), sum(unanswered))
    faq_chart = charts.stacked_bars(
        "chart-faq", f"{p.name}常见问题的回答率：{rate}", p.labels,
        [charts.Bars("答上了", answered, charts.PALETTE[0]), charts.Bars("没答上", unanswered, charts.PALETTE[3]),
         charts.Bars("反问或寒暄", other, charts.PALETTE[6])])
    created = new_tickets(r, p)
    tickets_chart = charts.stacked_bars("chart-new-tickets", f"{p.name}的新工单", p.labels,
                                        [charts.Bars("新工单", created, charts.PALETTE[2])], unit="个")

    # Totals of the three periods, from the 30 days' daily buckets (today is the last one).
    month = period("30", now, services.bot.zone)
    daily = counters.series(month.start, month.buckets, month.step)
    daily_tickets = new_tickets(r, month)
    summary = []
    for days, name in ((1, "今天"), (7, "最近 7 天"), (30, "最近 30 天")):
        cut = slice(month.buckets - days, month.buckets)
        msgs = sum(sum(v[cut]) for f, v in daily.values.items() if f.startswith("r:"))
        a = sum(daily.sum_of(FAQ_ANSWERED)[cut])
        u = sum(daily.sum_of(FAQ_UNANSWERED)[cut])
        summary.append({"name": name, "messages": msgs, "faq_rate": faq_rate(a, u),
                        "tickets": sum(daily_tickets[cut]), "limited": sum(daily.values.get(RATE_LIMITED, [0])[cut])})

    rt = bot().features.tickets.rt
    rt.store.ensure_indexes()
    open_key, replied_key = keys.tickets_status("open"), keys.tickets_status("replied")
    ticket_facts = []
    for chart_id, name, key_ in (("chart-open", "待处理的工单", open_key), ("chart-replied", "已回复未关闭的工单", replied_key),
                                 ("chart-held", "暂缓发给客服的工单", keys.TICKETS_HELD)):
        rows = ages(r, key_, now)
        total = sum(v for _, v in rows)
        first = oldest(r, key_)
        ticket_facts.append({"name": name, "count": total, "oldest": age_text(now - first) if first else "-",
                             "id": chart_id, "chart": charts.hbars(chart_id, f"{name}：{total} 个（按等待时间）", rows)})

    alerts = [{"at": when(a.get("at"), zone()), "kind": a.get("kind", ""), "message": a.get("message", "")}
              for a in recent_alerts(r, 10)]
    return render_template(
        "console/dashboard.html", period=p, periods=PERIODS, summary=summary, route_chart=route_chart,
        faq_chart=faq_chart, faq_rate=rate, tickets_chart=tickets_chart,
        ticket_facts=ticket_facts, pw=password_facts(now), alerts=alerts, health=health(services, now),
        now=when(now, zone()))
