"""Order-issue tickets: follower intake dialogue, follower status, support's ``#`` commands and CLI.

Intake: an order-problem message (text or voice: paid but no key, expired after paying, charged twice,
refund, top-up not arrived, "订单问题") starts a short dialogue whose state lives at
``keys.dialog(openid)`` (JSON, TTL = ``tickets.dialog_timeout``). It asks for what is missing (order
number, payment time and amount, a screenshot), accepts them in any order or all at once, and
understands "取消" and "提交". As soon as the report has an order number it becomes a ticket (so a
follower who walks away loses nothing); a screenshot sent shortly afterwards is attached to it.

Creating a ticket is one Lua script (``wxbot.stores.tickets``) keyed by the message's dedupe id, so
WeChat's retries and concurrent duplicates create exactly one. If Redis is unreachable the report is
spooled to a local file and the follower is told it was received; the worker imports it later.
Delivery to support happens in the worker (``wxbot.tickets_worker``).
"""
from __future__ import annotations

import hashlib
import json
import logging
import re
import time
import unicodedata
import uuid
from collections import OrderedDict
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import click

from .. import metrics
from .. import router as r
from ..config import Section, section
from ..faqmatch import fold
from ..protocol import Message
from ..redisconn import REDIS_ERRORS
from ..router import Ctx, Route, hash_openid
from ..services import Services
from ..stores import keys
from ..stores.tickets import (
    ID_ALPHABET,
    STATUS_CLOSED,
    STATUS_OPEN,
    STATUS_REPLIED,
    Limits,
    Spool,
    TicketStore,
    format_time,
    looks_like_id,
    mask_secrets,
    new_ticket_id,
    normalize_id,
)

log = logging.getLogger(__name__)

CATEGORIES = ("double_charge", "refund", "expired_after_paying", "topup_missing", "paid_no_key", "other")

_PAY = r"(?:付|支付|付款|付费|交费|缴费|买|购买|下单|扣|扣款|扣费|转账|充)"
_PAID = r"(?:付|支付|付款|付费|交费|缴费|下单|扣|扣款|扣费|转账|充)"
_KEYWORD = r"(?:key|密钥|秘钥|卡密|令牌|api|激活码|兑换码)"
DEFAULT_PHRASES: dict[str, list[str]] = {
    "double_charge": [r"(?:扣|付|支付|付款|交|收)了?(?:两|2|二|三|3|多)次", r"重复(?:扣款|扣费|支付|付款|收费|扣钱|下单)",
                      r"多扣", r"扣了两", r"付了两"],
    "refund": [r"退款", r"退钱", r"退费", r"退回", r"要退"],
    # "买"/"购买" alone are not enough here: "购买地址失效了" (the shop page) and "买的key会过期吗"
    # (validity) are FAQ questions, not reports.
    "expired_after_paying": [_PAID + r".{0,16}(?:过期|失效|超时|已关闭|被取消)",
                             r"订单.{0,10}(?:过期|失效|超时|已关闭|被取消)",
                             r"(?:过期|失效|超时).{0,16}(?:付了|付过|支付了|扣了|扣款|付款了|钱)"],
    "topup_missing": [r"充值.{0,12}(?:没|未|不)(?:到账|到|显示|生效|加上|增加|变)", r"余额(?:没|未|不)(?:变|增加|加|到账|涨)",
                      r"(?:没|未)到账"],
    "paid_no_key": [_PAY + r".{0,16}(?:没|未|没有|不|还没)(?:收到|发|给|到|拿到|看到|显示)",
                    _KEYWORD + r".{0,8}(?:没|未|没有|还没)(?:收到|发|给|到)",
                    r"钱扣了", r"扣了钱", r"钱(?:付|交)了"],
    "other": [r"订单(?:问题|异常|有问题|出错|错误|不对|出问题)", r"订单号?.{0,4}(?:查不到|找不到|没显示)",
              r"^(?:售后|登记工单|提交工单|报告问题)$"],
}


