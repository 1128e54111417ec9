"""Typed configuration from the environment, validated at start.

``Settings``: secrets and endpoints from the environment (and the bot folder's ``.env``), read once per
process; ``ConfigError``, the one error of a bad value; the YAML helpers of ``config/``'s files. The
policy an admin decides (``config/bot.yaml``) is ``wxbot.policy.BotConfig``; internal constants live in
``wxbot.defaults``; follower texts in ``wxbot.texts``.
"""
from __future__ import annotations

import base64
import binascii
import os
import re
from pathlib import Path
from typing import Mapping
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from . import yamlload
from .defaults import Internals

TOKEN_RE = re.compile(r"^[A-Za-z0-9]{3,32}$")
APP_ID_RE = re.compile(r"^wx[0-9a-f]{16}$")
S3_BUCKET_RE = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")


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
        raise ValueError("必须是 http:// 或 https:// 开头的网址")
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
            raise ValueError("必须是 3-32 位字母或数字（公众号后台的要求）")
        return v

    @field_validator("wechat_app_id")
    @classmethod
    def _app_id(cls, v: str | None) -> str | None:
        if v and not APP_ID_RE.match(v):
            raise ValueError("格式应为 wx 加 16 位十六进制数字（公众号后台 > 基本配置）")
        return v or None

    @field_validator("wechat_encoding_aes_key")
    @classmethod
    def _aes_key(cls, v: str | None) -> str | None:
        if not v:
            return None
        if len(v) != 43:
            raise ValueError("必须正好 43 个字符（公众号后台 > 基本配置 > EncodingAESKey）")
        try:
            raw = base64.b64decode(v + "=", validate=True)
        except (binascii.Error, ValueError):
            raise ValueError("不是有效的 base64") from None
        if len(raw) != 32:
            raise ValueError("解码后必须是 32 字节")
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
            raise ValueError("只写服务器地址，例如 https://s3.example.com（存储桶写在 "
                             "WXBOT_S3_BUCKET）")
        return v

    @field_validator("s3_bucket")
    @classmethod
    def _s3_bucket(cls, v: str | None) -> str | None:
        if v and not S3_BUCKET_RE.match(v):
            raise ValueError("必须是 3-63 个小写字母、数字、点或连字符")
        return v or None

    @field_validator("redis_url")
    @classmethod
    def _redis_url(cls, v: str | None) -> str | None:
        if not v:
            return None
        if urlsplit(v).scheme not in ("redis", "rediss", "unix"):
            raise ValueError("必须是 redis://、rediss:// 或 unix:// 开头的网址")
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
                raise ValueError(f"{item!r} 必须写成 host:port")
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
            raise ValueError("至少 32 个字符（python3 -c 'import secrets; print(secrets.token_urlsafe(32))'）")
        return v

    @field_validator("log_level")
    @classmethod
    def _level(cls, v: str) -> str:
        v = v.upper()
        if v not in ("DEBUG", "INFO", "WARNING", "ERROR"):
            raise ValueError("只能是 DEBUG、INFO、WARNING 或 ERROR")
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
        data.update(folder_paths(environ))
        home = Path(data["WXBOT_HOME"])
        if not Path(data["WXBOT_CONFIG_DIR"]).is_dir():
            raise ConfigError(missing_config_message(home, Path(data["WXBOT_CONFIG_DIR"]),
                                                     "WXBOT_CONFIG_DIR" in environ))
        try:
            settings = cls.model_validate(data)
        except ValidationError as exc:
            raise ConfigError(_first_error(exc)) from None
        if settings.safe_mode and not settings.wechat_app_id:
            raise ConfigError(
                "WECHAT_APP_ID: 设置了 WECHAT_ENCODING_AES_KEY 时必须设置（安全模式要用它加密）"
            )
        if bool(settings.redis_sentinels) != bool(settings.redis_sentinel_master):
            raise ConfigError(
                "REDIS_SENTINEL_MASTER: REDIS_SENTINELS 和 REDIS_SENTINEL_MASTER 必须同时设置"
            )
        s3 = {"WXBOT_S3_ENDPOINT": settings.s3_endpoint, "WXBOT_S3_BUCKET": settings.s3_bucket,
              "WXBOT_S3_ACCESS_KEY": settings.s3_access_key, "WXBOT_S3_SECRET_KEY": settings.s3_secret_key}
        if any(s3.values()) and not all(s3.values()):
            missing = " and ".join(k for k, v in s3.items() if not v)
            raise ConfigError(f"{missing.split(' and ')[0]}: 把截图存到 S3 需要同时设置 {'、'.join(s3)}"
                              f"（缺少：{missing.replace(' and ', '、')}）；全部不设置则截图保存在 Redis 里")
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


