"""The policy an admin decides: ``config/bot.yaml`` as one typed model (``BotConfig``, one section per
feature, unknown keys refused), validated at start by ``load_bot_config``."""
from __future__ import annotations

import hashlib
import json
import logging
import re
import string
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from croniter import croniter
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from .settings import ConfigError, one_line, yaml_load

log = logging.getLogger(__name__)

PASSWORD_VALUE_RE = re.compile(r"^[A-Za-z0-9_.~@+=-]+$")


class Section(BaseModel):
    """A ``bot.yaml`` section: unknown keys are errors, so typos are caught at start."""

    model_config = ConfigDict(frozen=True, extra="forbid")


class WebhookPolicy(Section):
    msg_limit: int = Field(30, ge=1)  # messages per follower per window, then one "slow down" text
    msg_window: int = Field(60, ge=1)


class PasswordPolicy(Section):
    site_url: str = ""  # the free NextChat address; empty -> the reply has no link
    menu_key: str = "PASSWORD"  # EventKey of the 【密码】 click button (config/menu.yaml)
    keywords: list[str] = Field(default_factory=lambda: [
        "密码", "公益版密码", "公益密码", "nextchat密码", "获取密码", "今天的密码", "今日密码", "最新密码",
        "新密码", "当前密码", "密码是多少", "密码多少", "密码是什么", "求密码", "要密码", "发密码", "给我密码",
        "访问密码", "公益版nextchat密码", "口令", "password", "pwd",
    ])
    # A short message containing one of ``contains`` (and none of ``exclude``) also asks for it.
    contains: list[str] = Field(default_factory=lambda: ["密码", "口令", "password"])
    exclude: list[str] = Field(default_factory=lambda: [
        "支付", "银行", "微信", "qq", "邮箱", "账号", "账户", "忘", "找回", "重置", "修改", "改密", "设置",
        "钱包", "手机", "锁屏", "wifi", "路由", "gmail", "email", "outlook", "icloud", "reset", "forgot",
    ])
    cooldown_limit: int = Field(10, ge=1)  # answers per follower per window, then the cooldown text
    cooldown_window: int = Field(60, ge=1)
    length: int = Field(8, ge=6, le=64)  # generated passwords
    min_length: int = Field(6, ge=4, le=64)  # values set by admins
    schedule_cron: str | None = None  # e.g. "0 0 * * *" (in ``timezone``)
    schedule_every_hours: int | None = Field(None, ge=1, le=24 * 31)
    valid_hours: int = Field(0, ge=0)  # without a schedule: stated validity of a new password (0 = none)
    grace_seconds: int = Field(3600, ge=0)  # NextChat keeps accepting the password followers saw before
    alert_after_failures: int = Field(3, ge=1)

    @field_validator("site_url")
    @classmethod
    def _site(cls, v: str) -> str:
        v = v.strip().rstrip("/")
        if v and not re.match(r"^https?://[^\s/?#]+(/[^\s?#]*)?$", v):
            raise ValueError("必须是 http:// 或 https:// 开头的网址，不能带 ? 或 # 后面的部分")
        return v

    @field_validator("schedule_cron")
    @classmethod
    def _cron(cls, v: str | None) -> str | None:
        v = (v or "").strip() or None
        if v and not croniter.is_valid(v):
            raise ValueError(f"{v!r} 不是有效的 cron 表达式")
        return v

    @model_validator(mode="after")
    def _one_schedule(self) -> "PasswordPolicy":
        if self.schedule_cron and self.schedule_every_hours:
            raise ValueError("schedule_cron 和 schedule_every_hours 只能设置一个")
        return self


class FaqPolicy(Section):
    file: str = "faq.yaml"  # relative to WXBOT_CONFIG_DIR
    threshold: float = 2.5  # minimum score to answer
    ambiguity_ratio: float = 0.8  # runner-up at >= this share of the best score -> ask which one
    ask_threshold: float | None = None  # from here up to threshold: ask which one (None: fall back)
    topics_shown: int = 8  # topics listed in the fallback and the greeting
    count_unmatched: bool = True
    # Thanks and acknowledgements ("谢谢", "好的", "👍"): a short "you're welcome", not "I don't know",
    # and not counted as unanswered questions.
    ack_words: list[str] = ["谢谢", "谢谢你", "谢谢啦", "多谢", "感谢", "感谢感谢", "thanks", "thankyou", "thx", "3q",
                            "好的", "好", "好滴", "好嘞", "行", "可以", "收到", "ok", "okay", "嗯", "嗯嗯", "哦", "哦哦",
                            "明白", "明白了", "知道了", "了解", "懂了", "👍", "🙏", "👌", "[微笑]", "[强]", "[ok]",
                            "[抱拳]", "[玫瑰]", "[握手]", "[胜利]", "[耶]"]


