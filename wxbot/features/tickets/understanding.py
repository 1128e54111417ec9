"""What a follower's text says about an order: whether it reports an order problem and which
(``classify``), the order number, payment time and amount in it (``extract``), and API keys masked
for support (``mask_secrets``). Pure functions on text: no Redis, no dialogue (that is ``intake.py``).
"""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from ...textnorm import fold

if TYPE_CHECKING:
    from ...policy import TicketsPolicy


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
# longest first and atomic, so a lookahead after it sees the whole verb: "付款链接失效了" is no 付 + 款链接
_PAID = r"(?>付款|付费|支付|交费|缴费|下单|扣款|扣费|转账|付|扣|充)"
_KEYWORD = r"(?:key|密钥|秘钥|卡密|令牌|api|激活码|兑换码)"
DEFAULT_PHRASES: dict[str, list[str]] = {
    "double_charge": [r"(?:扣|付|支付|付款|交|收|扣款|扣费)了?(?:两|俩|2|二|三|3|多)(?:次|回)", r"重[复夫负](?:扣款|扣费|支付|付款|收费|扣钱|下单)",
                      r"多扣", r"扣了两", r"付了两"],
    "refund": [r"退款", r"退钱", r"退费", r"退回", r"要退", r"钱(?:还|也)?没退",
               r"退.{0,2}(?:什么时候|啥时候|多久|咋还没|怎么还没).{0,4}到(?:账|帐)",  # 退宽什么时候到帐
               r"原路(?:返回|退回).{0,16}(?:没|未|不见)",
               # "说好要还我的那笔钱，到现在都没回到我卡上"
               r"(?:还|退)(?:给)?我的?.{0,8}钱.{0,12}(?:没|未)(?:回|到|收到)"],
    # "买"/"购买" alone are not enough here: "购买地址失效了" (the shop page) and "买的key会过期吗"
    # (validity) are FAQ questions, not reports.
    # ... and "下单地址失效了" is the shop page's address, not an order
    # ... nor is a page or link of paying ("充值链接失效了", "支付界面超时了", "下单页超时了")
    "expired_after_paying": [_PAID + r"(?!值?的?(?:地址|网址|链接|页面|页|界面|入口|网站|网页))"
                             + r".{0,16}(?:过期|失效|超时|已关闭|被取消)",
                             r"订单.{0,10}(?:过期|失效|超时|已关闭|被取消|已取消|取消了)",
                             r"(?:过期|失效|超时).{0,16}(?:付了|付过|支付了|扣了|扣款|付款了|钱)"],
    "topup_missing": [r"(?:充值|续费|加额度|充额度).{0,12}(?:没|未|不)(?:有)?(?:到账|到|显示|生效|加上|增加|变)",
                      r"(?:余额|额度)(?:一点|一点都|都|还是|也|一直)?(?:没|未|不)(?:有)?(?:变|增加|加|到账|涨|动)",
                      r"(?:没|未)到账", r"(?:余额|额度).{0,6}(?:还是原来|还是原样|没有变|没变化)",
                      # less credit than paid for: "买100刀只到了50刀", "充值了一百美金...余额只有五十多"
                      r"(?:充值|充|买|购买|续费)了?.{0,20}(?<!还是)(?:只到|只有|才到)(?:了|账)?(?:\d+(?:\.\d+)?|[一二三四五六七八九十两几百]+)多?"
                      r"(?:刀|美金|美元|块|元|\$|(?=不对|对不上|$))", r"(?:看不到|查不到|没有)(?:充值|付款|支付)记录",
                      r"(?:充|付|交)的钱.{0,4}(?:没|未)(?:进去|进|到)"],
    "paid_no_key": [_PAY + r".{0,16}(?:没|未|没有|不|还没)(?:收到|发|给|到|拿到|看到|显示)",
                    _PAY + r".{0,16}(?:没|未|没有|还没)出(?=key|来|码|货|卡)",  # "微信付了140，没出key"
                    _KEYWORD + r".{0,8}(?:没|未|没有|还没)(?:收到|发|给|到)",
                    r"(?:没|未|还没)(?:收到|发|给|拿到)(?:我)?(?:的)?" + _KEYWORD,
                    r"钱扣了", r"扣了钱", r"钱(?:也|都|已经|已)?(?:付|交|扣)了", r"给了钱",
                    # "paid, but ...": a past payment followed by what went wrong
                    _PAID + r"(?:了|过|完|成功).{0,20}(?:但|可是|却|结果|怎么|咋).{0,20}(?:没|未|不|空白|失败|关闭)",
                    r"(?:待|未|没|没有|不)(?:发货|发卡|发放)",
                    r"(?:支付|付款|扣款|下单)成功.{0,20}(?:但|可是|却|没|未)",
                    # English: "i paid but didn't receive the key" (spaces and punctuation are gone)
                    r"(?:paid|payment|charged).{0,24}(?:not|didnt|didn|havent|never|nokey|nothing)"],
    "other": [r"订单(?:问题|异常|有问题|出错|错误|不对|出问题)", r"订单号?.{0,4}(?:查不到|找不到|没显示)",
              # the key was shown once, and lost before it was copied
              r"(?:key|密钥|卡密).{0,3}(?:就|只)显示了?一(?:下|次|遍)", r"shownonce",
              r"^(?:售后|登记工单|提交工单|报告问题)$"],
}