def folder_paths(environ: Mapping[str, str]) -> dict[str, str]:
    """WXBOT_HOME, WXBOT_CONFIG_DIR and WXBOT_DATA_DIR as absolute paths: the bot folder's config/ and
    var/ unless set, and a relative one is the folder's (a .env may say WXBOT_DATA_DIR=var2), whatever
    the working directory."""
    home = bot_home(environ)
    return {"WXBOT_HOME": str(home), "WXBOT_CONFIG_DIR": str(home / (environ.get("WXBOT_CONFIG_DIR") or "config")),
            "WXBOT_DATA_DIR": str(home / (environ.get("WXBOT_DATA_DIR") or "var"))}


def bot_home(environ: Mapping[str, str] | None = None) -> Path:
    """The bot folder: ``WXBOT_HOME``, else the working directory (absolute)."""
    environ = os.environ if environ is None else environ
    return Path(environ.get("WXBOT_HOME") or os.getcwd()).expanduser().resolve()


def missing_config_message(home: Path, config_dir: Path, explicit: bool) -> str:
    if explicit:
        return f"WXBOT_CONFIG_DIR: {config_dir} 不是一个文件夹"
    return (f"{home} 不是机器人文件夹（里面没有 config/）：运行 `wxbot init {home}` 新建一个，或者把 "
            f"WXBOT_HOME 设为机器人文件夹")


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


# pydantic's error types as admins read them, filled from the error's ``ctx`` (its numbers and names);
# a type missing here keeps pydantic's English, and our own validators' ValueErrors speak for themselves.
PYDANTIC_WORDS = {
    "missing": "必须填写，但没有填写",
    "extra_forbidden": "没有这个设置项",
    "int_parsing": "应为整数",
    "int_type": "应为整数",
    "int_from_float": "应为整数（不能有小数）",
    "float_parsing": "应为数字",
    "float_type": "应为数字",
    "bool_parsing": "应为 true 或 false",
    "bool_type": "应为 true 或 false",
    "string_type": "应为文字",
    "list_type": "应为列表",
    "dict_type": "应为“名称: 值”的映射",
    "model_type": "应为“名称: 值”的映射",
    "model_attributes_type": "应为“名称: 值”的映射",
    "greater_than_equal": "不能小于 {ge}",
    "greater_than": "必须大于 {gt}",
    "less_than_equal": "不能大于 {le}",
    "less_than": "必须小于 {lt}",
    "string_too_short": "至少 {min_length} 个字符",
    "string_too_long": "最多 {max_length} 个字符",
    "too_short": "至少 {min_length} 项",
    "too_long": "最多 {max_length} 项",
    "string_pattern_mismatch": "格式不对（应符合 {pattern}）",
    "literal_error": "只能是 {expected}",
    "enum": "只能是 {expected}",
}


def error_text(err) -> str:
    """One pydantic error (``ValidationError.errors()[i]``) in the admins' words, without the place."""
    if err["type"] in ("value_error", "assertion_error"):
        return err["msg"].removeprefix("Value error, ").removeprefix("Assertion failed, ")
    template = PYDANTIC_WORDS.get(err["type"])
    if template is None:
        return err["msg"]
    ctx = {k: f"{v:g}" if isinstance(v, float) else str(v).replace(" or ", " 或 ")
           for k, v in (err.get("ctx") or {}).items()}
    try:
        return template.format(**ctx)
    except (KeyError, IndexError):
        return err["msg"]


def _first_error(exc: ValidationError) -> str:
    err = exc.errors()[0]
    field = str(err["loc"][0]) if err["loc"] else "?"
    alias = Settings.model_fields[field].alias if field in Settings.model_fields else field
    if err["type"] == "missing":
        hint = "（运行 `wxbot init` 在机器人文件夹里生成 .env）" if alias == "WECHAT_TOKEN" else ""
        return f"{alias}: 必须设置，但没有设置{hint}"
    return f"{alias}: {error_text(err)}"


# -- YAML files of config/ (bot.yaml, texts.yaml, faq.yaml) --------------------------------------

def yaml_load(path: Path):
    """A config file's YAML, as ``yaml.safe_load`` gives it (libyaml, without a node tree: yamlload)."""
    with open(path, "rb") as fh:
        return yamlload.load(fh)


def one_line(exc: Exception) -> str:
    """A validation or parse error as one line naming the place."""
    if isinstance(exc, ValidationError):
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"])
        return f"{where}: {error_text(err)}" if where else error_text(err)
    return " ".join(str(exc).split())
