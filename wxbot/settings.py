"""Typed configuration, validated at start.

* ``Settings``: secrets and endpoints from the environment, read once per process.
* ``BotConfig``: the policy an admin decides, from ``config/bot.yaml`` (one model, unknown keys
  refused). Internal constants live in ``wxbot.defaults``; follower texts in ``wxbot.texts``.
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import json
import logging
import os
import re
import string
from pathlib import Path
from typing import Mapping
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from croniter import croniter
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from .defaults import Internals

TOKEN_RE = re.compile(r"^[A-Za-z0-9]{3,32}$")
APP_ID_RE = re.compile(r"^wx[0-9a-f]{16}$")
S3_BUCKET_RE = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")

log = logging.getLogger(__name__)


class ConfigError(Exception):
    """A configuration value is missing or malformed; ``str()`` is one line naming the variable."""


def _split_list(value: object) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, (list, tuple)):
        return tuple(str(v).strip() for v in value if str(v).strip())
    return tuple(part.strip() for part in str(value).split(",") if part.strip())


def _check_url(value: str | None) -> str | None:
    if not value:
        return None
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("must be an http:// or https:// URL")
    return value


class Settings(BaseModel):
    """Everything wxbot reads from the environment. Frozen: handlers never read ``os.environ``."""

    model_config = ConfigDict(frozen=True, populate_by_name=True, extra="ignore")

    wechat_token: str = Field(alias="WECHAT_TOKEN")
    wechat_app_id: str | None = Field(default=None, alias="WECHAT_APP_ID")
    wechat_app_secret: str | None = Field(default=None, alias="WECHAT_APP_SECRET", repr=False)
    wechat_encoding_aes_key: str | None = Field(
        default=None, alias="WECHAT_ENCODING_AES_KEY", repr=False
    )
    wechat_api_base_url: str = Field(
        default="https://api.weixin.qq.com", alias="WECHAT_API_BASE_URL"
    )
    redis_url: str | None = Field(default=None, alias="REDIS_URL", repr=False)
    redis_sentinels: tuple[str, ...] = Field(default=(), alias="REDIS_SENTINELS")
    redis_sentinel_master: str | None = Field(default=None, alias="REDIS_SENTINEL_MASTER")
    # The bot folder (``wxbot init``): WXBOT_HOME, else the working directory. Its config/ and var/ are
    # the defaults of WXBOT_CONFIG_DIR and WXBOT_DATA_DIR (absolute, so every process agrees).
    home: Path = Field(default=Path("."), alias="WXBOT_HOME")
    data_dir: Path = Field(default=Path("./var"), alias="WXBOT_DATA_DIR")
    config_dir: Path = Field(default=Path("./config"), alias="WXBOT_CONFIG_DIR")
    admin_openids: tuple[str, ...] = Field(default=(), alias="WXBOT_ADMIN_OPENIDS")
    support_openids: tuple[str, ...] = Field(default=(), alias="WXBOT_SUPPORT_OPENIDS")
    admin_token: str | None = Field(default=None, alias="WXBOT_ADMIN_TOKEN", repr=False)
    # Signs the console's session cookies and CSRF tokens (`wxbot init` generates one); without it
    # /console answers 404.
    secret_key: str | None = Field(default=None, alias="WXBOT_SECRET_KEY", repr=False)
    password_sync_url: str | None = Field(default=None, alias="WXBOT_PASSWORD_SYNC_URL", repr=False)
    password_sync_secret: str | None = Field(
        default=None, alias="WXBOT_PASSWORD_SYNC_SECRET", repr=False
    )
    ticket_webhook_url: str | None = Field(default=None, alias="WXBOT_TICKET_WEBHOOK_URL", repr=False)
    ticket_webhook_secret: str | None = Field(
        default=None, alias="WXBOT_TICKET_WEBHOOK_SECRET", repr=False
    )
    wecom_webhook_url: str | None = Field(default=None, alias="WXBOT_WECOM_WEBHOOK_URL", repr=False)
    support_template_id: str | None = Field(default=None, alias="WXBOT_SUPPORT_TEMPLATE_ID")
    log_level: str = Field(default="INFO", alias="WXBOT_LOG_LEVEL")
    # AI answers (wxbot/features/ai): off unless the key is set.
    ai_api_key: str | None = Field(default=None, alias="WXBOT_AI_API_KEY", repr=False)
    ai_base_url: str = Field(default="https://api.juheai.top", alias="WXBOT_AI_BASE_URL")
    # Reverse proxies in front of wxbot that set X-Forwarded-For (nginx: 1); 0 = use the connection's address.
    trusted_proxies: int = Field(default=0, ge=0, le=5, alias="WXBOT_TRUSTED_PROXIES")
    # Screenshots in an S3-compatible bucket (`pip install 'wxbot[s3]'`); unset: in Redis.
    s3_endpoint: str | None = Field(default=None, alias="WXBOT_S3_ENDPOINT")
    s3_bucket: str | None = Field(default=None, alias="WXBOT_S3_BUCKET")
    s3_region: str = Field(default="us-east-1", alias="WXBOT_S3_REGION")
    s3_access_key: str | None = Field(default=None, alias="WXBOT_S3_ACCESS_KEY", repr=False)
    s3_secret_key: str | None = Field(default=None, alias="WXBOT_S3_SECRET_KEY", repr=False)
    # Test-only: JSON overriding wxbot.defaults for real subprocesses (see wxbot.defaults).
    test_internals: str | None = Field(default=None, alias="WXBOT_TEST_INTERNALS", repr=False)

    @field_validator("wechat_token")
    @classmethod
    def _token(cls, v: str) -> str:
        if not TOKEN_RE.match(v):
            raise ValueError("must be 3-32 letters or digits, as the MP console requires")
        return v

    @field_validator("wechat_app_id")
    @classmethod
    def _app_id(cls, v: str | None) -> str | None:
        if v and not APP_ID_RE.match(v):
            raise ValueError("must look like wx followed by 16 hex digits (MP console > 基本配置)")
        return v or None

    @field_validator("wechat_encoding_aes_key")
    @classmethod
    def _aes_key(cls, v: str | None) -> str | None:
        if not v:
            return None
        if len(v) != 43:
            raise ValueError("must be exactly 43 characters (MP console > 基本配置 > EncodingAESKey)")
        try:
            raw = base64.b64decode(v + "=", validate=True)
        except (binascii.Error, ValueError):
            raise ValueError("is not valid base64") from None
        if len(raw) != 32:
            raise ValueError("must decode to 32 bytes")
        return v

    @field_validator(
        "wechat_api_base_url",
        "password_sync_url",
        "ticket_webhook_url",
        "wecom_webhook_url",
        "ai_base_url",
    )
    @classmethod
    def _url(cls, v: str | None) -> str | None:
        return _check_url(v)

    @field_validator("s3_endpoint")
    @classmethod
    def _s3_endpoint(cls, v: str | None) -> str | None:
        v = _check_url(v)
        if v and urlsplit(v).path.strip("/"):
            raise ValueError("must be the server's address only, e.g. https://s3.example.com (the bucket is "
                             "WXBOT_S3_BUCKET)")
        return v

    @field_validator("s3_bucket")
    @classmethod
    def _s3_bucket(cls, v: str | None) -> str | None:
        if v and not S3_BUCKET_RE.match(v):
            raise ValueError("must be 3-63 lower-case letters, digits, dots or hyphens")
        return v or None

    @field_validator("redis_url")
    @classmethod
    def _redis_url(cls, v: str | None) -> str | None:
        if not v:
            return None
        if urlsplit(v).scheme not in ("redis", "rediss", "unix"):
            raise ValueError("must be a redis://, rediss:// or unix:// URL")
        return v

    @field_validator("redis_sentinels", "admin_openids", "support_openids", mode="before")
    @classmethod
    def _lists(cls, v: object) -> tuple[str, ...]:
        return _split_list(v)

    @field_validator("redis_sentinels")
    @classmethod
    def _sentinels(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        for item in v:
            host, _, port = item.rpartition(":")
            if not host or not port.isdigit():
                raise ValueError(f"entry {item!r} must be host:port")
        return v

    @field_validator("admin_token", "password_sync_secret", "ticket_webhook_secret", "ai_api_key", "s3_access_key",
                     "s3_secret_key", mode="before")
    @classmethod
    def _empty_is_none(cls, v: object) -> object:
        return v or None

    @field_validator("secret_key")
    @classmethod
    def _secret_key(cls, v: str | None) -> str | None:
        if not v:
            return None
        if len(v) < 32:
            raise ValueError("must be at least 32 characters (python3 -c 'import secrets; print(secrets.token_urlsafe(32))')")
        return v

    @field_validator("log_level")
    @classmethod
    def _level(cls, v: str) -> str:
        v = v.upper()
        if v not in ("DEBUG", "INFO", "WARNING", "ERROR"):
            raise ValueError("must be DEBUG, INFO, WARNING or ERROR")
        return v

    # -- derived ---------------------------------------------------------------------------
    @property
    def safe_mode(self) -> bool:
        """Safe/compatible mode comes from configuration only, never from the request."""
        return self.wechat_encoding_aes_key is not None

    @property
    def aes_key_bytes(self) -> bytes | None:
        if not self.wechat_encoding_aes_key:
            return None
        return base64.b64decode(self.wechat_encoding_aes_key + "=")

    @property
    def ai_enabled(self) -> bool:
        return bool(self.ai_api_key)

    def is_admin(self, openid: str) -> bool:
        return openid in self.admin_openids

    def is_support(self, openid: str) -> bool:
        return openid in self.support_openids

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> "Settings":
        """Build settings from ``environ`` (default: ``os.environ`` after ``load_env``: the bot folder's
        ``.env`` fills in what the real environment does not set); raise ConfigError on a bad value.

        WXBOT_CONFIG_DIR and WXBOT_DATA_DIR default to the bot folder's config/ and var/; a config
        directory that does not exist is an error naming the folder, never a half-empty bot."""
        if environ is None:
            load_env()
            environ = os.environ
        names = {f.alias for f in cls.model_fields.values() if f.alias}
        data = {k: v for k, v in environ.items() if k in names and v != ""}
        home = bot_home(environ)
        data["WXBOT_HOME"] = str(home)
        # relative paths are the bot folder's (a .env may say WXBOT_DATA_DIR=var2)
        data["WXBOT_CONFIG_DIR"] = str(home / data.get("WXBOT_CONFIG_DIR", "config"))
        data["WXBOT_DATA_DIR"] = str(home / data.get("WXBOT_DATA_DIR", "var"))
        if not Path(data["WXBOT_CONFIG_DIR"]).is_dir():
            raise ConfigError(missing_config_message(home, Path(data["WXBOT_CONFIG_DIR"]),
                                                     "WXBOT_CONFIG_DIR" in environ))
        try:
            settings = cls.model_validate(data)
        except ValidationError as exc:
            raise ConfigError(_first_error(exc)) from None
        if settings.safe_mode and not settings.wechat_app_id:
            raise ConfigError(
                "WECHAT_APP_ID: required when WECHAT_ENCODING_AES_KEY is set (safe mode encrypts with it)"
            )
        if bool(settings.redis_sentinels) != bool(settings.redis_sentinel_master):
            raise ConfigError(
                "REDIS_SENTINEL_MASTER: REDIS_SENTINELS and REDIS_SENTINEL_MASTER must be set together"
            )
        s3 = {"WXBOT_S3_ENDPOINT": settings.s3_endpoint, "WXBOT_S3_BUCKET": settings.s3_bucket,
              "WXBOT_S3_ACCESS_KEY": settings.s3_access_key, "WXBOT_S3_SECRET_KEY": settings.s3_secret_key}
        if any(s3.values()) and not all(s3.values()):
            missing = " and ".join(k for k, v in s3.items() if not v)
            raise ConfigError(f"{missing.split(' and ')[0]}: screenshots in S3 need {', '.join(s3)} together "
                              f"(missing: {missing}); unset them all to keep screenshots in Redis")
        return settings

    @property
    def s3_enabled(self) -> bool:
        """Screenshots go to the S3 bucket (else to Redis)."""
        return bool(self.s3_endpoint and self.s3_bucket)

    def internals(self) -> Internals:
        """The internal constants, with ``WXBOT_TEST_INTERNALS`` applied (tests only)."""
        try:
            return Internals.from_json(self.test_internals)
        except (ValueError, TypeError) as exc:
            raise ConfigError(f"WXBOT_TEST_INTERNALS: {exc}") from None

    def replace(self, **changes: object) -> "Settings":
        return self.model_copy(update=changes)


def bot_home(environ: Mapping[str, str] | None = None) -> Path:
    """The bot folder: ``WXBOT_HOME``, else the working directory (absolute)."""
    environ = os.environ if environ is None else environ
    return Path(environ.get("WXBOT_HOME") or os.getcwd()).expanduser().resolve()


def missing_config_message(home: Path, config_dir: Path, explicit: bool) -> str:
    if explicit:
        return f"WXBOT_CONFIG_DIR: {config_dir} is not a directory"
    return (f"{home} is not a bot folder (no config/ in it): run `wxbot init {home}` to create one, or set "
            f"WXBOT_HOME to the bot's folder")


def load_env() -> Path:
    """Load the bot folder's ``.env`` into the process environment (python-dotenv, the Flask
    convention); a variable the real environment already has wins. Returns the folder. Every entry
    point calls it (the CLI, gunicorn's config, ``Settings.from_env()``), so ``serve``, ``chat``,
    ``doctor``, the worker and every admin command agree on the token and keys."""
    from dotenv import load_dotenv

    home = bot_home()
    path = home / ".env"
    if path.is_file():
        load_dotenv(path, override=False)
    return home


def _first_error(exc: ValidationError) -> str:
    err = exc.errors()[0]
    field = str(err["loc"][0]) if err["loc"] else "?"
    alias = Settings.model_fields[field].alias if field in Settings.model_fields else field
    if err["type"] == "missing":
        hint = " (run `wxbot init` to create .env in the bot folder)" if alias == "WECHAT_TOKEN" else ""
        return f"{alias}: is required but not set{hint}"
    msg = err["msg"]
    if msg.startswith("Value error, "):
        msg = msg[len("Value error, "):]
    return f"{alias}: {msg}"


# -- config/bot.yaml: policy ----------------------------------------------------------------------

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
        "钱包", "手机", "锁屏", "wifi", "路由",
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
            raise ValueError("must be an http(s):// address without query or fragment")
        return v

    @field_validator("schedule_cron")
    @classmethod
    def _cron(cls, v: str | None) -> str | None:
        v = (v or "").strip() or None
        if v and not croniter.is_valid(v):
            raise ValueError(f"not a valid cron expression: {v!r}")
        return v

    @model_validator(mode="after")
    def _one_schedule(self) -> "PasswordPolicy":
        if self.schedule_cron and self.schedule_every_hours:
            raise ValueError("set schedule_cron or schedule_every_hours, not both")
        return self


class FaqPolicy(Section):
    file: str = "faq.yaml"  # relative to WXBOT_CONFIG_DIR
    threshold: float = 2.5  # minimum score to answer
    ambiguity_ratio: float = 0.8  # runner-up at >= this share of the best score -> ask which one
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
        return f"not a valid template ({exc})"
    for _text, name, spec, _conv in parsed:
        if name is None:
            continue
        if name not in allowed:
            return f"unknown placeholder {{{name}}} (known: {', '.join(sorted(allowed))})"
        if spec and ("{" in spec):
            return f"nested placeholder in {{{name}:{spec}}}"
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
    # category -> regexes (on simplified, lower-case text); empty: the defaults in features/tickets/intake.py
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
                    raise ValueError(f"{cat}: bad regex {p!r}: {exc}") from None
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
    return [f"{section}.{key} is deprecated: write it as top-level `{new}:` instead (it is still read)"
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
                raise ValueError(f"{section}.{key} ({value!r}) and {new} ({data[new]!r}) differ: keep only {new}")
            data[new] = value
        return data

    @field_validator("timezone")
    @classmethod
    def _tz(cls, v: str) -> str:
        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {v!r}") from None
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


# libyaml's C loader parses several times faster than the pure-Python one (a 2,000-entry FAQ: ~0.8 s
# instead of ~2 s); both are "safe" loaders.
_YamlLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def yaml_load(path: Path):
    with open(path, "rb") as fh:
        return yaml.load(fh, Loader=_YamlLoader)  # noqa: S506 - a safe loader


def one_line(exc: Exception) -> str:
    """A validation or parse error as one line naming the place."""
    if isinstance(exc, ValidationError):
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"])
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            msg = "unknown setting"
        return f"{where}: {msg}"
    return " ".join(str(exc).split())


def load_bot_config(config_dir: Path) -> BotConfig:
    """Validate ``config_dir/bot.yaml`` (absent: all defaults); raise ConfigError in one line."""
    path = Path(config_dir) / "bot.yaml"
    try:
        raw = yaml_load(path) if path.exists() else None
        if raw is None:
            raw = {}
        if not isinstance(raw, dict):
            raise ValueError("top level must be a mapping of sections")
        config = BotConfig.model_validate(raw)
    except (yaml.YAMLError, ValidationError, ValueError) as exc:
        raise ConfigError(f"{path}: {one_line(exc)}") from None
    for line in deprecated_keys(raw):
        log.warning("bot.yaml: %s", line)
    return config
