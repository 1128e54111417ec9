"""The infrastructure every part of a process shares, built once from Settings: configuration,
texts, Redis, the claim store, outbound HTTP and WeChat's API. Features are built on it (wxbot.bot)."""
from __future__ import annotations

import functools
import hashlib
import logging
import threading
from dataclasses import dataclass, field

import httpx
import redis

from .audit import AuditLog
from .defaults import Internals
from .policy import BotConfig, load_bot_config
from .settings import Settings
from .stores import redis as redisconn
from .stores.dedupe import DedupeStore
from .stores.texts import TextOverrides
from .texts import LayeredTexts, texts_file
from .wechat.api import WeChatAPI

log = logging.getLogger(__name__)


@dataclass
class Services:
    settings: Settings
    bot: BotConfig
    internals: Internals
    texts: LayeredTexts
    redis: redis.Redis
    breaker: redisconn.Breaker
    dedupe: DedupeStore
    _http: httpx.Client | None = None
    _wechat_api: WeChatAPI | None = None
    _lock: threading.RLock = field(default_factory=threading.RLock)

    @functools.cached_property
    def log_salt(self) -> bytes:
        """Key for hashing openids in logs and outbound payloads (per account, computed once)."""
        return hashlib.sha256(b"wxbot-log:" + self.settings.wechat_token.encode()).digest()

    @functools.cached_property
    def audit(self) -> AuditLog:
        """The one audit log of admin and support actions (wxbot/audit.py)."""
        return AuditLog(self.redis, self.internals.admin.audit_retention)

    @property
    def http(self) -> httpx.Client:
        """One shared outbound client with explicit timeouts (created on first use)."""
        if self._http is None:
            with self._lock:
                if self._http is None:
                    cfg = self.internals.http
                    self._http = httpx.Client(timeout=httpx.Timeout(cfg.read_timeout, connect=cfg.connect_timeout),
                                              follow_redirects=False)
        return self._http

    @property
    def wechat_api(self) -> WeChatAPI:
        """WeChat's API with the shared access token (created on first use)."""
        if self._wechat_api is None:
            with self._lock:
                if self._wechat_api is None:
                    self._wechat_api = WeChatAPI(self.settings, self.redis, self.http, self.internals.wechat_api)
        return self._wechat_api

    def close(self) -> None:
        if self._http is not None:
            self._http.close()
        self.redis.close()


def build_services(settings: Settings, redis_client: redis.Redis | None = None,
                   internals: Internals | None = None, start_redis: bool = True) -> Services:
    """Raises ConfigError (one line) for a bad bot.yaml or texts.yaml. ``start_redis=False`` (admin
    commands): never start the embedded Redis; raises BotNotRunning when it is not running."""
    internals = internals if internals is not None else settings.internals()
    bot = load_bot_config(settings.config_dir)
    log.info("config loaded dir=%s: bot.yaml is read at start (edits need a restart); texts.yaml and faq.yaml "
             "reload by themselves", settings.config_dir)
    web = internals.webhook
    file = texts_file(settings.config_dir, web.config_reload_interval)
    client = redis_client if redis_client is not None else redisconn.connect(settings, internals.redis, start_redis)
    breaker = redisconn.Breaker(internals.redis.breaker_seconds)
    texts = LayeredTexts(file, TextOverrides(client), web.config_reload_interval, available=breaker.available,
                         failed=breaker.trip, errors=redisconn.REDIS_ERRORS)
    return Services(
        settings=settings,
        bot=bot,
        internals=internals,
        texts=texts,
        redis=client,
        breaker=breaker,
        dedupe=DedupeStore(client, web.dedupe_ttl, bot.webhook.msg_window, bot.webhook.msg_limit,
                           lease_seconds=web.claim_lease),
    )