@section("tickets")
class TicketsConfig(Section):
    # intake
    dialog_timeout: int = 600  # seconds a half-finished report waits for the follower
    max_open_per_follower: int = 3  # tickets not yet closed
    max_reports_per_hour: int = 5
    max_screenshots: int = 3
    max_description_chars: int = 500
    status_limit: int = 5  # tickets shown by "工单"
    source_ttl: int = 7 * 86400  # a message id -> ticket mapping is kept this long (idempotency)
    status_words: list[str] = ["工单", "进度", "我的工单", "工单进度", "查询工单", "查工单", "查进度"]
    cancel_words: list[str] = ["取消", "算了", "不用了", "取消登记"]
    submit_words: list[str] = ["提交", "就这些", "没有了", "直接提交", "提交工单"]
    passthrough_words: list[str] = ["密码"]  # left to other features even mid-dialogue
    passthrough_routes: list[str] = ["password", "faq_password"]  # routes whose messages are never taken by the dialogue
    # asking for a person: answered with the ACG508 contact (and how to report an order problem)
    human_words: list[str] = ["人工", "人工客服", "转人工", "找人工", "人工服务", "真人", "真人客服", "转人工客服",
                              "联系客服", "怎么联系客服", "找客服", "客服微信", "客服微信多少", "客服电话",
                              "客服联系方式", "联系方式"]
    # small talk in the middle of a report: carries nothing for it, so other features answer it
    chat_words: list[str] = ["谢谢", "多谢", "谢谢你", "感谢", "好的", "好", "嗯", "嗯嗯", "哦", "ok", "收到", "知道了",
                             "明白了", "行", "在吗", "你好", "您好"]
    short_answer_chars: int = 20  # a reply this short, soon after the bot asked, is taken as an answer
    answer_window: int = 180  # seconds after the bot's last question in which a short reply is an answer
    phrases: dict[str, list[str]] = DEFAULT_PHRASES  # category -> regexes (on simplified, lower-case text)
    # delivery (worker)
    block_ms: int = 100  # XREADGROUP BLOCK; keep below redis.socket_timeout
    batch: int = 10
    reclaim_idle: float = 60.0  # seconds an entry may sit with a (dead) consumer before another takes it
    reclaim_interval: float = 5.0
    max_attempts: int = 8  # per channel, then dead-letter
    backoff_initial: float = 2.0
    backoff_max: float = 600.0
    backoff_jitter: float = 2.0
    attempt_deadline: float = 10.0  # overall deadline of one HTTP attempt
    lease_margin: float = 5.0
    screenshot_max_bytes: int = 2 * 1024 * 1024  # WeCom's image limit
    # hosts a screenshot's PicUrl may be fetched from (".x" = any subdomain of x); media_id is tried first
    picture_hosts: list[str] = [".qpic.cn", ".qlogo.cn"]
    screenshot_deadline: float = 15.0
    markdown_limit: int = 4096  # WeCom robot markdown limit, bytes
    spool_interval: float = 2.0
    trim_interval: float = 3600.0
    stream_retention: int = 7 * 86400  # acknowledged entries older than this are trimmed
    # template message fields for support (when WXBOT_SUPPORT_TEMPLATE_ID is set); values are
    # rendered with {id} {category} {order_no} {created} {amount} and clipped to 20 characters.
    support_template_fields: dict[str, str] = {
        "character_string1": "{id}", "thing2": "{category}", "time3": "{created}", "thing4": "{order_no}",
    }


# -- text understanding -------------------------------------------------------------------------

MATCH_CHARS = 300  # order problems are stated early; longer texts are matched on their start
_PUNCT_RE = re.compile(r"[\s,，。.!！?？~～、；;:：\"'“”‘’()（）【】\[\]]+")


@lru_cache(maxsize=512)
def normalize(text: str) -> str:
    """For matching: NFKC (full-width -> ASCII), lower case, traditional -> simplified (the FAQ's
    per-character table: ~1 µs instead of OpenCC's 10-40 µs). Cached: the routes of one message
    normalize the same text several times. Long texts are cut (bounded CPU)."""
    return fold((text or "")[:MATCH_CHARS])


def bare(text: str) -> str:
    """A short command word as typed: normalized, no punctuation or spaces."""
    return _PUNCT_RE.sub("", normalize(text))