# -- text understanding -------------------------------------------------------------------------

MATCH_CHARS = 300  # order problems are stated early; longer texts are matched on their start
# a dot between digits is a decimal point and stays: "4.01元" is an amount, not "401"
_PUNCT_RE = re.compile(r"(?:[\s,，。!！?？~～、；;:：\"'“”‘’()（）【】\[\]]|(?<!\d)\.|\.(?!\d))+")


# Folds: Cantonese words the phrases below would miss, in Mandarin (after traditional -> simplified):
# "俾咗钱", "过咗期", "冇发俾我", "仲系话待付款", "得返50" read as "给了钱", "过期", "没发给我", "还是说待付款",
# "只有50"; and the IME homophones of the words the rules are written in (冲值 充值, 到帐 到账, 推款 腿款 退款,
# 成攻 成功, 无小 无效, 负值 复制, 现实了 显示了, 定单 订单, 续废 续费, 家上 加上).
_FOLDS = {"过咗期": "过期", "咗": "了", "冇": "没", "嘅": "的", "俾": "给", "畀": "给",
         "冲值": "充值", "到帐": "到账", "推款": "退款", "成攻": "成功", "无小": "无效", "无校": "无效",
         "负值": "复制", "复至": "复制", "现实了": "显示了", "过七": "过期", "过其": "过期", "亮次": "两次",
         "扣飞": "扣费", "推一下款": "退一下款", "退宽": "退款", "事空的": "是空的", "结过": "结果", "只处了": "只出了",
         "仲系话": "还是说", "仲系": "还是", "解绝": "解决", "唔对": "不对", "得返": "只有", "而家": "现在", "喺": "在", "蚊": "元",
         "定单": "订单", "扣宽": "扣款", "付宽": "付款", "腿款": "退款", "星其": "星期", "续废": "续费", "家上": "加上",
         "负制": "复制", "鱼额": "余额", "也面": "页面", "够买": "购买", "闩": "关", "系咪": "是不是", "旧数": "原来的数",
         "未入到数": "没到账", "未入数": "没到账", "copy": "复制"}
_FOLDS_RE = re.compile("|".join(sorted(_FOLDS, key=len, reverse=True)))
# A report typed in pinyin ("fu le kuan mei you fa key", "chong zhi le mei dao zhang"): the words of payments and
# their faults, read as characters (several syllables each, on word boundaries, spaces between them optional)
_PINYIN = {"fu le kuan": "付了款", "fu le": "付了", "fu kuan": "付款", "fu qian": "付钱", "zhi fu bao": "支付宝",
           "wei zhi fu": "未支付", "zhi fu": "支付", "chong zhi": "充值", "xu fei": "续费", "ding dan": "订单",
           "dan hao": "单号", "yi guo qi": "已过期", "guo qi": "过期", "mei you fa": "没有发", "mei you": "没有",
           "mei shou dao": "没收到", "shou dao": "收到", "mei dao": "没到", "dao zhang": "到账", "mei bian": "没变",
           "e du": "额度", "yu e": "余额", "cheng gong": "成功", "xian shi": "显示", "hai shi": "还是",
           "tui kuan": "退款", "kou kuan": "扣款", "kou le": "扣了", "mei you fa piao": "没有发票", "fa piao": "发票",
           "ru guo": "如果", "wan yi": "万一", "hai mei mai": "还没买"}
