"""WeChat's server API with one shared access_token per account.

The token comes from the ``stable_token`` endpoint, is cached in Redis for every process, and is
refreshed before expiry by one process at a time (a Redis lock; the others wait for its result). An
``errcode`` inside an HTTP 200 is an error; on 40001/42001/40014 (token invalid or expired) the token
is force-refreshed once and the call retried -- unless another process already replaced the rejected
token, so a burst of rejections costs one forced refresh (WeChat rate-limits them), not one each.
URLs (which carry the token) are never logged: query strings are also cut from httpx's own log lines.
"""
from __future__ import annotations

import json
import logging
import re
import time
import uuid
from datetime import datetime, timedelta, timezone
from typing import Any, Callable, TypeVar
from urllib.parse import urlsplit

import httpx
import redis

from .. import defaults
from ..notifiers.webhook import transport_reason
from ..settings import Settings
from ..stores import keys
from ..stores.redis import release_lock

log = logging.getLogger(__name__)

T = TypeVar("T")

TOKEN_KEY = "wxbot:wechat:access_token"
LOCK_KEY = "wxbot:wechat:access_token:lock"
TOKEN_ERRORS = {40001, 40014, 42001}
# Errors a customer-service message may get when the follower is outside the 48-hour window, or
# the quota is used up: the caller records them and shows the text at the follower's next message.
CS_WINDOW_ERRORS = {45015, 45047}
# The account's daily API quota is spent: calls fail until it resets at midnight China time.
QUOTA_SPENT = 45009
_BEIJING = timezone(timedelta(hours=8))  # WeChat resets quotas at midnight Beijing time