class _Phrases:
    """The configured phrases, compiled once: an ordered list (first category wins) and one combined
    pattern that rules out most messages (every FAQ question passes here) with a single search."""

    def __init__(self, phrases: dict[str, list[str]]):
        ordered = [c for c in CATEGORIES if c in phrases] + [c for c in phrases if c not in CATEGORIES]
        self.ordered = [(cat, re.compile(p)) for cat in ordered for p in phrases.get(cat, [])]
        self.any = re.compile("|".join(f"(?:{p.pattern})" for _, p in self.ordered)) if self.ordered else None


_PHRASES: dict[int, tuple[Any, _Phrases]] = {}


def _compiled(cfg: TicketsConfig) -> _Phrases:
    cached = _PHRASES.get(id(cfg))
    if cached is None or cached[0] is not cfg:  # config objects are immutable: compile once per object
        cached = (cfg, _Phrases(cfg.phrases))
        _PHRASES[id(cfg)] = cached
    return cached[1]


def classify(text: str, cfg: TicketsConfig) -> str | None:
    """The order-problem class of ``text``, or None when it is not about an order problem."""
    if not text:
        return None
    norm = _PUNCT_RE.sub("", normalize(text))
    phrases = _compiled(cfg)
    if phrases.any is None or not phrases.any.search(norm):
        return None
    for cat, pattern in phrases.ordered:
        if pattern.search(norm):
            return cat
    return None


_ORDER_LABELLED = re.compile(
    r"(?:订单号|订单编号|订单|单号|交易单号|商户单号|流水号|order\s*(?:no|id|number)?)\s*(?:是|为)?\s*[:：#＃]?\s*"
    r"([A-Za-z0-9][A-Za-z0-9_\-]{5,47})", re.I)
_ORDER_BARE = re.compile(r"(?<![A-Za-z0-9_\-])([A-Za-z]{0,6}\d{10,40}[A-Za-z0-9]{0,8})(?![A-Za-z0-9_\-])")
_PHONE = re.compile(r"^1[3-9]\d{9}$")
_DATE = re.compile(r"(?:\d{4}\s*[-/.年]\s*)?\d{1,2}\s*[月/]\s*\d{1,2}\s*[日号]?|\d{4}-\d{1,2}-\d{1,2}")
_REL_DAY = re.compile(r"今天|昨天|前天|今早|昨晚|今晚|刚才|刚刚|上午|下午|中午|晚上|凌晨|早上")
_CLOCK = re.compile(r"\d{1,2}\s*[:：]\s*\d{2}(?:\s*[:：]\s*\d{2})?|\d{1,2}\s*点(?:\s*\d{1,2}\s*分?|半|多)?")
# Numbers are bounded and must start a digit run: an unbounded ``\d+`` retried at every position of
# a long digit run is quadratic (a 60 KB message took 100 s).
_AMOUNT = re.compile(
    r"(?:[¥￥$]|rmb|人民币)\s{0,3}\d{1,9}(?:\.\d{1,2})?"
    r"|(?<![\d.])\d{1,9}(?:\.\d{1,2})?\s{0,3}(?:元|块钱|块|rmb|人民币|美元|美金|刀)", re.I)
EXTRACT_CHARS = 1000  # order details are looked for in this much of a message (bounded CPU)


@dataclass
class Details:
    order_no: str = ""
    paid_at: str = ""
    amount: str = ""


def extract(text: str) -> Details:
    """Order number, payment time and amount found in a (masked) message, if any."""
    out = Details()
    if not text:
        return out
    work = unicodedata.normalize("NFKC", text[:EXTRACT_CHARS])
    work = re.sub(r"sk-\S+", " ", work)  # an API key is never an order number
    m = _ORDER_LABELLED.search(work)
    if m and re.search(r"\d", m.group(1)):
        out.order_no = m.group(1)
        work = work[: m.start()] + " " + work[m.end():]
    else:
        for m in _ORDER_BARE.finditer(work):
            if not _PHONE.match(m.group(1)):
                out.order_no = m.group(1)
                work = work[: m.start()] + " " + work[m.end():]
                break
    amount = _AMOUNT.search(work)
    if amount:
        out.amount = amount.group(0).strip()
        work = work[: amount.start()] + " " + work[amount.end():]
    parts = []
    for rx in (_DATE, _REL_DAY, _CLOCK):
        for m in rx.finditer(work):
            parts.append((m.start(), m.group(0).strip()))
    if parts:
        out.paid_at = " ".join(p for _, p in sorted(parts))[:60]
    return out


