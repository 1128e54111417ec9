"""``wxbot doctor``: check the whole configuration and say what to do, one line per check.

Every check runs, whatever fails before it: the environment is checked variable by variable (not
through ``Settings.from_env``, which stops at the first problem), then the YAML files through the same
loaders the bot uses, then Redis (reachable, persistence, eviction), then WeChat's access token.
It is a diagnostic: it never starts the embedded Redis, only asks one that is already running.

Lines start with ✓ (fine), ! (works, but should be fixed) or ✗ (wxbot will not work properly).
Exit status: 0 when nothing is ✗ (and, with ``--strict``, nothing is !), else 1. Secrets are never
printed, only their length or shape.
"""
from __future__ import annotations

import base64
import binascii
import dataclasses
import ipaddress
import os
import re
import secrets
import string
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Mapping
from urllib.parse import urlsplit

from pydantic import ValidationError

from .defaults import Admin
from .settings import APP_ID_RE, TOKEN_RE, ConfigError, Settings, _first_error

OK, WARN, FAIL = "ok", "warn", "fail"
SYMBOLS = {OK: "✓", WARN: "!", FAIL: "✗"}
ASCII_SYMBOLS = {OK: "OK  ", WARN: "WARN", FAIL: "FAIL"}

CONSOLE = "MP console (mp.weixin.qq.com) > 设置与开发 > 基本配置"
DOCTOR_TIMEOUT = 2.0  # seconds for Redis and WeChat checks
# bot.yaml is read once at start: its settings shape the routes, limits, schedules and the worker's
# tasks, which every process builds when it starts. The texts and the FAQ are re-read when they change.
RELOAD_NOTES = {
    "bot.yaml": " (read at start: restart the bot after editing it -- Ctrl-C and `wxbot serve`, or restart the "
                "web and worker processes)",
    "texts.yaml": " (reloaded within seconds of an edit; no restart)",
    "faq.yaml": " (reloaded within seconds of an edit; no restart)",
    "menu.yaml": " (sent to WeChat by `wxbot menu push`)",
}
SAFE_TOKEN_CHARS = 16  # a shorter WECHAT_TOKEN is guessable offline from one signed URL


@dataclass
class Check:
    status: str
    name: str
    detail: str
    fix: str = ""

    def line(self, symbols: Mapping[str, str] = SYMBOLS) -> str:
        text = f"{symbols[self.status]} {self.name}: {self.detail}"
        return f"{text} -> {self.fix}" if self.fix else text


def _quoted_or_padded(value: str) -> bool:
    return value != value.strip() or (len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"")


