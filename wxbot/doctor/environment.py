"""The doctor's environment checks: each variable on its own, then the pairs that go together."""
from __future__ import annotations

import base64
import binascii
import ipaddress
import secrets
from urllib.parse import urlsplit

from pydantic import ValidationError

from ..defaults import Admin
from ..settings import APP_ID_RE, TOKEN_RE, Settings, _first_error, folder_paths
from .report import CONSOLE, FAIL, OK, WARN, Report, _n, _random_token

SAFE_TOKEN_CHARS = 16  # a shorter WECHAT_TOKEN is guessable offline from one signed URL


def _quoted_or_padded(value: str) -> bool:
    return value != value.strip() or (len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"")


def _is_local(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False



class EnvironmentChecks(Report):
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
        data.update(folder_paths(self.env))  # the bot folder's config/ and var/, from any directory
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
