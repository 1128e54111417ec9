"""Everything a request, the worker or the CLI needs, built once per process from Settings."""
from __future__ import annotations

import functools
import hashlib
import importlib
import logging
import threading
from dataclasses import dataclass, field
from typing import Any, Callable

import httpx
import redis

from . import redisconn
from .config import BotConfig, ReloadingFile, Section, Texts, load_bot_config, section, texts_file
from .router import Router, StaffCommands
from .settings import Settings
from .stores.dedupe import DedupeStore

log = logging.getLogger(__name__)

# Features in registration order; each module exposes ``register(services)``. Route order within the
# router is fixed by the ORDER_* bands in ``wxbot.router``, not by this list.
FEATURES = ("wxbot.features.basics", "wxbot.ops", "wxbot.features.password", "wxbot.menu", "wxbot.features.faq",
            "wxbot.features.tickets")


@section("webhook")
class WebhookConfig(Section):
    timestamp_window: int = 300  # seconds either side of now
    max_body_bytes: int = 65536
    dedupe_ttl: float = 300.0  # seconds a MsgId (or event key) is remembered, with its reply
    pending_wait: float = 3.0  # a retry waits this long for the first delivery's reply
    reply_deadline: float = 4.5  # WeChat gives up at 5 s
    msg_limit: int = 30  # messages per follower per window before "slow down"
    msg_window: int = 60
    config_reload_interval: float = 1.0


@section("http")
class HttpConfig(Section):
    connect_timeout: float = 3.0
    read_timeout: float = 5.0


ForgetHook = Callable[[redis.Redis, str], None]


@dataclass
class Services:
    settings: Settings
    bot: BotConfig
    texts: ReloadingFile[Texts]
    redis: redis.Redis
    breaker: redisconn.Breaker
    dedupe: DedupeStore
    router: Router = field(default_factory=Router)
    staff: StaffCommands = field(default_factory=StaffCommands)
    forget_hooks: list[ForgetHook] = field(default_factory=list)
    blueprints: list[Any] = field(default_factory=list)  # Flask blueprints features add
    extensions: dict[str, Any] = field(default_factory=dict)
    _http: httpx.Client | None = None
    _http_lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def webhook_cfg(self) -> WebhookConfig:
        return self.bot.section("webhook")

    @functools.cached_property
    def log_salt(self) -> bytes:
        """Key for hashing openids in logs and outbound payloads (per account, computed once)."""
        return hashlib.sha256(b"wxbot-log:" + self.settings.wechat_token.encode()).digest()

    @property
    def http(self) -> httpx.Client:
        """One shared outbound client with explicit timeouts (created on first use)."""
        if self._http is None:
            with self._http_lock:
                if self._http is None:
                    cfg: HttpConfig = self.bot.section("http")
                    self._http = httpx.Client(
                        timeout=httpx.Timeout(cfg.read_timeout, connect=cfg.connect_timeout),
                        follow_redirects=False,
                    )
        return self._http

    @property
    def wechat_api(self):
        """WeChat's API with the shared access token (created on first use)."""
        api = self.extensions.get("wechat_api")
        if api is None:
            from .wechat_api import WeChatAPI

            api = WeChatAPI(self.settings, self.redis, self.http, self.bot.section("wechat_api"))
            self.extensions["wechat_api"] = api
        return api

    def close(self) -> None:
        if self._http is not None:
            self._http.close()
        self.redis.close()


# Modules that declare ``bot.yaml`` sections without being features.
SECTION_MODULES = ("wxbot.redisconn", "wxbot.worker", "wxbot.wechat_api", "wxbot.alerts")


def feature_modules() -> list[Any]:
    """Import every feature (which registers its ``bot.yaml`` sections) and return the modules."""
    for name in SECTION_MODULES:
        importlib.import_module(name)
    return [importlib.import_module(name) for name in FEATURES]


def build_services(settings: Settings, redis_client: redis.Redis | None = None) -> Services:
    modules = feature_modules()
    bot = load_bot_config(settings.config_dir)
    webhook: WebhookConfig = bot.section("webhook")
    texts = texts_file(settings.config_dir, webhook.config_reload_interval)
    rcfg = bot.section("redis")
    client = redis_client if redis_client is not None else redisconn.connect(settings, rcfg)
    services = Services(
        settings=settings,
        bot=bot,
        texts=texts,
        redis=client,
        breaker=redisconn.Breaker(rcfg.breaker_seconds),
        dedupe=DedupeStore(client, webhook.dedupe_ttl, webhook.msg_window, webhook.msg_limit),
    )
    for module in modules:
        module.register(services)
    return services