_PINYIN_RE = re.compile(r"(?<![a-z])(?:%s)(?![a-z])" % "|".join(
    r" ?".join(map(re.escape, k.split())) for k in sorted(_PINYIN, key=len, reverse=True)))
_PINYIN_KEYS = {k.replace(" ", ""): v for k, v in _PINYIN.items()}


@lru_cache(maxsize=512)
def normalize(text: str) -> str:
    """For matching: NFKC (full-width -> ASCII), lower case, traditional -> simplified (the FAQ's
    per-character table: ~1 µs instead of OpenCC's 10-40 µs). Cached: the routes of one message
    normalize the same text several times. Long texts are cut (bounded CPU)."""
    out = _FOLDS_RE.sub(lambda m: _FOLDS[m.group()], fold((text or "")[:MATCH_CHARS]))
    if " " in out:  # pinyin comes in syllables
        out = _PINYIN_RE.sub(lambda m: _PINYIN_KEYS[m.group().replace(" ", "")], out)
    return out


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
_PAST_PAY = re.compile(r"(?:付|支付|付款|扣|扣款|扣费|转账|充值|充|买|下单|交)(?:了|过|完)|(?:已|已经)(?:付|支付|付款|扣|下单|转账)")
_EVIDENCE = re.compile(r"(?:订单号|订单编号|单号|流水号)[是为:：#]?[a-z0-9]*\d|[a-z]{0,6}\d{10,40}"
                       r"|[¥￥$]\d|\d(?:\.\d{1,2})?(?:元|块|rmb|人民币|美元|美金|刀)|\d{1,2}(?:月|号|日|点)|[昨前今]天|刚才|刚刚")


# A report in words the phrases above do not list: a purchase that already happened, in any wording
# ("刚花的钱", "140块出去了", "卡里少了钱", "I was charged"), and something wrong with it ("东西用起来就报错",
# "那串码没来", "档位对不上"). Either alone is a question ("买了key怎么用", "key报错怎么办"), so it takes both;
# plain "买的" (or "付的", "账单", "发下来的") counts only with a fault of the key or the payment itself
# (无效, 不存在, 乱码, 没收到, 对不上) or a request to send it again, because "买的key会过期吗"
# and "买的key用不了怎么办" are the FAQ's. A hypothetical or another shop ("担心", "万一", "别家") is not a report.
_BOUGHT = re.compile(
    r"(?:付|支付|付款|交|缴|扣|转|充|买|下单|花|掏|收)(?:了|过|完|好|成功)"
    r"|(?:付|支付|花|掏|转|交)的(?:钱|款)|已经?(?:付|支付|付款|扣|转|买|下单)|(?:刚|才|啱啱)(?:刚|才)?(?:买|购买|付|花|掏|下单|充|转|拿到|收到)"
    r"|钱.{0,6}(?:出去了|转过去|付过去|已付|已转)|(?:出去了|转过去了)|少了.{0,2}钱|买完|被扣"
    r"|付错|付成|买错|买措|(?:支付|交易|付款|扣款)[成城](?:功|工)|(?:付款|付钱|支付|付完)后|charged|ipaid|ibought|paidfor|paidwith|paidvia|paidby|paymentwent"
    r"|paymentwas|ihavepaid|alreadypaid|justpaid|paymentsucceeded|toppedup"
    # a payment by scanning, money gone, a top-up, a wait for the delivery, a new key
    r"|扫(?:了|完|的)码|钱(?:倒是|已经|早就?|都)(?:走了|没了|扣了|付了|交了)|(?:加|充)了钱|(?:刚|才)卖|新买"
    r"|等了.{0,6}(?:小时|分钟|天)"
    # "昨天买的那单" (a dated order: "前几天买的key" alone may be any old key), "买了之后", "支付宝显示成功了",
    # "付多了", "输成了二百八"
    r"|(?:昨天|前天|今天|今早|昨晚|刚才|上周|上个月|前几天|\d+号)(?:买|付|充|下单)的(?:那单|那笔|订单|单子|钱|款|那\d+)"
    # a key bought since yesterday, an order number read out in words, money gone from the account
    r"|(?:昨天|今天|今早|昨晚|刚才)(?:买|付|充|下单)的key|订单号是?[零一二三四五六七八九〇]{6}|钱(?:已经|都|也)?少了"
    r"|(?:买|付|交|充)了之后"
    # a top-up or renewal done ("充值咗" is 充值了), "购买后", money handed over ("俾咗56蚊"), a payment named
    # by its amount ("昨晚8点那笔¥140"), a key just brought home ("刚从店里带走的钥匙")
    r"|(?:充值|续费|续了费|缴费)(?:了|过|完|好|成功)|(?:购买|买|充值|续费)之?后|给了(?:\d|钱|款)|那笔[¥￥$]?\d"
    r"|(?:刚|才).{0,6}(?:带走|入手|到手)"
    r"|(?:支付宝|微信|花呗|白条|银行卡|信用卡)(?:显示|提示|那边|上)?(?:已经?)?(?:付款|支付|扣款)?成功|付多了|多付了|输成了?"
    # money given for a top-up or a renewal ("续的钱呢", "往key里加的那笔"), a dated payment by its amount or
    # alone ("昨天转的280", "昨晚半夜付的，到现在..."), a payment by its amount ("付280 到账才50刀"), 支付 as an
    # IME or a chat abbreviation writes it ("制服了1400", "zf成功了")
    r"|(?:充|续|加|转|付|交)的(?:钱|那笔|款)"
    r"|(?:昨天|前天|今天|今早|昨晚|刚才|上周|上个月|前几天|\d+号)(?:半夜|凌晨|晚上|早上|中午|下午)?(?:买|付|充|续|转|下单)的(?:\d|$|到现在|至今|一直|还|没|但)"
    r"|(?<![能要该想先])付[¥￥$]?\d|(?:制服|支府|zf)(?:了|成功|完)"
    # money taken ("钱已经从微信扣走了"), a purchase for a company, a transfer made, 买 as an IME types it (我卖了三个)
    r"|扣走了|采购了|转账(?:到|给|过去)|我卖了")