# -- runtime ------------------------------------------------------------------------------------

@dataclass
class Runtime:
    services: Services
    cfg: TicketsConfig
    store: TicketStore
    spool: Spool
    # dedupe ids this process spooled recently: WeChat's retries (no Redis to dedupe them) are
    # neither appended nor counted again
    spooled: OrderedDict = field(default_factory=OrderedDict)


def runtime(services: Services) -> Runtime:
    rt = services.extensions.get("tickets")
    if rt is None:
        cfg: TicketsConfig = services.bot.section("tickets")
        store = TicketStore(services.redis, Limits(cfg.max_open_per_follower, cfg.max_reports_per_hour,
                                                   cfg.source_ttl, cfg.dialog_timeout))
        rt = Runtime(services, cfg, store, Spool(services.settings.data_dir))
        services.extensions["tickets"] = rt
    return rt


def derived_id(services: Services, source: str, now: float) -> str:
    """The ticket id for a message: derived from its dedupe id, so every retry names the same ticket
    even when Redis is down (the store draws a fresh id on the rare collision)."""
    digest = hashlib.blake2b(source.encode(), key=services.log_salt[:32], digest_size=8).digest()
    n = int.from_bytes(digest, "big")
    chars = []
    for _ in range(4):
        n, i = divmod(n, len(ID_ALPHABET))
        chars.append(ID_ALPHABET[i])
    return new_ticket_id(now)[:7] + "".join(chars)


def _category_label(ctx_or_texts, cat: str) -> str:
    texts = ctx_or_texts
    key = f"tickets.categories.{cat}"
    return texts.render(key) if key in texts else texts.render("tickets.categories.other")


# -- intake ---------------------------------------------------------------------------------------

def _state(ctx: Ctx) -> dict | None:
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