# What a support template field may name (wxbot.features.tickets.delivery renders them).
TEMPLATE_PLACEHOLDERS = frozenset({"id", "category", "order_no", "paid_at", "amount", "created", "shots",
                                   "description"})


def template_problem(pattern: str, allowed: frozenset[str]) -> str | None:
    """Why ``pattern`` (a ``str.format`` template) cannot be rendered from ``allowed`` names, or None."""
    try:
        parsed = list(string.Formatter().parse(pattern))
    except ValueError as exc:
        return f"不是有效的模板（{exc}）"
    for _text, name, spec, _conv in parsed:
        if name is None:
            continue
        if name not in allowed:
            return f"没有占位符 {{{name}}}（可以用：{', '.join(sorted(allowed))}）"
        if spec and ("{" in spec):
            return f"{{{name}:{spec}}} 里不能再套占位符"
    return None


class TicketsPolicy(Section):
    dialog_timeout: int = Field(600, ge=30)  # seconds a half-finished report waits for the follower
    max_open_per_follower: int = Field(3, ge=1)  # tickets not yet closed
    max_reports_per_hour: int = Field(5, ge=1)
    # tickets of all followers per hour; past it new ones are stored and acknowledged but held back from
    # support (one alert; `wxbot tickets held` / `release`) -- a flood of forged reports reaches nobody
    max_tickets_per_hour: int = Field(100, ge=1)
    max_screenshots: int = Field(3, ge=0)
    status_words: list[str] = ["工单", "进度", "我的工单", "工单进度", "查询工单", "查工单", "查进度"]
    cancel_words: list[str] = ["取消", "算了", "不用了", "取消登记"]
    submit_words: list[str] = ["提交", "就这些", "没有了", "直接提交", "提交工单"]
    passthrough_words: list[str] = ["密码"]  # left to other features even mid-dialogue
    # asking for a person: answered with the ACG508 contact (and how to report an order problem)
    human_words: list[str] = ["人工", "人工客服", "转人工", "找人工", "人工服务", "真人", "真人客服", "转人工客服",
                              "联系客服", "怎么联系客服", "找客服", "客服微信", "客服微信多少", "客服电话",
                              "客服联系方式", "联系方式"]
    # small talk in the middle of a report: carries nothing for it, so other features answer it
    chat_words: list[str] = ["谢谢", "多谢", "谢谢你", "感谢", "好的", "好", "嗯", "嗯嗯", "哦", "ok", "收到", "知道了",
                             "明白了", "行", "在吗", "你好", "您好"]
    # category -> regexes (on simplified, lower-case text); empty: the defaults in features/tickets/understanding.py
    phrases: dict[str, list[str]] = {}
    # hosts a screenshot's PicUrl may be fetched from (".x" = any subdomain of x); media_id is tried first
    picture_hosts: list[str] = [".qpic.cn", ".qlogo.cn"]
    # template message fields for support (when WXBOT_SUPPORT_TEMPLATE_ID is set); values are
    # rendered with {id} {category} {order_no} {created} {amount} and clipped to 20 characters.
    support_template_fields: dict[str, str] = {
        "character_string1": "{id}", "thing2": "{category}", "time3": "{created}", "thing4": "{order_no}",
    }

    @field_validator("support_template_fields")
    @classmethod
    def _placeholders(cls, v: dict[str, str]) -> dict[str, str]:
        for name, pattern in v.items():  # a typo is a start-up error, not a delivery failing per ticket
            bad = template_problem(pattern, TEMPLATE_PLACEHOLDERS)
            if bad:
                raise ValueError(f"{name}: {bad}")
        return v

    @field_validator("phrases")
    @classmethod
    def _regexes(cls, v: dict[str, list[str]]) -> dict[str, list[str]]:
        for cat, patterns in v.items():  # a bad regex is a start-up error, not a 500 later
            for p in patterns:
                try:
                    re.compile(p)
                except re.error as exc:
                    raise ValueError(f"{cat}：正则表达式 {p!r} 无效：{exc}") from None
        return v


class AlertsPolicy(Section):
    cooldown: int = Field(3600, ge=0)  # the same alert reaches admins at most once per this many seconds
    redis_down_after: float = Field(60.0, gt=0)  # Redis unreachable this long -> alert admins