_BOUGHT_KEY = re.compile(r"买的|购买的|付的|bought|发下来|发给我的|给我发的|给我的|发的key|发来的|拿到手|到手|账单|扣款记录"
                         r"|支付记录|收到的key|给我发了|thekeyigot|thekeyyousent|拿到的|说好的|说好(?:给|发)我?"
                         r"|(?:扣费|扣款|支付|付款)(?:短信|通知|截图)")
# A key that came short, wrong or empty: a fault of the payment itself, with any wording of the purchase.
_SHORT_OR_EMPTY = (r"发错|给错|错档|只有一半|少了一半|数不对|(?:额度|金额).{0,4}(?:不对|好少|太少)|漏发|少发|不一样|不一鸭|不一致|小份"
                   r"|少很多|是空的|为空|空白|一分钱都没|zero|只收到"
                   # less credit than bought ("买的100刀给了10刀", "到手的额度只有十刀", "only has $10 instead of $100"),
                   # fewer keys than promised ("到手就两串")
                   r"|给了?[\d一二两三四五六七八九十百]+(?:刀|块|元|美金|美元)|到手的?(?:额度)?(?:只有|才|就)[\d一二两三四五六七八九十百]+"
                   r"|insteadof|onlyhas\$?\d"
                   # a key that came cut: "少一位", "少了几为" (an IME's 位), "短咗几个字" (短了), "复制不全"
                   r"|少了?(?:一|两|几|\d)(?:位|为|个字)|短了|不完整|不全|搞错|弄错"
                   # fewer than bought ("买了3个只给了1个", "其余两条呢"), less credit than promised
                   r"|只(?:给了?我?|来了?|到了?|发了?我?|出了?|收到|拿到)(?:一|两|二|三|四|五|六|七|八|九|十|几|\d)+(?:个|份|条|张)"
                   r"|(?:其余|另外|剩下)的?.{0,4}呢|少了一截|短了一截|缺了一截|onlygot\d|onlygotone|onlyreceived"
                   # a key someone used before: "被人用过了", "别人用过的"
                   r"|(?:被人|别人|他人|有人)用过|已被使用|usedbysomeone|alreadyused"
                   # a key sent empty or smaller than chosen ("拿到手一查余额是0", "给我发的是小额的")
                   r"|(?:余额|额度)(?:是|为|只有|才)\$?0(?:\.0+)?(?![.\d]|了)(?!.{0,8}(?:怎么|如何|能|可以).{0,3}(?:充|续))"
                   r"|(?:发|给)(?:我)?的是?小额(?!.{0,6}(?:还是|吗))"
                   # another model than the one bought ("买的是gpt-4的，给我的key只能用3.5")
                   r"|(?:gpt-?|(?<![\d.]))(?:4|四)(?:o|\.0|点零)?(?![\d.个月次年天块元刀])(?:(?!吗|还是|或).){0,24}"
                   r"(?:只能用|只能调|给的是|发的是|给我的是|发给我的是|发的式|给的式|成了|变成|发成|给成)了?(?:那个)?(?:gpt-?)?"
                   r"(?:3\.?5|三点五)(?![\d元块刀次天倍个])"
                   r"|(?:查出来|到账|到手|显示)(?:只有|才)|只到了?\d|不该是\d|不应该是\d"
                   # a key refused for the model it was bought for, or spent at once ("才聊了几句", "没怎么用")
                   r"|没(?:有)?权限|(?:才|只)聊了几句|根本没怎么用|没怎么用就"
                   # the shop says an order that was paid is unpaid
                   r"|(?:显示|说|提示|还是|仍然|仍是|依然|却说|偏说)(?:显示|说)?(?:是)?(?:我)?(?:还)?(?:未|没|没有|待)"
                   r"(?:支付|付款|付钱|付|交钱|交款)|unpaid")