class Doctor:
    def __init__(self, environ: Mapping[str, str] | None = None, http=None, timeout: float = DOCTOR_TIMEOUT):
        self.env = {k: v for k, v in (os.environ if environ is None else environ).items()}
        self.http = http
        self.timeout = timeout
        self.checks: list[Check] = []
        self.valid: dict[str, str] = {}  # aliases whose value passed on its own
        self.invalid: set[str] = set()  # aliases whose value failed on its own

    def add(self, status: str, name: str, detail: str, fix: str = "") -> Check:
        check = Check(status, name, detail, fix)
        self.checks.append(check)
        return check

    def get(self, name: str) -> str:
        return self.env.get(name) or ""

    # -- runner ------------------------------------------------------------------------------
    def run(self) -> list[Check]:
        steps: list[Callable[[], None]] = [self.check_token, self.check_aes_key, self.check_admin_token,
                                           self.check_app_id,
                                           self.check_app_secret, self.check_other_env, self.check_urls,
                                           self.check_alert_channels, self.check_console]
        for step in steps:
            self._guard(step)
        settings = self._settings_for_rest()
        client = None
        if settings is not None:
            client = self._guard(lambda: self.check_redis(settings)) if self._redis_settings_ok() else None
            self._guard(lambda: self.check_config_files(settings, client))
            self._guard(lambda: self.check_screenshots(settings))
            self._guard(lambda: self.check_access_token(settings))
            self._guard(lambda: self.check_ai(settings))
        if client is not None:
            client.close()
        return self.checks

    def _guard(self, step: Callable[[], object]):
        try:
            return step()
        except Exception as exc:  # noqa: BLE001 - the doctor reports, it never shows a traceback
            self.add(FAIL, "doctor", f"a check failed unexpectedly ({exc.__class__.__name__})",
                     "please report this with the output of `wxbot doctor`")
            return None

    # -- environment -------------------------------------------------------------------------
    def _validate_alone(self, alias: str, value: str) -> str | None:
        """Run Settings' own validator for one variable; return its one-line error or None."""
        data = {"WECHAT_TOKEN": "doctor", alias: value}
        try:
            Settings.model_validate(data)
        except ValidationError as exc:
            return _first_error(exc)
        self.valid[alias] = value
        return None

    def check_token(self) -> None:
        name, value = "WECHAT_TOKEN", self.get("WECHAT_TOKEN")
        where = f"the Token of {CONSOLE} > 服务器配置 (the same value on both sides)"
        if not value:
            self.add(FAIL, name, "not set", f"set it to {where}")
        elif _quoted_or_padded(value):
            self.add(FAIL, name, "has spaces or quotes around it", "remove them: the value is the bare Token")
        elif not TOKEN_RE.match(value):
            self.add(FAIL, name, f"must be 3-32 letters or digits (it has {_n(len(value), 'character')}"
                     + ("" if value.isalnum() else ", some of them not letters or digits") + ")",
                     f"choose a new Token of 3-32 letters/digits and save it as {where}")
        elif len(value) < SAFE_TOKEN_CHARS:
            self.valid[name] = value
            self.add(WARN, name, f"only {_n(len(value), 'character')}: a short Token can be guessed offline from one "
                     "signed URL (a proxy log is enough)",
                     f"choose one of 32 random letters/digits, e.g. {_random_token(32)}, and save it as {where}")
        else:
            self.valid[name] = value
            self.add(OK, name, f"ok ({_n(len(value), 'character')})")

    def check_aes_key(self) -> None:
        name, value = "WECHAT_ENCODING_AES_KEY", self.get("WECHAT_ENCODING_AES_KEY")
        where = f"copy EncodingAESKey (消息加解密密钥) from {CONSOLE} > 服务器配置"
        if not value:
            self.add(OK, name, "not set: plaintext mode (messages are not encrypted; staff # commands need "
                               "safe mode)")
            return
        if _quoted_or_padded(value):
            self.add(FAIL, name, "has spaces or quotes around it", "remove them")
            return
        if len(value) == 44 and value.endswith("="):
            self.add(FAIL, name, "has 44 characters ending in '='", "drop the trailing '=': the key is 43 characters")
            return
        if len(value) != 43:
            self.add(FAIL, name, f"has {len(value)} characters, must be exactly 43", where)
            return
        try:
            raw = base64.b64decode(value + "=", validate=True)
        except (binascii.Error, ValueError):
            self.add(FAIL, name, "contains characters that are not letters or digits", where)
            return
        if len(raw) != 32:
            self.add(FAIL, name, "does not decode to 32 bytes", where)
            return
        self.valid[name] = value
        self.add(OK, name, "ok: safe mode (messages are encrypted; set the console to 安全模式 or 兼容模式)")

    def check_admin_token(self) -> None:
        name, value = "WXBOT_ADMIN_TOKEN", self.get("WXBOT_ADMIN_TOKEN")
        need = Admin().min_token_chars
        if not value:
            self.add(OK, name, "not set: the admin HTTP API is off")
        elif len(value) < need:
            self.add(FAIL, name, f"only {_n(len(value), 'character')} (at least {need}): the admin HTTP API is "
                     "switched off (404) until it is replaced; the bot keeps serving followers",
                     f"set WXBOT_ADMIN_TOKEN={secrets.token_urlsafe(32)} (freshly generated) and restart")
        else:
            self.add(OK, name, f"ok ({_n(len(value), 'character')})")

    def check_app_id(self) -> None:
        name, value = "WECHAT_APP_ID", self.get("WECHAT_APP_ID")
        where = f"copy the AppID (开发者ID) from {CONSOLE}"
        if not value:
            if self.get("WECHAT_ENCODING_AES_KEY"):
                self.add(FAIL, name, "not set, but safe mode (WECHAT_ENCODING_AES_KEY) needs it", where)
            elif self.get("WECHAT_APP_SECRET"):
                self.add(FAIL, name, "not set, but WECHAT_APP_SECRET is", where)
            else:
                self.add(OK, name, "not set: features that call WeChat's API (menu, customer-service "
                                   "messages) are off")
            return
        if _quoted_or_padded(value):
            self.add(FAIL, name, "has spaces or quotes around it", "remove them")
        elif value.startswith("gh_"):
            self.add(FAIL, name, "this is the original ID (原始ID, gh_...), not the AppID", where)
        elif not APP_ID_RE.match(value):
            self.add(FAIL, name, "must be 'wx' followed by 16 hex digits (18 characters)", where)
        else:
            self.valid[name] = value
            self.add(OK, name, "ok")

    def check_app_secret(self) -> None:
        name, value = "WECHAT_APP_SECRET", self.get("WECHAT_APP_SECRET")
        if not value:
            self.add(OK, name, "not set: the access-token check is skipped")
        elif _quoted_or_padded(value):
            self.add(FAIL, name, "has spaces or quotes around it", "remove them")
        else:
            self.valid[name] = value
            self.add(OK, name, f"set ({_n(len(value), 'character')}, checked below by fetching an access token)")

    def check_other_env(self) -> None:
        """Every other variable through Settings' own validators, plus the pairs that go together."""
        dedicated = {"WECHAT_TOKEN", "WECHAT_ENCODING_AES_KEY", "WECHAT_APP_ID", "WECHAT_APP_SECRET",
                     "WXBOT_ADMIN_TOKEN"}
        urls = {"WECHAT_API_BASE_URL", "WXBOT_PASSWORD_SYNC_URL", "WXBOT_TICKET_WEBHOOK_URL",
                "WXBOT_WECOM_WEBHOOK_URL"}
        sentinels, master = self.get("REDIS_SENTINELS"), self.get("REDIS_SENTINEL_MASTER")
        half_sentinel = bool(sentinels) != bool(master)
        for field in Settings.model_fields.values():
            alias = field.alias
            if not alias or alias in dedicated:
                continue
            value = self.get(alias)
            if not value:
                continue
            error = self._validate_alone(alias, value)
            if error:
                self.invalid.add(alias)
                what = "must be like redis://[:password@]host:6379/0" if alias == "REDIS_URL" else ""
                # Never echo a value here: URLs carry keys and passwords.
                self.add(FAIL, alias, error.split(": ", 1)[1] if ": " in error else error, what)
            elif alias not in urls and alias != "REDIS_URL" and not (half_sentinel and alias.startswith("REDIS_SENTINEL")):
                self.add(OK, alias, "ok")
        if half_sentinel:
            self.add(FAIL, "REDIS_SENTINEL_MASTER", "REDIS_SENTINELS and REDIS_SENTINEL_MASTER must be set together",
                     "set both (host:port list and the master name of `sentinel monitor`), or neither")
            self.valid.pop("REDIS_SENTINELS", None)
            self.valid.pop("REDIS_SENTINEL_MASTER", None)

    def check_urls(self) -> None:
        pairs = {"WXBOT_PASSWORD_SYNC_URL": "WXBOT_PASSWORD_SYNC_SECRET",
                 "WXBOT_TICKET_WEBHOOK_URL": "WXBOT_TICKET_WEBHOOK_SECRET"}
        for alias in ("WECHAT_API_BASE_URL", "WXBOT_PASSWORD_SYNC_URL", "WXBOT_TICKET_WEBHOOK_URL",
                      "WXBOT_WECOM_WEBHOOK_URL"):
            if alias not in self.valid:
                continue
            parts = urlsplit(self.valid[alias])
            shown = f"{parts.scheme}://{parts.hostname}"
            if parts.scheme == "http" and not _is_local(parts.hostname or ""):
                self.add(WARN, alias, f"{shown} is plain http over the network", "use https://")
            elif alias in pairs and not self.get(pairs[alias]):
                self.add(WARN, alias, f"{shown}, but {pairs[alias]} is not set: the receiver cannot verify "
                                      "that requests come from wxbot", f"set {pairs[alias]} on both sides")
            else:
                self.add(OK, alias, f"ok ({shown})")

    def check_alert_channels(self) -> None:
        wecom = "WXBOT_WECOM_WEBHOOK_URL" in self.valid
        admins = bool(self.get("WXBOT_ADMIN_OPENIDS"))
        if not wecom and not admins:
            self.add(WARN, "alerts", "no channel: admins will not be told when Redis or deliveries fail",
                     "set WXBOT_WECOM_WEBHOOK_URL (a WeCom group robot) and/or WXBOT_ADMIN_OPENIDS")
        elif admins and not wecom:
            self.add(OK, "alerts", "customer-service messages to admins only (they arrive only within 48 h of "
                                   "the admin's last message; a WeCom robot is more dependable)")
        else:
            self.add(OK, "alerts", "WeCom robot" + (" and admin openids" if admins else ""))
        self.check_ticket_channels(wecom)

    def check_console(self) -> None:
        """The console (/console) needs WXBOT_SECRET_KEY to sign its sessions; without it, it answers 404."""
        if not self.get("WXBOT_SECRET_KEY"):
            # Not a warning: a bot without a console is a valid setup.
            self.add(OK, "console", "off: WXBOT_SECRET_KEY is not set, so /console answers 404",
                     "set WXBOT_SECRET_KEY to a long random value (python3 -c 'import secrets; "
                     "print(secrets.token_urlsafe(32))'), restart, then `wxbot console adduser NAME --role admin`")
        elif "WXBOT_SECRET_KEY" not in self.invalid:
            self.add(OK, "console", "on at /console (users: `wxbot console users`)")

    def check_screenshots(self, settings: Settings) -> None:
        """Screenshots stay in Redis, or go to the S3 bucket: then the client is installed and the bucket
        answers (never printing a key)."""
        from .features.tickets import INSTALL_HINT, S3Shots, minio_missing

        tune = settings.internals().tickets
        days = f"{tune.screenshot_retention / 86400:g} days"
        names = ("WXBOT_S3_ENDPOINT", "WXBOT_S3_BUCKET", "WXBOT_S3_ACCESS_KEY", "WXBOT_S3_SECRET_KEY")
        given = [n for n in names if self.get(n)]
        if not given:
            self.add(OK, "screenshots", f"kept in Redis for {days} (WXBOT_S3_* not set)")
            return
        missing = [n for n in names if n not in self.valid]
        if missing:
            self.add(FAIL, "screenshots", "the S3 bucket is half configured: " + ", ".join(missing)
                     + " missing or invalid", "set all four WXBOT_S3_* variables, or none to keep screenshots in Redis")
            return
        if minio_missing():
            self.add(FAIL, "screenshots", "WXBOT_S3_* are set but the S3 client (minio) is not installed: "
                     "the web and worker processes will not start", f"{INSTALL_HINT}, then restart")
            return
        shots = S3Shots(None, settings, tune.screenshot_retention, self.timeout, tune.screenshot_max_bytes)
        problem = shots.probe()
        if problem:
            self.add(FAIL, "screenshots", f"S3: {problem}",
                     "check WXBOT_S3_ENDPOINT, WXBOT_S3_BUCKET (create the bucket) and the keys")
        else:
            self.add(OK, "screenshots", f"in the S3 bucket {settings.s3_bucket} at {shots.where}, kept {days}")

    def check_ticket_channels(self, wecom: bool) -> None:
        """Tickets tell followers that support will handle them: something must reach support."""
        api = bool(self.get("WECHAT_APP_ID") and self.get("WECHAT_APP_SECRET"))
        hook = "WXBOT_TICKET_WEBHOOK_URL" in self.valid
        support = bool(self.get("WXBOT_SUPPORT_OPENIDS"))
        channels = [name for name, on in (("JSON webhook", hook), ("WeCom robot", wecom),
                                          ("support openids", support and api)) if on]
        if channels:
            self.add(OK, "tickets", "delivered to " + ", ".join(channels))
        else:
            self.add(WARN, "tickets", "no channel reaches support: order reports are stored but nobody is told",
                     "set WXBOT_TICKET_WEBHOOK_URL (+ _SECRET), WXBOT_WECOM_WEBHOOK_URL, or WXBOT_SUPPORT_OPENIDS "
                     "with WECHAT_APP_ID/WECHAT_APP_SECRET")
        if (support or self.get("WXBOT_ADMIN_OPENIDS")) and not api:
            self.add(WARN, "customer-service messages", "admin/support openids are set but WECHAT_APP_ID/"
                     "WECHAT_APP_SECRET are not: no message can be sent to them (or to followers for support replies)",
                     "set WECHAT_APP_ID and WECHAT_APP_SECRET from the MP console")

    def _settings_for_rest(self) -> Settings | None:
        """Settings from the variables that passed, so Redis and files are checked even when, say,
        the token is wrong."""
        data = dict(self.valid)
        data.setdefault("WECHAT_TOKEN", "doctor")
        if "WECHAT_ENCODING_AES_KEY" in data and "WECHAT_APP_ID" not in data:
            data.pop("WECHAT_ENCODING_AES_KEY")
        for alias in ("WXBOT_PASSWORD_SYNC_SECRET", "WXBOT_TICKET_WEBHOOK_SECRET", "WXBOT_ADMIN_TOKEN"):
            if self.get(alias):
                data[alias] = self.get(alias)
        try:
            return Settings.model_validate(data)
        except ValidationError:
            self.add(FAIL, "settings", "cannot continue with these values", "fix the lines above first")
            return None

    # -- redis -------------------------------------------------------------------------------
    def _redis_settings_ok(self) -> bool:
        """False (and one ✗ line) when REDIS_URL or the Sentinel pair was given but is invalid.

        The settings for the other checks are built without invalid values, which would silently mean
        "use the embedded Redis": the doctor would probe (and used to start) a server nobody asked for.
        """
        if self.get("REDIS_SENTINELS") or self.get("REDIS_SENTINEL_MASTER"):
            wrong = [a for a in ("REDIS_SENTINELS", "REDIS_SENTINEL_MASTER") if not self.get(a) or a in self.invalid]
        else:
            wrong = ["REDIS_URL"] if "REDIS_URL" in self.invalid else []
        if not wrong:
            return True
        self.add(FAIL, "Redis", f"not checked (fix {' and '.join(wrong)} first)")
        return False

    def _embedded_client(self, settings: Settings, opts: dict):
        """A client for the embedded Redis if one is running under WXBOT_DATA_DIR, else None (and one
        line). Never starts a server: that is the job of the first serve/worker/gunicorn process."""
        import redis

        from .stores import redis as redisconn

        data_dir = Path(settings.data_dir).resolve()
        sock = data_dir / "redis.sock"
        if len(str(sock).encode()) > redisconn.MAX_SOCKET_PATH:
            self.add(FAIL, "Redis", f"WXBOT_DATA_DIR is too long for the embedded Redis socket ({sock})",
                     f"use a directory path shorter than {redisconn.MAX_SOCKET_PATH - 11} characters")
            return None
        pid = redisconn.server_pid(data_dir)
        if pid is None and not redisconn.ping_unix(sock, timeout=self.timeout):
            writable = next((p for p in (data_dir, *data_dir.parents) if p.exists()), None)
            if writable is None or not os.access(writable, os.W_OK | os.X_OK):
                self.add(FAIL, "Redis", f"embedded Redis cannot start: {writable or data_dir} is not writable",
                         "make WXBOT_DATA_DIR writable for the user running wxbot")
            else:
                self.add(WARN, "Redis", f"embedded Redis not running yet: it starts with the first `wxbot serve`/"
                         f"`worker`/gunicorn process (data in {settings.data_dir})",
                         "start wxbot, then run `wxbot doctor` again to check Redis")
            return None
        if pid is not None and not sock.exists():
            self.add(FAIL, "Redis", f"embedded Redis: redis-server pid {pid} runs on {data_dir} without its socket",
                     f"stop it (kill {pid}); the next wxbot process starts a new one")
            return None
        return redis.Redis(unix_socket_path=str(sock), **opts)

    def check_redis(self, settings: Settings):
        import redis
        from redis.backoff import NoBackoff
        from redis.retry import Retry

        from .defaults import Redis as RedisInternals
        from .stores import redis as redisconn

        rcfg = RedisInternals()
        if settings.redis_sentinels:
            where = f"Sentinel master {settings.redis_sentinel_master!r}"
            fix = "check REDIS_SENTINELS (host:port of the sentinels) and REDIS_SENTINEL_MASTER"
        elif settings.redis_url:
            parts = urlsplit(settings.redis_url)
            where = f"{parts.scheme}://{parts.hostname or parts.path}" + (f":{parts.port}" if parts.port else "")
            fix = "start Redis, or correct host, port and password in REDIS_URL"
        else:
            where = f"embedded Redis in {settings.data_dir}"
            fix = f"see {settings.data_dir / 'redis.log'}"
        probe_cfg = dataclasses.replace(rcfg, socket_timeout=self.timeout, connect_timeout=self.timeout)
        try:
            if settings.redis_sentinels or settings.redis_url:
                client = redisconn.connect(settings, probe_cfg)
            else:
                client = self._embedded_client(settings, dict(
                    socket_timeout=self.timeout, socket_connect_timeout=self.timeout, retry=Retry(NoBackoff(), 1),
                    retry_on_timeout=False, health_check_interval=0, decode_responses=True))
                if client is None:
                    return None
            started = time.monotonic()
            client.ping()
            rtt = time.monotonic() - started
        except ConfigError as exc:
            self.add(FAIL, "Redis", str(exc))
            return None
        except redis.AuthenticationError:
            self.add(FAIL, "Redis", f"{where}: password rejected", "correct the password in REDIS_URL")
            return None
        except redis.TimeoutError:
            self.add(FAIL, "Redis", f"{where}: no answer within {self.timeout:g} s (hung, paused or overloaded)", fix)
            return None
        except (redis.RedisError, OSError, ValueError) as exc:
            self.add(FAIL, "Redis", f"{where}: unreachable ({_redis_reason(exc)})", fix)
            return None
        status = OK
        note = f"{where} answers ({rtt * 1000:.0f} ms)"
        if rtt > rcfg.socket_timeout:
            status = WARN
            note += f", slower than redis.socket_timeout ({rcfg.socket_timeout} s)"
        self.add(status, "Redis", note, "raise redis.socket_timeout in bot.yaml or move Redis closer"
                 if status == WARN else "")
        self._check_redis_server(client)
        self._check_redis_state(client, settings)
        return client

    def _check_redis_state(self, client, settings: Settings) -> None:
        """What the bot noticed and recorded in Redis: lost data, an AES key mismatch."""
        import json

        import redis

        from .alerts import MARKER_FILE, aes_mismatch_since
        from .stores import keys

        try:
            raw = client.get(keys.REDIS_MARKER)
            mismatch = aes_mismatch_since(client)
        except redis.RedisError:
            return
        try:
            remembered = (settings.data_dir / MARKER_FILE).read_text(encoding="utf-8").strip()
        except OSError:
            remembered = ""
        try:
            marker = json.loads(raw) if raw else None
        except ValueError:
            marker = None
        fix = ("turn on persistence (appendonly yes); check the password (wxbot password show) and the tickets "
               "(wxbot tickets list)")
        if marker is None and remembered:
            self.add(FAIL, "Redis data", "Redis lost its data (the deployment's marker is gone: restarted empty or "
                     "a new instance); the worker writes a new marker and alerts admins", fix)
        elif marker is None:
            self.add(OK, "Redis data", "not marked yet (a first install: `wxbot worker` marks it when it starts)")
        elif marker.get("emptied") and time.time() - float(marker["emptied"]) < 7 * 86400:
            when = time.strftime("%Y-%m-%d %H:%M", time.localtime(float(marker["emptied"])))
            self.add(WARN, "Redis data", f"Redis restarted empty at {when} (admins were alerted)", fix)
        else:
            self.add(OK, "Redis data", "initialised, nothing lost since")
        if mismatch is not None:
            when = time.strftime("%Y-%m-%d %H:%M", time.localtime(mismatch))
            self.add(FAIL, "EncodingAESKey", f"correctly signed messages have not decrypted since {when}: the key "
                     "differs from the MP console's (followers get no answer)",
                     f"copy EncodingAESKey again from {CONSOLE} > 服务器配置 into WECHAT_ENCODING_AES_KEY, restart")

    def _check_redis_server(self, client) -> None:
        import redis

        try:
            info = client.info("server")
            repl = client.info("replication")
        except redis.ResponseError:
            info, repl = {}, {}
        version = str(info.get("redis_version", ""))
        if version:
            major_minor = tuple(int(p) for p in re.findall(r"\d+", version)[:2])
            if major_minor < (6, 2):
                self.add(FAIL, "Redis version", f"{version}; wxbot needs 6.2 or newer (streams, GETDEL)",
                         "upgrade Redis")
            else:
                self.add(OK, "Redis version", version)
        if repl.get("role") == "slave":
            self.add(FAIL, "Redis role", "this is a read-only replica",
                     "point REDIS_URL at the master, or use REDIS_SENTINELS")
        try:
            cfg = {}
            for key in ("appendonly", "maxmemory-policy", "maxmemory", "save"):
                cfg.update(client.config_get(key))
        except redis.ResponseError:
            self.add(WARN, "Redis persistence", "cannot read the settings (CONFIG is disabled, as on many managed "
                     "Redis services)", "make sure AOF persistence is on and maxmemory-policy is noeviction in "
                     "your provider's console")
            return
        if cfg.get("appendonly") == "yes":
            self.add(OK, "Redis persistence", "appendonly yes")
        else:
            snap = " (only RDB snapshots)" if cfg.get("save") else " and no snapshots"
            self.add(WARN, "Redis persistence", f"appendonly no{snap}: a restart loses tickets, dedupe keys and "
                     "the current password since the last save",
                     "set `appendonly yes` in redis.conf (or CONFIG SET appendonly yes; CONFIG REWRITE)")
        policy = cfg.get("maxmemory-policy", "")
        limit = int(cfg.get("maxmemory") or 0)
        if policy == "noeviction" or not policy:
            self.add(OK, "Redis eviction", "maxmemory-policy noeviction")
        elif limit == 0:
            self.add(OK, "Redis eviction", f"maxmemory-policy {policy}, but no maxmemory limit: nothing is evicted")
        else:
            self.add(WARN, "Redis eviction", f"maxmemory-policy {policy}: when memory is full Redis deletes keys "
                     "(queued tickets, dedupe keys, the password)",
                     "set `maxmemory-policy noeviction` (wxbot then answers 'busy' instead of losing data)")

    # -- config files ------------------------------------------------------------------------
    def check_config_files(self, settings: Settings, client) -> None:
        import redis

        from .bot import build_features
        from .defaults import Internals
        from .services import Services
        from .settings import load_bot_config
        from .stores.dedupe import DedupeStore
        from .stores.redis import REDIS_ERRORS, Breaker
        from .texts import texts_file

        config_dir = Path(settings.config_dir)
        if not config_dir.is_dir():
            self.add(FAIL, "config", f"{config_dir} is not a directory", "set WXBOT_CONFIG_DIR to the config/ folder")
            return
        errors: list[str] = []
        bot = texts = None
        try:
            bot = load_bot_config(config_dir)
        except ConfigError as exc:
            errors.append(str(exc))
        try:
            texts = texts_file(config_dir)
        except ConfigError as exc:
            errors.append(str(exc))
        if bot is not None and texts is not None:
            if client is None:  # Redis is down: features can still check their files
                client = redis.Redis(unix_socket_path=str(config_dir / ".no-redis.sock"), socket_timeout=0.1)
            internals = Internals()
            services = Services(settings=settings, bot=bot, internals=internals, texts=texts, redis=client,
                                breaker=Breaker(1.0), dedupe=DedupeStore(client, 1, 1))
            try:
                build_features(services)  # loads faq.yaml and every feature's configuration
            except ConfigError as exc:
                errors.append(str(exc))
            except REDIS_ERRORS:
                pass  # reported by the Redis check
            except Exception as exc:  # noqa: BLE001
                errors.append(f"features failed to start ({exc.__class__.__name__}: {' '.join(str(exc).split())[:200]})")
        files = sorted(p for p in config_dir.iterdir() if p.suffix in (".yaml", ".yml"))
        for path in files:
            mine = [e for e in errors if path.name in e]
            for err in mine:
                self.add(FAIL, f"config {path.name}", _strip_path(err, path), f"fix {path} (the bot keeps "
                         "running with the last good version of a file edited while it runs)")
            if not mine:
                self.add(OK, f"config {path.name}", "valid" + RELOAD_NOTES.get(path.name, ""))
        for err in errors:
            if not any(p.name in err for p in files):
                self.add(FAIL, "config", err)
        if not any(p.name == "texts.yaml" for p in files) and not any("texts.yaml" in e for e in errors):
            self.add(FAIL, "config texts.yaml", f"missing in {config_dir}", "restore config/texts.yaml")
        if bot is not None and not bot.password.site_url:
            self.add(WARN, "NextChat address", "password.site_url is empty: the 【密码】 reply has no address or "
                     "fast link", "set password.site_url in config/bot.yaml to the free NextChat's https:// address")

    # -- WeChat ------------------------------------------------------------------------------
    def check_ai(self, settings: Settings) -> None:
        """AI answers: with WXBOT_AI_API_KEY set, one tiny call checks the key and the model."""
        import httpx

        from .defaults import Ai
        from .features.ai import ModelClient, ModelError
        from .settings import load_bot_config

        name = "AI answers"
        if not settings.ai_api_key:
            self.add(OK, name, "off (WXBOT_AI_API_KEY not set)")
            return
        try:
            model = load_bot_config(settings.config_dir).ai.model
        except ConfigError:
            self.add(FAIL, name, "not checked: bot.yaml is broken", "fix the bot.yaml line above")
            return
        host = urlsplit(settings.ai_base_url).hostname
        http = self.http or httpx.Client(follow_redirects=False)
        try:
            ModelClient(http, settings.ai_base_url, settings.ai_api_key).complete(
                [{"role": "user", "content": "ping"}], model, 0, 5, Ai().doctor_timeout)
        except ModelError as exc:
            fixes = {"http_4xx": "check WXBOT_AI_API_KEY (401) and bot.yaml ai.model / WXBOT_AI_BASE_URL (404)",
                     "http_429": "the key is rate limited or out of credit",
                     "timeout": f"check this server's network to {host}",
                     "transport": f"check this server's network to {host} and WXBOT_AI_BASE_URL"}
            self.add(FAIL, name, f"model {model} at {host}: {exc}", fixes.get(exc.kind, "check the AI service"))
            return
        finally:
            if self.http is None:
                http.close()
        self.add(OK, name, f"model {model} at {host} answered")

    def check_access_token(self, settings: Settings) -> None:
        import httpx

        name = "access token"
        if not (settings.wechat_app_id and settings.wechat_app_secret):
            if self.get("WECHAT_APP_SECRET") and not settings.wechat_app_id:
                self.add(FAIL, name, "not checked: WECHAT_APP_ID is missing or wrong", "fix WECHAT_APP_ID above")
            return
        base = settings.wechat_api_base_url.rstrip("/")
        http = self.http or httpx.Client(timeout=self.timeout * 2, follow_redirects=False)
        try:
            resp = http.post(base + "/cgi-bin/stable_token", json={
                "grant_type": "client_credential", "appid": settings.wechat_app_id,
                "secret": settings.wechat_app_secret, "force_refresh": False})
            data = resp.json()
        except httpx.HTTPError as exc:
            self.add(FAIL, name, f"cannot reach {urlsplit(base).hostname} ({exc.__class__.__name__})",
                     "check this server's outbound network (DNS, firewall, proxy) and WECHAT_API_BASE_URL")
            return
        except ValueError:
            self.add(FAIL, name, f"{urlsplit(base).hostname} answered HTTP {resp.status_code} without JSON",
                     "check WECHAT_API_BASE_URL (leave it unset for WeChat itself)")
            return
        finally:
            if self.http is None:
                http.close()
        errcode = int(data.get("errcode") or 0) if isinstance(data, dict) else -1
        if errcode == 0 and isinstance(data, dict) and data.get("access_token"):
            self.add(OK, name, f"obtained (valid {int(data.get('expires_in') or 7200)} s)")
            return
        errmsg = " ".join(str(data.get("errmsg", "")).split())[:200] if isinstance(data, dict) else ""
        status, detail, fix = _token_error(errcode, errmsg)
        self.add(status, name, detail, fix)