class AiPolicy(Section):
    """AI answers for what the FAQ cannot answer (on only when WXBOT_AI_API_KEY is set)."""

    model: str = "gpt-4o-mini"
    temperature: float = Field(0.2, ge=0, le=2)
    max_tokens: int = Field(400, ge=16, le=4096)
    prompt_file: str = "ai_prompt.txt"  # the system prompt, relative to WXBOT_CONFIG_DIR
    # Overall deadline of one model call (from the moment the question was asked): below WeChat's
    # third try's reply deadline (~14.5 s), so a failing model still yields the fallback in time.
    call_deadline: float = Field(12.0, gt=0, le=60)
    follower_daily_quota: int = Field(20, ge=1)  # model answers per follower per day
    daily_token_budget: int = Field(200_000, ge=1)  # tokens per day for the whole account
    cache_hours: int = Field(24, ge=0)  # an answer is reused for the same question and FAQ version
    max_waiters: int = Field(8, ge=0)  # webhook threads per web process waiting for answers
    concurrency: int = Field(4, ge=1, le=64)  # model calls in flight per worker process
    min_chars: int = Field(4, ge=1)  # shorter messages are not treated as questions
    alert_after_failures: int = Field(5, ge=1)  # consecutive failed calls, then one admin alert


# Keys that moved: (section, key) -> the top-level key that replaced it. Still read, with one warning.
DEPRECATED_KEYS = {("password", "timezone"): "timezone"}


def deprecated_keys(raw: object) -> list[str]:
    """One line per deprecated key ``raw`` (bot.yaml as parsed) still uses, saying where it went."""
    if not isinstance(raw, dict):
        return []
    return [f"{section}.{key} 是旧写法：请改写成最外层的 `{new}:`（现在仍然有效）"
            for (section, key), new in DEPRECATED_KEYS.items()
            if isinstance(raw.get(section), dict) and key in raw[section]]


class BotConfig(Section):
    """``config/bot.yaml``: what an admin decides. Read at start (a change needs a restart)."""

    # The one zone of every time a person reads (tickets' ids and dates, the CLI, the console, staff
    # commands, the follower's 工单 list), of the password schedule and of daily quotas. Logs are UTC.
    timezone: str = "Asia/Shanghai"
    webhook: WebhookPolicy = WebhookPolicy()
    password: PasswordPolicy = PasswordPolicy()
    faq: FaqPolicy = FaqPolicy()
    tickets: TicketsPolicy = TicketsPolicy()
    alerts: AlertsPolicy = AlertsPolicy()
    ai: AiPolicy = AiPolicy()

    @model_validator(mode="before")
    @classmethod
    def _moved_keys(cls, data: object) -> object:
        """Read the old place of a moved key (``password.timezone``) into its new one."""
        if not isinstance(data, dict):
            return data
        data = dict(data)
        for (section, key), new in DEPRECATED_KEYS.items():
            old = data.get(section)
            if not (isinstance(old, dict) and key in old):
                continue
            old = dict(old)
            value = old.pop(key)
            data[section] = old
            if new in data and data[new] != value:
                raise ValueError(f"{section}.{key}（{value!r}）和 {new}（{data[new]!r}）不一样：只保留 {new}")
            data[new] = value
        return data

    @field_validator("timezone")
    @classmethod
    def _tz(cls, v: str) -> str:
        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"没有时区 {v!r}") from None
        return v

    def fingerprint(self) -> dict[str, str]:
        """A short hash per top-level setting (each section, ``timezone``) of the values as loaded, so
        comments and formatting do not count: the doctor compares the running bot's with the file's."""
        dumped = self.model_dump(mode="json")
        return {name: hashlib.sha256(json.dumps(value, sort_keys=True, ensure_ascii=False).encode()).hexdigest()[:12]
                for name, value in dumped.items()}

    @property
    def zone(self) -> ZoneInfo:
        """``timezone`` as a tzinfo (ZoneInfo caches its instances, so this is cheap)."""
        return ZoneInfo(self.timezone)


def load_bot_config(config_dir: Path) -> BotConfig:
    """Validate ``config_dir/bot.yaml`` (absent: all defaults); raise ConfigError in one line."""
    path = Path(config_dir) / "bot.yaml"
    try:
        raw = yaml_load(path) if path.exists() else None
        if raw is None:
            raw = {}
        if not isinstance(raw, dict):
            raise ValueError("最外层必须是各个部分（password:、faq: …）的映射")
        config = BotConfig.model_validate(raw)
    except (yaml.YAMLError, ValidationError, ValueError) as exc:
        raise ConfigError(f"{path}: {one_line(exc)}") from None
    for line in deprecated_keys(raw):
        log.warning("bot.yaml: %s", line)
    return config