# A key the software does not know, a delivery promised at once that did not come: faults of the
# purchase itself, for the trouble and the strong-fault rules alike.
_REFUSED_OR_LATE = r"不认识|秒发呢"
_TROUBLE = re.compile(
    r"用不了|不能用|用唔到|用不聊|没法用|报错|不存在|无效|无笑|乱码|invalid|没拿到|拿不到|没收到|收不到|没来(?!得及)|没到(?!期)|没给|没发|没出来|刷新了"
    r"|什么都没|啥都没|空空|不对|对不上|没完成|没确认|未完成|失败|没成功|不成功|转圈|卡住|就没了|页面没了|找不到|来晚了|不见了|没显示|多了一笔"
    r"|一模一样|(?:两|俩|2)(?:回|次|遍|笔)|三笔|差价|额度为0|余额为0|变成0|是0|退|推款|refund|twice|expired|nokey|didnt|never"
    r"|不正确|作废了|已作废|被作废|重新付|再付一|还要付|又要付|让我付|gotnothing|receivednothing|nothingback|补发"
    r"|来得及复制|来不及复制|未抄|没抄|找回|后悔|钱.{0,3}回来|订单关闭|关闭了|关比|来得及抄|没复制|没复至|没动静|动静都没|被吞"
    r"|noapikey|nokeyever|nevershowed|wrongtier|stillwaiting|waitingformykey|keptloading|insufficientquota|notworking"
    # a demand for what was paid for ("刚付完，key呢？"), or silence since ("一直没消息")
    r"|(?:key|密钥|卡密|东西|货)呢|没(?:有)?(?:key|密钥)|没消息|没下文|没回音|(?:啥|什么)也没"
    # a key out of credit before it was used ("刚买完的key第一下调用就提示额度用完了", "一次都没用过就说额度用光了")
    r"|(?:新买|刚买|刚购买|刚到手|刚拿到|才买).{0,16}(?:余额|额度)(?:不足|用完|用光)|(?:余额|额度)(?:不足|用完|用光).{0,12}(?:一次都|没用过|还没用)"
    r"|(?:一次都|没用过|还没用|一个字都没).{0,12}(?:余额|额度)(?:不足|用完|用光)"
    r"|(?:没|未)复制到|说我没(?:买|付|下单)|已关闭|交易关闭|没见着|原来的数"
    r"|只?显示了?一(?:下|次|遍)|shownonce|lostitbefore|resend|钱.{0,4}还给我|\d+(?:块|元)?还给我|连不上|退我|付多了|多付了|输成了?|已取消|取消了"
    # a long wait, a page that broke, a key refused or empty of credit, a top-up that changed nothing
    r"|等(?:了)?(?:半天|好久|很久|这么久|到现在|到天黑)|一直等|还在等|处理中|白屏|一片白|一片空白|崩了"
    # a key never seen, nothing back, a credit unchanged, a call refused, an order gone, a time-out
    r"|(?:key|密钥|码)(?:也|都|还)?没(?:看到|见到|看见)|(?:东西|货)(?:也|还|都)?没(?:回来|到|来)|石沉大海|杳无音信|没音讯"
    r"|没(?:有)?变|没(?:有)?加上|无法使用|无法用|被拒|(?:那一?单|订单|单子).{0,4}没了|时间到了"
    # ("余额不足" alone asks how to top up; at once after buying it is a fault)
    r"|(?:一用就|就报|直接报|马上|立刻)(?:报|说|提示|显示)?(?:余额|额度)不足|(?<![\d.])401(?![\d.]|端口|元|块|刀|美元|美金|rmb|人民币)|没动|一点没变|没涨|hasnt|notcredited|"
    + _REFUSED_OR_LATE + "|" + _SHORT_OR_EMPTY)
