"""Typed settings from the environment, read once per process and validated at start.

Secrets and endpoints come from the environment (this module); behaviour knobs and follower-facing
texts come from YAML under ``WXBOT_CONFIG_DIR`` (see ``wxbot.config``).
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

TOKEN_RE = re.compile(r"^[A-Za-z0-9]{3,32}$")
APP_ID_RE = re.compile(r"^wx[0-9a-f]{16}$")


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
    data_dir: Path = Field(default=Path("./var"), alias="WXBOT_DATA_DIR")
    config_dir: Path = Field(default=Path("./config"), alias="WXBOT_CONFIG_DIR")
    admin_openids: tuple[str, ...] = Field(default=(), alias="WXBOT_ADMIN_OPENIDS")
    support_openids: tuple[str, ...] = Field(default=(), alias="WXBOT_SUPPORT_OPENIDS")
    admin_token: str | None = Field(default=None, alias="WXBOT_ADMIN_TOKEN", repr=False)
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
    )
    @classmethod
    def _url(cls, v: str | None) -> str | None:
        return _check_url(v)

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

    @field_validator("admin_token", "password_sync_secret", "ticket_webhook_secret", mode="before")
    @classmethod
    def _empty_is_none(cls, v: object) -> object:
        return v or None

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

    def is_admin(self, openid: str) -> bool:
        return openid in self.admin_openids

    def is_support(self, openid: str) -> bool:
        return openid in self.support_openids

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> "Settings":
        """Build settings from ``environ`` (default ``os.environ``); raise ConfigError on a bad value."""
        environ = os.environ if environ is None else environ
        names = {f.alias for f in cls.model_fields.values() if f.alias}
        data = {k: v for k, v in environ.items() if k in names and v != ""}
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
        return settings

    def replace(self, **changes: object) -> "Settings":
        return self.model_copy(update=changes)


def _first_error(exc: ValidationError) -> str:
    err = exc.errors()[0]
    field = str(err["loc"][0]) if err["loc"] else "?"
    alias = Settings.model_fields[field].alias if field in Settings.model_fields else field
    if err["type"] == "missing":
        return f"{alias}: is required but not set"
    msg = err["msg"]
    if msg.startswith("Value error, "):
        msg = msg[len("Value error, "):]
    return f"{alias}: {msg}"