def quota_reset_at(now: float) -> float:
    """Unix time of the next midnight in China (when WeChat resets the daily API quotas)."""
    local = datetime.fromtimestamp(now, _BEIJING)
    midnight = (local + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    return midnight.timestamp()


_QUERY_RE = re.compile(r"(https?://[^\s?\"'<>]+)\?[^\s\"'<>]*")


class RedactQueryStrings(logging.Filter):
    """Cut query strings (access_token=..., webhook keys) from httpx's "HTTP Request: POST <url>" lines,
    whatever logging configuration the process has."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except (TypeError, ValueError):
            return True
        if "?" in message:
            record.msg = _QUERY_RE.sub(r"\1?[redacted]", message)
            record.args = ()
        return True


def install_log_redaction() -> None:
    """Idempotent: attach RedactQueryStrings to the loggers of httpx and httpcore."""
    for name in ("httpx", "httpcore"):
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactQueryStrings) for f in logger.filters):
            logger.addFilter(RedactQueryStrings())


class WeChatAPIError(Exception):
    """WeChat answered with an error (``errcode``), or -- ``WeChatUnreachable`` -- was not reached.
    ``str()`` says which, for a person: "WeChat refused: 48001 api unauthorized"."""

    reached = True

    def __init__(self, errcode: int, errmsg: str):
        super().__init__(errcode, errmsg)
        self.errcode = errcode
        self.errmsg = errmsg

    def __str__(self) -> str:
        if self.errcode == -1:
            return f"WeChat API: {self.errmsg}"
        return f"WeChat refused: {self.errcode} {self.errmsg}".rstrip()


class WeChatUnreachable(WeChatAPIError):
    """The request never got an answer from WeChat (DNS, connection, timeout, TLS)."""

    reached = False

    def __init__(self, host: str, why: str):
        super().__init__(-1, why)
        self.host = host

    def __str__(self) -> str:
        return f"could not reach {self.host} ({self.errmsg})"


class WeChatAPI:
    def __init__(self, settings: Settings, client: redis.Redis, http: httpx.Client, cfg: defaults.WeChatAPI):
        self.settings = settings
        self.redis = client
        self.http = http
        self.cfg = cfg
        self.base = settings.wechat_api_base_url.rstrip("/")
        self.host = urlsplit(self.base).netloc or self.base
        install_log_redaction()

    @property
    def configured(self) -> bool:
        return bool(self.settings.wechat_app_id and self.settings.wechat_app_secret)

    # -- token -----------------------------------------------------------------------------
    def access_token(self, force_refresh: bool = False, rejected: str | None = None) -> str:
        """The shared token. ``force_refresh`` fetches a new one; with ``rejected`` (the token WeChat just
        refused) a cached token other than it -- refreshed meanwhile by another process -- is used instead."""
        if not self.configured:
            raise WeChatAPIError(-1, "调用微信接口需要先在 .env 里设置 WECHAT_APP_ID 和 WECHAT_APP_SECRET")

        def usable(token: str | None) -> bool:
            if not token:
                return False
            return not force_refresh or (rejected is not None and token != rejected)

        token = self.redis.get(TOKEN_KEY)
        if usable(token):
            return token
        owner = uuid.uuid4().hex
        deadline = time.monotonic() + self.cfg.lock_wait
        while True:
            if self.redis.set(LOCK_KEY, owner, nx=True, px=int(self.cfg.lock_ttl * 1000)):
                try:
                    token = self.redis.get(TOKEN_KEY)
                    if usable(token):
                        return token
                    return self._fetch_token(force_refresh)
                finally:
                    self._release(owner)
            # Someone else is refreshing: wait for the new token.
            time.sleep(0.05)
            token = self.redis.get(TOKEN_KEY)
            if usable(token):
                return token
            if time.monotonic() > deadline:
                raise WeChatAPIError(-1, "timed out waiting for another process to refresh the access token")

    def _release(self, owner: str) -> None:
        release_lock(self.redis, LOCK_KEY, owner)

    def _fetch_token(self, force_refresh: bool) -> str:
        payload = {
            "grant_type": "client_credential",
            "appid": self.settings.wechat_app_id,
            "secret": self.settings.wechat_app_secret,
            "force_refresh": force_refresh,
        }
        data = self._request("POST", "/cgi-bin/stable_token", json_body=payload)
        token = data.get("access_token")
        expires = int(data.get("expires_in") or 7200)
        if not token:
            raise WeChatAPIError(-1, "stable_token answered without access_token")
        # Cache until `margin` before expiry; a token WeChat hands out close to its expiry (stable_token
        # returns the current one until then) is cached for half its remaining life, never beyond it.
        ttl = expires - self.cfg.token_refresh_margin
        if ttl < 60:
            ttl = max(1, expires // 2)
        self.redis.set(TOKEN_KEY, token, ex=ttl)
        log.info("wechat access token refreshed ttl=%ss force=%s", ttl, force_refresh)
        return token

    # -- calls -----------------------------------------------------------------------------
    def _request(self, method: str, path: str, json_body: Any = None, params: dict | None = None) -> dict:
        content = None
        headers = {}
        if json_body is not None:
            content = json.dumps(json_body, ensure_ascii=False).encode("utf-8")
            headers["Content-Type"] = "application/json; charset=utf-8"
        try:
            resp = self.http.request(method, self.base + path, params=params, content=content, headers=headers,
                                     timeout=self.cfg.timeout)
        except httpx.HTTPError as exc:
            raise WeChatUnreachable(self.host, f"{transport_reason(exc)} on {path}") from None
        if resp.status_code != 200:
            raise WeChatAPIError(-1, f"HTTP {resp.status_code} on {path}")
        try:
            data = resp.json()
        except ValueError:
            raise WeChatAPIError(-1, f"non-JSON answer on {path}") from None
        if not isinstance(data, dict):
            raise WeChatAPIError(-1, f"unexpected JSON answer on {path}")
        try:
            errcode = int(data.get("errcode") or 0)
        except (TypeError, ValueError):
            errcode = -1
        if errcode:
            raise WeChatAPIError(errcode, str(data.get("errmsg", "")))
        return data

    def _with_token(self, fn: Callable[[str], T]) -> T:
        """Run ``fn(access_token)``; on a token error refresh the token once and run it again."""
        rejected: str | None = None
        for attempt in (0, 1):
            token = self.access_token(force_refresh=attempt == 1, rejected=rejected)
            try:
                return fn(token)
            except WeChatAPIError as exc:
                if exc.errcode in TOKEN_ERRORS and attempt == 0:
                    log.info("wechat access token rejected (errcode=%s); refreshing once", exc.errcode)
                    rejected = token
                    continue
                raise
        raise AssertionError("unreachable")

    def call(self, method: str, path: str, json_body: Any = None, params: dict | None = None) -> dict:
        """Call an access_token API; refresh the token once and retry on token errors."""
        return self._with_token(
            lambda token: self._request(method, path, json_body, dict(params or {}, access_token=token)))

    def download(self, path: str, params: dict, max_bytes: int, deadline: float) -> tuple[bytes, str]:
        """GET binary content (e.g. /cgi-bin/media/get) within ``deadline`` seconds and ``max_bytes``.

        JSON answers are API errors; on a token error the token is refreshed once and the download
        retried, as ``call`` does.
        """
        return self._with_token(
            lambda token: self._download(path, dict(params, access_token=token), max_bytes, deadline))

    def _download(self, path: str, params: dict, max_bytes: int, deadline: float) -> tuple[bytes, str]:
        from ..notifiers.webhook import BodyTooLarge, DeadlineExceeded, get_bounded

        try:
            status, ctype, data = get_bounded(self.http, self.base + path, max_bytes,
                                              min(self.cfg.timeout, deadline), params, "wxbot-download")
        except DeadlineExceeded:
            raise WeChatUnreachable(self.host, f"download not complete within {deadline}s on {path}") from None
        except BodyTooLarge:
            raise WeChatAPIError(-1, f"download larger than {max_bytes} bytes") from None
        except httpx.HTTPError as exc:
            raise WeChatUnreachable(self.host, f"{transport_reason(exc)} on {path}") from None
        if status != 200:
            raise WeChatAPIError(-1, f"HTTP {status} on {path}")
        if "json" in ctype or "text/plain" in ctype:
            try:
                err = json.loads(data)
            except ValueError:
                err = None
            if isinstance(err, dict):
                raise WeChatAPIError(int(err.get("errcode") or -1), str(err.get("errmsg", "")))
        return data, ctype

    # -- the daily quota ---------------------------------------------------------------------
    def quota_spent_until(self) -> float | None:
        """When the daily quota resets, if some process saw it spent (45009), else None."""
        raw = self.redis.get(keys.WECHAT_QUOTA_SPENT)
        try:
            return float(raw) if raw else None
        except ValueError:
            return None

    def note_quota_spent(self, reset: float, now: float) -> None:
        """Remember, for every process, that the quota is spent until ``reset``."""
        self.redis.set(keys.WECHAT_QUOTA_SPENT, repr(float(reset)), ex=max(60, int(reset - now) + 60))

    # -- conveniences used by features -----------------------------------------------------
    def send_text(self, openid: str, text: str) -> dict:
        """Customer-service text message (within 48 h of the follower's last message)."""
        return self.call("POST", "/cgi-bin/message/custom/send",
                         {"touser": openid, "msgtype": "text", "text": {"content": text}})

    def send_template(self, openid: str, template_id: str, data: dict, url: str | None = None) -> dict:
        body: dict[str, Any] = {"touser": openid, "template_id": template_id, "data": data}
        if url:
            body["url"] = url
        return self.call("POST", "/cgi-bin/message/template/send", body)

    def create_menu(self, menu: dict) -> dict:
        return self.call("POST", "/cgi-bin/menu/create", menu)

    def get_menu(self) -> dict:
        return self.call("GET", "/cgi-bin/get_current_selfmenu_info")