_KEY_FAULT = re.compile(r"无效|无笑|invalid|不存在|乱码|没收到|没拿到|收不到|没有?发(?!票)|没给|没来(?!得及)|没到(?!期)|没出来")
# With a plain "买的"/"付的": a fault of the key or the payment itself, or a request to send it again.
_STRONG = re.compile(_KEY_FAULT.pattern + r"|对不上|付错|多了一笔|一模一样|重新发|补发|再发一|说不对|小额|wrong|refund"
                     r"|" + _REFUSED_OR_LATE + "|" + _SHORT_OR_EMPTY)
_SHOPS = r"(?:淘宝|天猫|京东|拼多多|闲鱼|抖音|快手|美团|亚马逊|amazon|ebay)"
_HYPOTHETICAL = re.compile(r"担心|万一|如果|假如|(?<![主只需重总])要是|的话|政策|会不会|怕(?!是)|别家|其他家|别的平台"
                           r"|(?:以前|之前)在(?!你们|你这|你家|这|贵)"
                           # an order with another shop or service is not one of ours; a shop's way to pay is no order there
                           # ("京东白条付了钱没收到key"), nor is one denied ("我不是在淘宝买的")
                           r"|(?:在|从|去)" + _SHOPS + r"(?!金融|白条|钱包)"
                           r"|" + _SHOPS + r"(?:上|里|店|买|购|拍|下单|退|自营|外卖|那边|那家|的店|的订单|的退款|订单)"
                           r"|openai(?:官网|那边)|plus会员"
                           # another service's money (a ride-hailing wallet, phone credit, a game, food delivery)
                           r"|打车|滴滴|话费|外卖|王者荣耀"
                           # a report already handled: thanks, not a new one
                           r"|处理好了|已经解决|已解决|搞定了|(?:问题)?已经好了|(?:钱|款)?(?:也|已经|都)?退回来了"
                           r"|补发了|(?:已经|现在)(?:能|可以)(?:正常)?用了"
                           # how fast delivery is, asked as a choice ("钱付了是秒发还是等人工"); how to check something
                           # ("怎么确认钱没被多扣")
                           r"|是(?:秒发|马上|立即|立刻|自动|即时).{0,6}还是|^(?:请问)?(?:怎么|如何)(?:确认|确定|判断)"
                           # asked before buying
                           r"|买之前|购买前|没买之前|还没买|先问问|先问一下"
                           # what happens after buying, a purchase still to come
                           r"|(?:以后|之后)是不是|想再(?:买|拍|下单|来)一|(?:领导|老板|公司)(?:让|叫|要)我.{0,6}(?:付|买|下单)")
# A shop denied ("我不是在淘宝买的", "我没在淘宝买"): the hypothetical check above never sees it.
_SHOP_DENIED = re.compile(r"(?:不是|没有?|并非|不在)(?:在|从|去)?" + _SHOPS)
# A yes/no question about what may happen after paying ("付款后要等很久吗", "会扣费两次吗", "买的key只有一个吗")
# with no payment in the past tense and no fault of the key: a question, whatever trouble it names.
# One clause only: a report often states the fault and then asks ("付款后提示订单已关闭，钱能退吗"); 为什么/什么
# ask why something happened; a WeChat emoji code at the end ("[捂脸]") is no part of the question.
_YES_NO = re.compile(r"(?<!什)(?:吗|么|嘛)$|是不是|能不能|可不可以|能否")
_PAST = re.compile(r"(?<![为除])了(?!解|以后|之后)")
_EMOJI_CODE = re.compile(r"(?:\[[^\[\]]{1,8}\])+$")