def _merge(state: dict, text: str, cfg: TicketsConfig) -> None:
    masked = mask_secrets(text.strip()[: cfg.max_description_chars + 100])[: cfg.max_description_chars]
    found = extract(masked)
    for name in ("order_no", "paid_at", "amount"):
        value = getattr(found, name)
        if value and not state.get(name):
            state[name] = value
    if masked:
        desc = state.get("desc", "")
        desc = f"{desc}\n{masked}" if desc else masked
        state["desc"] = desc[: cfg.max_description_chars]


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
    if res.ok:  # "dup": WeChat's retry of a message that already made this ticket
        metrics.TICKETS.labels("intake", "created").inc()
        log.info("ticket created ticket=%s user=%s category=%s shots=%d", tid,
                 hash_openid(msg.from_user, rt.services.log_salt), state.get("cat"), shots)
    reply = ctx.text("tickets.created", id=tid)
    if not shots:
        reply += "\n" + ctx.text("tickets.attach_hint", minutes=max(1, rt.cfg.dialog_timeout // 60))
    return reply


def start_intake(msg: Message, ctx: Ctx) -> str:
    """Start (or, with an order number, finish at once) an order-problem report. Also the FAQ's intent."""
    rt = runtime(ctx.services)
    current = _state(ctx)
    if current is not None and current.get("st") == "collect":  # already reporting: add to that report
        return continue_intake(msg, ctx)
    text = msg.text or ""
    state: dict[str, Any] = {"f": "tickets", "st": "collect", "cat": classify(text, rt.cfg) or "other",
                             "t0": int(ctx.now), "q": int(ctx.now)}
    _merge(state, text, rt.cfg)
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
    return ctx.text("tickets.ask", category=_category_label(ctx.texts, state["cat"]), missing=_missing(ctx, state))


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


def continue_intake(msg: Message, ctx: Ctx) -> str:
    rt = runtime(ctx.services)
    state = _state(ctx)
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
            _merge(state, text, rt.cfg)
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


def follower_status(msg: Message, ctx: Ctx) -> str:
    if not ctx.redis_ok:  # the breaker is open: answer now rather than wait for a socket timeout
        return ctx.text("errors.busy")
    rt = runtime(ctx.services)
    records = rt.store.of_follower(msg.from_user, rt.cfg.status_limit)
    if not records:
        return ctx.text("tickets.status.none")
    lines = [ctx.text("tickets.status.header")]
    for rec in records:
        lines.append(ctx.text("tickets.status.line", id=rec["id"], status=_status_label(ctx.texts, rec),
                              created=format_time(rec.get("created_at")),
                              category=_category_label(ctx.texts, rec.get("category", "other"))))
        if rec.get("status") == STATUS_REPLIED:
            replies = rt.store.replies(rec["id"])
            last = replies[-1] if replies else None
            if last:
                lines.append(ctx.text("tickets.status.reply_line", text=_clip(last.get("text", ""), 60)))
    lines.append(ctx.text("tickets.status.footer"))
    return "\n".join(lines)


def _status_label(texts, rec: dict) -> str:
    status = rec.get("status", STATUS_OPEN)
    key = f"tickets.status_names.{status}"
    return texts.render(key) if key in texts else status


def _clip(text: str, n: int) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"


# -- support actions (shared by # commands and the CLI) ----------------------------------------

def reply_ticket(services: Services, ticket_id: str, text: str, by: str, source: str) -> tuple[str, str]:
    """Record a support reply and enqueue it for the follower; returns (status, canonical id)."""
    rt = runtime(services)
    tid = normalize_id(ticket_id)
    res = rt.store.add_reply(tid, text.strip(), by, source, time.time())
    if res.ok:
        metrics.TICKETS.labels("reply", "queued").inc()
        log.info("ticket reply queued ticket=%s n=%s", tid, res.value)
    return res.status, tid


def close_ticket(services: Services, ticket_id: str, note: str, source: str) -> tuple[str, str]:
    rt = runtime(services)
    tid = normalize_id(ticket_id)
    res = rt.store.close(tid, source, time.time(), note.strip())
    if res.ok:
        metrics.TICKETS.labels("close", "queued").inc()
        log.info("ticket closed ticket=%s", tid)
    return res.status, tid


def delivery_summary(states: dict[str, dict]) -> str:
    """``webhook:done wecom:pending(2) ...`` for the new-ticket job and any failed others."""
    parts = []
    for channel, st in sorted(states.items()):
        s = st.get("s", "?")
        a = st.get("a", 0)
        parts.append(f"{channel}:{s}" + (f"({a})" if s != "done" and a else ""))
    return " ".join(parts) or "-"


def render_show(services: Services, rec: dict, texts) -> list[str]:
    rt = runtime(services)
    tid = rec["id"]
    lines = [
        f"id: {tid}",
        f"status: {rec.get('status')}",
        f"category: {rec.get('category')} ({_category_label(texts, rec.get('category', 'other'))})",
        f"created: {format_time(rec.get('created_at'))}",
        f"follower: {hash_openid(rec.get('openid', ''), services.log_salt)}",
        f"order_no: {rec.get('order_no') or '-'}",
        f"paid_at: {rec.get('paid_at') or '-'}",
        f"amount: {rec.get('amount') or '-'}",
        f"description: {rec.get('description') or '-'}",
    ]
    if rec.get("told_id"):
        lines.append(f"told_id: {rec['told_id']} (spooled report; the follower was told this id)")
    for n, shot in rt.store.screenshots(rec).items():
        where = shot.get("file") or shot.get("error") or "not fetched yet"
        lines.append(f"screenshot {n}: {where}")
    for i, rep in enumerate(rt.store.replies(tid), 1):
        lines.append(f"reply {i} [{format_time(rep.get('at'))} {rep.get('by', '')}]: {rep.get('text', '')}")
    if rec.get("status") == STATUS_CLOSED:
        lines.append(f"closed: {format_time(rec.get('closed_at'))} {rec.get('close_note', '')}".rstrip())
    lines.append(f"deliveries: {delivery_summary(rt.store.deliveries(tid))}")
    return lines


def list_line(rec: dict, dead: set[str]) -> str:
    flag = " DEAD" if rec["id"] in dead else ""
    return (f"{rec['id']}  {rec.get('status', '?'):<7} {format_time(rec.get('created_at'))}  "
            f"{rec.get('category', '-'):<20} order={rec.get('order_no') or '-'}{flag}")


# -- registration ---------------------------------------------------------------------------------

# A message that asks something rather than answers the bot's question.
_QUESTION = re.compile(r"[?？]|吗|怎么|怎样|如何|什么|啥|哪|为什么|为啥|多少|能不能|可不可以|是不是|有没有")


def _split_args(args: str) -> tuple[str, str]:
    """``ID rest`` -> (ID, rest): any whitespace separates them (full-width spaces, newlines)."""
    parts = args.strip().split(None, 1)
    if not parts:
        return "", ""
    return parts[0], (parts[1].strip() if len(parts) > 1 else "")


def register(services: Services) -> None:
    cfg: TicketsConfig = services.bot.section("tickets")
    for cat, patterns in cfg.phrases.items():  # a bad regex is a start-up error, not a 500 later
        for p in patterns:
            try:
                re.compile(p)
            except re.error as exc:
                raise ValueError(f"tickets.phrases.{cat}: bad regex {p!r}: {exc}") from None
    router = services.router
    staff = services.staff

    def other_route_wants(msg: Message, ctx: Ctx) -> bool:
        for route in router.routes:
            if route.name in cfg.passthrough_routes and route.match(msg, ctx):
                return True
        return False

    def faq_says(msg: Message, ctx: Ctx) -> str | None:
        """"answer" (a confident FAQ answer that is not the ticket intent), "tickets", "greeting" or None."""
        faq = services.extensions.get("faq")
        if faq is None:
            return None
        res = faq.result(msg, ctx)
        if res.kind == "answer" and getattr(res, "entry", None) is not None:
            return "tickets" if res.entry.route == "tickets" else "answer"
        return "greeting" if res.kind == "greeting" else None

    def captures(msg: Message, ctx: Ctx, state: dict) -> bool:
        """Whether a text/voice message belongs to the report being collected. Only what carries
        something for it is taken; everything else goes on to the other features, and the partial
        report waits untouched."""
        text = msg.text or ""
        word = bare(text)
        if not word:
            return True  # an unrecognised voice message: the dialogue asks again
        if word in passthrough:
            return False
        if word in cancel_or_submit:
            return True
        if other_route_wants(msg, ctx):  # e.g. a password request, however it is phrased
            return False
        found = extract(mask_secrets(text[:EXTRACT_CHARS]))
        if found.order_no or found.amount or re.search(r"\d", found.paid_at):
            return True
        if classify(text, cfg) is not None:
            return True
        faq = faq_says(msg, ctx)
        if faq == "tickets":
            return True
        if faq is not None:
            return False
        asked_at = float(state.get("q") or state.get("t0") or 0)
        return (len(word) <= cfg.short_answer_chars and 0 <= ctx.now - asked_at <= cfg.answer_window
                and not _QUESTION.search(normalize(text)))

    def in_dialog(msg: Message, ctx: Ctx) -> bool:
        state = _state(ctx)
        if state is None:
            return False
        if state.get("st") == "attach":
            return msg.type == "image"
        if msg.type == "image":
            return True
        if msg.type not in ("text", "voice"):
            return False
        return captures(msg, ctx, state)

    def is_order_problem(msg: Message, ctx: Ctx) -> bool:
        return msg.type in ("text", "voice") and classify(msg.text, cfg) is not None

    passthrough = {bare(w) for w in (*cfg.passthrough_words, *cfg.status_words, *cfg.human_words, *cfg.chat_words)}
    cancel_or_submit = {bare(w) for w in (*cfg.cancel_words, *cfg.submit_words)}
    status_words = {bare(w) for w in cfg.status_words}
    human_words = {bare(w) for w in cfg.human_words}

    def is_status(msg: Message, ctx: Ctx) -> bool:
        return msg.type in ("text", "voice") and bare(msg.text) in status_words

    def is_human(msg: Message, ctx: Ctx) -> bool:
        return msg.type in ("text", "voice") and bare(msg.text) in human_words

    def human(msg: Message, ctx: Ctx) -> str:
        """Asking for a person is not an order problem: the contact, and how to report one."""
        reply = ctx.text("tickets.human")
        state = _state(ctx)
        if state is not None and state.get("st") == "collect":
            reply += "\n" + ctx.text("tickets.human_pending")
        return reply

    router.add(Route("tickets_dialog", in_dialog, continue_intake, replayable=False, needs_dialog=True),
               r.ORDER_DIALOG)
    router.add(Route("tickets_status", is_status, follower_status), r.ORDER_TICKETS)
    router.add(Route("tickets_human", is_human, human), r.ORDER_TICKETS)
    # 取消/提交 with no report in progress (the dialogue route takes them when there is one).
    router.add(Route("tickets_no_report", lambda m, c: m.type in ("text", "voice") and bare(m.text) in cancel_or_submit,
                     lambda m, c: c.text("tickets.no_report")), r.ORDER_TICKETS)
    router.add(Route("tickets_intake", is_order_problem, start_intake, replayable=False), r.ORDER_TICKETS)
    services.extensions.setdefault("intents", {})["tickets"] = start_intake

    @staff.add("工单", {r.SUPPORT, r.ADMIN}, "列出未关闭的工单；#工单 工单号 查看详情")
    def staff_list(msg: Message, ctx: Ctx, args: str) -> str:
        if not ctx.redis_ok:
            return ctx.text("errors.busy")
        rt = runtime(services)
        if args and looks_like_id(args):
            rec = rt.store.get(normalize_id(args))
            if rec is None:
                return ctx.text("tickets.staff.not_found", id=normalize_id(args))
            return "\n".join(render_show(services, rec, ctx.texts))
        records = [x for x in rt.store.recent(200) if x.get("status") != STATUS_CLOSED][:10]
        if not records:
            return ctx.text("tickets.staff.list_empty")
        lines = [ctx.text("tickets.staff.list_header", count=len(records))]
        for rec in records:
            lines.append(ctx.text("tickets.staff.list_line", id=rec["id"], status=_status_label(ctx.texts, rec),
                                  category=_category_label(ctx.texts, rec.get("category", "other")),
                                  order_no=rec.get("order_no") or "-", created=format_time(rec.get("created_at"))))
        return "\n".join(lines)

    @staff.add("回复", {r.SUPPORT, r.ADMIN}, "#回复 工单号 内容：回复用户")
    def staff_reply(msg: Message, ctx: Ctx, args: str) -> str:
        tid, text = _split_args(args)
        if not tid or not text:
            return ctx.text("tickets.staff.reply_usage")
        if not ctx.redis_ok:
            return ctx.text("errors.busy")
        status, tid = reply_ticket(services, tid, text, "wechat:" + hash_openid(msg.from_user, services.log_salt),
                                   "wx:" + msg.dedupe_id)
        if status == "missing":
            return ctx.text("tickets.staff.not_found", id=tid)
        return ctx.text("tickets.staff.replied", id=tid)

    @staff.add("关闭", {r.SUPPORT, r.ADMIN}, "#关闭 工单号 [说明]：关闭工单并通知用户")
    def staff_close(msg: Message, ctx: Ctx, args: str) -> str:
        tid, note = _split_args(args)
        if not tid:
            return ctx.text("tickets.staff.close_usage")
        if not ctx.redis_ok:
            return ctx.text("errors.busy")
        status, tid = close_ticket(services, tid, note, "wx:" + msg.dedupe_id)
        if status == "missing":
            return ctx.text("tickets.staff.not_found", id=tid)
        if status == "already":
            return ctx.text("tickets.staff.already_closed", id=tid)
        return ctx.text("tickets.staff.closed", id=tid)

    from ..tickets_worker import SpoolImport, TicketDelivery

    tasks = services.extensions.setdefault("worker_tasks", [])
    tasks.append(SpoolImport(services))
    tasks.append(TicketDelivery(services))


# -- CLI --------------------------------------------------------------------------------------------

def _cli_services(ctx: click.Context) -> Services:
    from ..cli import CliContext

    return ctx.ensure_object(CliContext).services


def _texts(services: Services):
    return services.texts.get()


@click.group("tickets")
def cli() -> None:
    """Order-issue tickets: list, show, reply, close, retry."""


@cli.command("list")
@click.option("--status", "status", default="active", show_default=True,
              type=click.Choice(["active", "open", "replied", "closed", "dead", "all"]),
              help="active = open + replied; dead = with a dead-lettered delivery.")
@click.option("--limit", default=50, show_default=True, type=int)
@click.pass_context
def list_cmd(ctx: click.Context, status: str, limit: int) -> None:
    """List tickets, newest first, one per line starting with its id."""
    from ..cli import redis_errors_exit

    services = _cli_services(ctx)
    rt = runtime(services)
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
        for rec in records[:limit]:
            click.echo(list_line(rec, dead))


@cli.command("show")
@click.argument("ticket_id")
@click.pass_context
def show_cmd(ctx: click.Context, ticket_id: str) -> None:
    """Show one ticket: report, screenshots, replies and per-channel delivery state."""
    from ..cli import redis_errors_exit

    services = _cli_services(ctx)
    with redis_errors_exit():
        rec = runtime(services).store.get(normalize_id(ticket_id))
        if rec is None:
            click.echo(f"wxbot: no ticket {normalize_id(ticket_id)}", err=True)
            raise SystemExit(1)
        for line in render_show(services, rec, _texts(services)):
            click.echo(line)


@cli.command("reply")
@click.argument("ticket_id")
@click.argument("text", nargs=-1, required=True)
@click.pass_context
def reply_cmd(ctx: click.Context, ticket_id: str, text: tuple[str, ...]) -> None:
    """Send TEXT to the follower of TICKET_ID (the worker delivers it)."""
    from ..cli import redis_errors_exit

    body = " ".join(text).strip()
    if not body:
        raise click.UsageError("TEXT is empty")
    services = _cli_services(ctx)
    with redis_errors_exit():
        status, tid = reply_ticket(services, ticket_id, body, "cli", "cli:" + uuid.uuid4().hex)
    if status == "missing":
        click.echo(f"wxbot: no ticket {tid}", err=True)
        raise SystemExit(1)
    click.echo(f"{tid}: reply queued for the follower")


@cli.command("close")
@click.argument("ticket_id")
@click.option("--note", default="", help="Shown to the follower with the closing message.")
@click.pass_context
def close_cmd(ctx: click.Context, ticket_id: str, note: str) -> None:
    """Close TICKET_ID and tell the follower."""
    from ..cli import redis_errors_exit

    services = _cli_services(ctx)
    with redis_errors_exit():
        status, tid = close_ticket(services, ticket_id, note, "cli:" + uuid.uuid4().hex)
    if status == "missing":
        click.echo(f"wxbot: no ticket {tid}", err=True)
        raise SystemExit(1)
    click.echo(f"{tid}: already closed" if status == "already" else f"{tid}: closed; the follower will be told")


@cli.command("retry")
@click.argument("ticket_ids", nargs=-1)
@click.pass_context
def retry_cmd(ctx: click.Context, ticket_ids: tuple[str, ...]) -> None:
    """Re-queue dead-lettered deliveries (of the given tickets, or of all)."""
    from ..cli import redis_errors_exit

    services = _cli_services(ctx)
    rt = runtime(services)
    with redis_errors_exit():
        ids = [normalize_id(t) for t in ticket_ids] or rt.store.dead_ids()
        total = 0
        for tid in ids:
            n = rt.store.requeue(tid)
            total += n
            if n:
                click.echo(f"{tid}: {n} job(s) re-queued")
    click.echo(f"re-queued {total} job(s) of {len(ids)} ticket(s)")