def _token_error(errcode: int, errmsg: str) -> tuple[str, str, str]:
    if errcode == 40164:
        ip = re.search(r"invalid ip ([0-9a-fA-F:.]+)", errmsg)
        shown = ip.group(1) if ip else "this server's IP"
        return FAIL, f"WeChat refused: {shown} is not in the IP allow-list (errcode 40164)", \
            f"add {shown} to {CONSOLE} > IP白名单, then run the doctor again"
    if errcode in (40125, 40001):
        return FAIL, f"WeChat refused the AppSecret (errcode {errcode})", \
            f"copy the AppSecret again (or reset it) in {CONSOLE} > 开发者密码(AppSecret)"
    if errcode == 40013:
        return FAIL, "WeChat does not know this AppID (errcode 40013)", f"copy the AppID from {CONSOLE}"
    if errcode == 40243:
        return FAIL, "the AppSecret is frozen (errcode 40243)", f"unfreeze or reset it in {CONSOLE}"
    if errcode in (89503, 89501, 89506, 89507):
        return FAIL, f"an administrator must confirm calls from this IP (errcode {errcode})", \
            "confirm the request sent to the account administrator's WeChat, or add the IP to the allow-list"
    if errcode in (45009, 45011):
        return WARN, f"token quota or frequency limit reached (errcode {errcode})", "try again later"
    if errcode == -1:
        return WARN, "WeChat is busy (errcode -1)", "run the doctor again in a minute"
    return FAIL, f"WeChat answered errcode {errcode}: {errmsg or 'no access_token'}", \
        "look the code up in WeChat's global return codes (全局返回码)"


