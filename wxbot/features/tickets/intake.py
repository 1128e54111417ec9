"""The follower's side of tickets: understanding an order problem, the intake dialogue, status.

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
import re
import time
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from ... import metrics
from ...alerts import alert
from ...router import Ctx, hash_openid
from ...stores import keys
from ...stores.redis import REDIS_ERRORS
from ...textnorm import fold
from ...wechat.protocol import Message
from .ids import ID_ALPHABET, new_ticket_id
from .runtime import Runtime, format_time
from .store import STATUS_CLOSED, STATUS_OPEN, STATUS_REPLIED

if TYPE_CHECKING:
    from ...policy import TicketsPolicy
    from ...services import Services

log = logging.getLogger(__name__)

# Something that looks like an OpenAI-style API key: sk-..., sk-proj-...
_KEY_RE = re.compile(r"sk-[A-Za-z0-9][A-Za-z0-9_\-]{7,}")


def mask_secrets(text: str) -> str:
    """Mask anything like an API key (``sk-…``), keeping enough characters for support to identify it.

    ``sk-abcd1234efgh5678wxyz`` becomes ``sk-abcd****wxyz``; short ones keep two characters.
    """
    if not text or "sk-" not in text:
        return text

    def repl(m: re.Match) -> str:
        body = m.group(0)[3:]
        if len(body) >= 12:
            return f"sk-{body[:4]}****{body[-4:]}"
        return f"sk-{body[:2]}****"

    return _KEY_RE.sub(repl, text)


CATEGORIES = ("double_charge", "refund", "expired_after_paying", "topup_missing", "paid_no_key", "other")

_PAY = r"(?:付|支付|付款|付费|交费|缴费|买|购买|下单|扣|扣款|扣费|转账|充)"
_PAID = r"(?:付|支付|付款|付费|交费|缴费|下单|扣|扣款|扣费|转账|充)"
_KEYWORD = r"(?:key|密钥|秘钥|卡密|令牌|api|激活码|兑换码)"
DEFAULT_PHRASES: dict[str, list[str]] = {
    "double_charge": [r"(?:扣|付|支付|付款|交|收)了?(?:两|俩|2|二|三|3|多)(?:次|回)", r"重[复夫负](?:扣款|扣费|支付|付款|收费|扣钱|下单)",
                      r"多扣", r"扣了两", r"付了两"],
    "refund": [r"退款", r"退钱", r"退费", r"退回", r"要退"],
    # "买"/"购买" alone are not enough here: "购买地址失效了" (the shop page) and "买的key会过期吗"
    # (validity) are FAQ questions, not reports.
    "expired_after_paying": [_PAID + r".{0,16}(?:过期|失效|超时|已关闭|被取消)",
                             r"订单.{0,10}(?:过期|失效|超时|已关闭|被取消)",
                             r"(?:过期|失效|超时).{0,16}(?:付了|付过|支付了|扣了|扣款|付款了|钱)"],
    "topup_missing": [r"充值.{0,12}(?:没|未|不)(?:到账|到|显示|生效|加上|增加|变)", r"余额(?:没|未|不)(?:变|增加|加|到账|涨)",
                      r"(?:没|未)到账"],
    "paid_no_key": [_PAY + r".{0,16}(?:没|未|没有|不|还没|冇)(?:收到|发|给|到|拿到|看到|显示)",
                    _KEYWORD + r".{0,8}(?:没|未|没有|还没|冇)(?:收到|发|给|到)",
                    r"(?:没|未|还没|冇)(?:收到|发|给|拿到)(?:我)?(?:的)?" + _KEYWORD,
                    r"钱扣了", r"扣了钱", r"钱(?:也|都|已经|已)?(?:付|交|扣)了", r"(?:俾|畀|给)(?:咗|了)钱",
                    # "paid, but ...": a past payment followed by what went wrong
                    _PAID + r"(?:了|过|咗|完|成功).{0,20}(?:但|可是|却|结果|怎么|咋).{0,20}(?:没|未|不|冇|空白|失败|关闭)",
                    r"(?:待|未|没|没有|不|冇)(?:发货|发卡|发放)",
                    r"(?:支付|付款|扣款|下单)成功.{0,20}(?:但|可是|却|没|未|冇)",
                    # English: "i paid but didn't receive the key" (spaces and punctuation are gone)
                    r"(?:paid|payment|charged).{0,24}(?:not|didnt|didn|havent|never|nokey|nothing)"],
    "other": [r"订单(?:问题|异常|有问题|出错|错误|不对|出问题)", r"订单号?.{0,4}(?:查不到|找不到|没显示)",
              r"^(?:售后|登记工单|提交工单|报告问题)$"],
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


def _compiled(cfg: TicketsPolicy) -> _Phrases:
    cached = _PHRASES.get(id(cfg))
    if cached is None or cached[0] is not cfg:  # config objects are immutable: compile once per object
        cached = (cfg, _Phrases(cfg.phrases or DEFAULT_PHRASES))
        _PHRASES[id(cfg)] = cached
    return cached[1]


# A report's evidence: a payment in the past tense next to an amount, an order number or a date ("付了
# ¥560", "5月3号买的", "订单号A88...付款"). A pre-sale question has none of them ("可以用支付宝付吗",
# "100块能用多久"), so it stays the FAQ's.
_PAST_PAY = re.compile(r"(?:付|支付|付款|扣|扣款|扣费|转账|充值|充|买|下单|交)(?:了|过|咗|完)|(?:已|已经)(?:付|支付|付款|扣|下单|转账)")
_EVIDENCE = re.compile(r"(?:订单号|订单编号|单号|流水号)[是为:：#]?[a-z0-9]*\d|[a-z]{0,6}\d{10,40}"
                       r"|[¥￥$]\d|\d(?:\.\d{1,2})?(?:元|块|rmb|人民币|美元|美金|刀)|\d{1,2}(?:月|号|日|点)|[昨前今]天|刚才|刚刚")


# A report in words the phrases above do not list: a purchase that already happened, in any wording
# ("刚花的钱", "140块出去了", "卡里少了钱", "I was charged"), and something wrong with it ("东西用起来就报错",
# "那串码没来", "档位对不上"). Either alone is a question ("买了key怎么用", "key报错怎么办"), so it takes both;
# plain "买的" (or "付的", "账单", "发下来的") counts only with a fault of the key or the payment itself
# (无效, 不存在, 乱码, 没收到, 对不上) or a request to send it again, because "买的key会过期吗"
# and "买的key用不了怎么办" are the FAQ's. A hypothetical or another shop ("担心", "万一", "别家") is not a report.
_BOUGHT = re.compile(
    r"(?:付|支付|付款|交|缴|扣|转|充|买|下单|花|掏|收)(?:了|过|咗|完|好|成功)"
    r"|(?:付|支付|花|掏|转|交)的(?:钱|款)|已经?(?:付|支付|付款|扣|转|买|下单)|(?:刚|才|啱啱)(?:刚|才)?(?:买|付|花|掏|下单|充|转)"
    r"|钱.{0,6}(?:出去了|转过去|付过去|已付|已转)|(?:出去了|转过去了)|少了.{0,2}钱|买完|被扣"
    r"|付错|付成|charged|ipaid|paidfor|paymentwent|paymentwas|ihavepaid|alreadypaid")
_BOUGHT_KEY = re.compile(r"买的|买嘅|购买的|付的|bought|发下来|发给我的|发来的|账单|扣款记录|支付记录")
_TROUBLE = re.compile(
    r"用不了|不能用|用唔到|用不聊|没法用|报错|不存在|无效|无笑|乱码|invalid|没拿到|拿不到|没收到|收不到|没来(?!得及)|没到(?!期)|没给|没发|没出来|刷新了"
    r"|什么都没|啥都没|空空|不对|对不上|没完成|没确认|未完成|失败|没成功|不成功|转圈|卡住|就没了|页面没了|找不到|来晚了|不见了|没显示|多了一笔"
    r"|一模一样|(?:两|俩|2)(?:回|次|遍|笔)|三笔|差价|额度为0|余额为0|变成0|是0|退|推款|refund|twice|expired|nokey|didnt|never")
_KEY_FAULT = re.compile(r"无效|无笑|invalid|不存在|乱码|没收到|没拿到|收不到|没发|没给|没来(?!得及)|没到(?!期)|没出来")
# With a plain "买的"/"付的": a fault of the key or the payment itself, or a request to send it again.
_STRONG = re.compile(_KEY_FAULT.pattern + r"|对不上|付错|多了一笔|一模一样|重新发|补发|再发一")
_HYPOTHETICAL = re.compile(r"担心|万一|如果|假如|会不会|怕|别家|其他家|别的平台|以前在|之前在")
_KINDS = (("double_charge", re.compile(r"(?:两|俩|2|二)(?:回|次|遍|笔)|三笔|twice|多了一笔|一模一样|重[复夫]|又付")),
          ("refund", re.compile(r"退|推款|refund")),
          ("expired_after_paying", re.compile(r"过期|expired|来晚了|超时|已关闭")),
          ("paid_no_key", _KEY_FAULT))
# A weaker sign, a past payment next to an amount, order number or date, takes a statement: a question
# about what the FAQ answers ("买了100刀在哪查余额") has one of these.
_QUESTIONY = re.compile(r"请问|想问|在哪|哪里|怎么|如何|有没有|能否|是否|还是|多久|多少|发票|开票|余额|用完")


def classify(text: str, cfg: TicketsPolicy) -> str | None:
    """The order-problem class of ``text``, or None when it is not about an order problem."""
    if not text:
        return None
    norm = _PUNCT_RE.sub("", normalize(text))
    phrases = _compiled(cfg)
    hypothetical = _HYPOTHETICAL.search(norm) is not None
    if phrases.any is not None and not hypothetical and phrases.any.search(norm):
        for cat, pattern in phrases.ordered:
            if pattern.search(norm):
                return cat
    if hypothetical:
        return None
    if _TROUBLE.search(norm) and (_BOUGHT.search(norm) or (_BOUGHT_KEY.search(norm) and _STRONG.search(norm))):
        return next((cat for cat, rx in _KINDS if rx.search(norm)), "other")
    if _PAST_PAY.search(norm) and _EVIDENCE.search(norm) and not _PRESALE.search(norm) and not _QUESTIONY.search(norm):
        return "other"
    return None


_PRESALE = re.compile(r"(?:能用|可以用|够用|能买|可以买|能充|用多久|多少字|怎么买|怎么付|吗|么|不$)$|能不能|可不可以|是不是")


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