def _one_yes_no_clause(normalized: str) -> bool:
    """A single clause that ends as a yes/no question (``normalized``: the text after ``normalize``)."""
    core = _EMOJI_CODE.sub("", normalized.strip()).rstrip("?？!！~～。. ")
    return _PUNCT_RE.search(core) is None and _YES_NO.search(core) is not None


_KINDS = (("double_charge", re.compile(r"(?:两|俩|2|二)(?:回|次|遍|笔)|三笔|twice|多了一笔|一模一样|重[复夫]|又付")),
          ("refund", re.compile(r"退|推款|refund")),
          ("expired_after_paying", re.compile(r"过期|expired|来晚了|超时|已关闭|作废")),
          ("paid_no_key", _KEY_FAULT))
# A weaker sign, a past payment next to an amount, order number or date, takes a statement: a question
# about what the FAQ answers ("买了100刀在哪查余额") has one of these.
_QUESTIONY = re.compile(r"请问|想问|在哪|哪里|怎么|如何|有没有|能否|是否|还是|多久|多少|发票|开票|余额|用完")


# How to set the key up ("应该填什么", "先检查哪里", "要在哪换一下"), after a purchase and an error that
# is no fault of the key itself: the FAQ's troubleshooting answers it, no order went wrong.
_SETUP_QUESTION = re.compile(r"填什么|填哪|该填|检查哪|先查哪|在哪(?:里|儿)?(?:换|改|填|设置|更新)|怎么(?:换|改|填|设置|配置|更新)"
                             r"|要改什么|哪里设置|是不是.{0,6}没(?:改|换|填|设置)")


# ... a fault the setup question cannot be about: the key refused, spent, closed, or a new one wanted
_SPECIFIC = re.compile(r"作废|不正确|不对|余额不足|额度不足|insufficient|没激活|未激活|关闭|退|换一个|换个新|新的|重新发|补发")


_CONDITIONAL = frozenset(("如果", "假如", "要是", "的话"))


def _is_hypothetical(norm: str) -> bool:
    """A hypothetical, another shop or a question before buying; a condition (如果, 要是) that comes after a
    payment stated as done ("付了钱没收到key，要是今天还不发我就投诉") is about what happens next, not the payment."""
    for m in _HYPOTHETICAL.finditer(norm):
        if m.group() not in _CONDITIONAL or not (_BOUGHT.search(norm, 0, m.start()) or _PAST_PAY.search(norm, 0, m.start())):
            return True
    return False


def _no_report(normalized: str, norm: str) -> bool:
    return _is_hypothetical(_SHOP_DENIED.sub("", norm)) or (
        _one_yes_no_clause(normalized) and _PAST.search(norm) is None and _STRONG.search(norm) is None)


def reports_nothing(text: str) -> bool:
    """A hypothetical, a question before buying, another shop's order, or a report already handled:
    whatever order words it has, no report to open (the FAQ's order entry answers it instead)."""
    normalized = normalize(text)
    return _no_report(normalized, _PUNCT_RE.sub("", normalized))


def classify(text: str, cfg: TicketsPolicy) -> str | None:
    """The order-problem class of ``text``, or None when it is not about an order problem."""
    if not text:
        return None
    normalized = normalize(text)
    norm = _PUNCT_RE.sub("", normalized)
    phrases = _compiled(cfg)
    hypothetical = _no_report(normalized, norm)
    if phrases.any is not None and not hypothetical and phrases.any.search(norm):
        for cat, pattern in phrases.ordered:
            if pattern.search(norm):
                return cat
    if hypothetical:
        return None
    if _TROUBLE.search(norm) and (_BOUGHT.search(norm) or (_BOUGHT_KEY.search(norm) and _STRONG.search(norm))) \
            and not (_SETUP_QUESTION.search(norm) and _STRONG.search(norm) is None and _SPECIFIC.search(norm) is None):
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