def _random_token(n: int) -> str:
    alphabet = string.ascii_letters + string.digits
    return "".join(secrets.choice(alphabet) for _ in range(n))


def _n(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def _redis_reason(exc: Exception) -> str:
    text = " ".join(str(exc).split())
    if "Connection refused" in text:
        return "connection refused"
    if "No such file" in text:
        return "socket not found"
    if "Name or service not known" in text or "nodename nor servname" in text:
        return "host name not found"
    if exc.__class__.__name__ == "MasterNotFoundError":
        return "no sentinel knows that master"
    return exc.__class__.__name__


def _strip_path(err: str, path: Path) -> str:
    for prefix in (f"{path}: ", f"{path.resolve()}: "):
        if err.startswith(prefix):
            return err[len(prefix):]
    return err


def _is_local(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _symbols(stream) -> Mapping[str, str]:
    encoding = getattr(stream, "encoding", None) or "utf-8"
    try:
        "✓✗".encode(encoding)
    except (UnicodeEncodeError, LookupError):
        return ASCII_SYMBOLS
    return SYMBOLS


def summary(checks: Iterable[Check]) -> str:
    checks = list(checks)
    fails = sum(c.status == FAIL for c in checks)
    warns = sum(c.status == WARN for c in checks)
    if not fails and not warns:
        return f"All {len(checks)} checks passed."
    parts = []
    if fails:
        parts.append(f"{fails} problem{'s' if fails != 1 else ''} (✗)")
    if warns:
        parts.append(f"{warns} warning{'s' if warns != 1 else ''} (!)")
    return " and ".join(parts) + ": fix them as each line says, then run `wxbot doctor` again."


def main(environ: Mapping[str, str] | None = None, strict: bool = False, out=None, http=None,
         timeout: float = DOCTOR_TIMEOUT) -> int:
    """Run every check, print one line each and a summary; return the exit status."""
    out = out if out is not None else sys.stdout
    checks = Doctor(environ, http=http, timeout=timeout).run()
    symbols = _symbols(out)
    for check in checks:
        print(check.line(symbols), file=out)
    text = summary(checks)
    if symbols is ASCII_SYMBOLS:
        text = text.replace("✗", "FAIL").replace("(!)", "(WARN)")
    print(text, file=out)
    failed = any(c.status == FAIL for c in checks) or (strict and any(c.status == WARN for c in checks))
    return 1 if failed else 0
