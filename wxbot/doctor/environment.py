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
from .report import CONSOLE, FAIL, OK, WARN, Report, _random_token

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
        where = f"{CONSOLE} > 服务器配置 里的 Token（两边的值必须相同）"
        if not value:
            self.add(FAIL, name, "没有设置", f"把它设为 {where}")
        elif _quoted_or_padded(value):
            self.add(FAIL, name, "前后有空格或引号", "去掉它们：值就是 Token 本身")
        elif not TOKEN_RE.match(value):
            self.add(FAIL, name, f"必须是 3-32 位字母或数字（现在是 {len(value)} 个字符"
                     + ("" if value.isalnum() else "，其中有的不是字母或数字") + "）",
                     f"另选一个 3-32 位字母/数字的 Token，并保存为 {where}")
        elif len(value) < SAFE_TOKEN_CHARS:
            self.valid[name] = value
            self.add(WARN, name, f"只有 {len(value)} 个字符：太短的 Token 可以凭一个带签名的网址离线猜出来"
                     "（一条代理日志就够了）",
                     f"换一个 32 位随机字母/数字的 Token，例如 {_random_token(32)}，并保存为 {where}")
        else:
            self.valid[name] = value
            self.add(OK, name, f"正常（{len(value)} 个字符）")

    def check_aes_key(self) -> None:
        name, value = "WECHAT_ENCODING_AES_KEY", self.get("WECHAT_ENCODING_AES_KEY")
        where = f"从 {CONSOLE} > 服务器配置 复制 EncodingAESKey（消息加解密密钥）"
        if not value:
            self.add(OK, name, "没有设置：明文模式（消息不加密；工作人员的 # 指令需要"
                               "安全模式）")
            return
        if _quoted_or_padded(value):
            self.add(FAIL, name, "前后有空格或引号", "去掉它们")
            return
        if len(value) == 44 and value.endswith("="):
            self.add(FAIL, name, "有 44 个字符，最后是 '='", "去掉末尾的 '='：这个密钥是 43 个字符")
            return
        if len(value) != 43:
            self.add(FAIL, name, f"有 {len(value)} 个字符，必须正好 43 个", where)
            return
        try:
            raw = base64.b64decode(value + "=", validate=True)
        except (binascii.Error, ValueError):
            self.add(FAIL, name, "含有字母和数字以外的字符", where)
            return
        if len(raw) != 32:
            self.add(FAIL, name, "解码后不是 32 字节", where)
            return
        self.valid[name] = value
        self.add(OK, name, "正常：安全模式（消息加密；公众号后台请选 安全模式 或 兼容模式）")

    def check_admin_token(self) -> None:
        name, value = "WXBOT_ADMIN_TOKEN", self.get("WXBOT_ADMIN_TOKEN")
        need = Admin().min_token_chars
        if not value:
            self.add(OK, name, "没有设置：管理 HTTP 接口已关闭")
        elif len(value) < need:
            self.add(FAIL, name, f"只有 {len(value)} 个字符（至少 {need} 个）：换掉之前，管理 HTTP 接口"
                     "一直关闭（404）；机器人照常为粉丝服务",
                     f"设置 WXBOT_ADMIN_TOKEN={secrets.token_urlsafe(32)}（刚生成的），然后重启")
        else:
            self.add(OK, name, f"正常（{len(value)} 个字符）")

    def check_app_id(self) -> None:
        name, value = "WECHAT_APP_ID", self.get("WECHAT_APP_ID")
        where = f"从 {CONSOLE} 复制 AppID（开发者ID）"
        if not value:
            if self.get("WECHAT_ENCODING_AES_KEY"):
                self.add(FAIL, name, "没有设置，但安全模式（WECHAT_ENCODING_AES_KEY）需要它", where)
            elif self.get("WECHAT_APP_SECRET"):
                self.add(FAIL, name, "没有设置，但设置了 WECHAT_APP_SECRET", where)
            else:
                self.add(OK, name, "没有设置：调用微信接口的功能（菜单、客服"
                                   "消息）已关闭")
            return
        if _quoted_or_padded(value):
            self.add(FAIL, name, "前后有空格或引号", "去掉它们")
        elif value.startswith("gh_"):
            self.add(FAIL, name, "这是原始ID（gh_ 开头），不是 AppID", where)
        elif not APP_ID_RE.match(value):
            self.add(FAIL, name, "必须是 'wx' 加 16 位十六进制数字（共 18 个字符）", where)
        else:
            self.valid[name] = value
            self.add(OK, name, "正常")

    def check_app_secret(self) -> None:
        name, value = "WECHAT_APP_SECRET", self.get("WECHAT_APP_SECRET")
        if not value:
            self.add(OK, name, "没有设置：跳过 access token 检查")
        elif _quoted_or_padded(value):
            self.add(FAIL, name, "前后有空格或引号", "去掉它们")
        else:
            self.valid[name] = value
            self.add(OK, name, f"已设置（{len(value)} 个字符，下面会通过获取 access token 来检查）")

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
                what = "格式应为 redis://[:password@]host:6379/0" if alias == "REDIS_URL" else ""
                # Never echo a value here: URLs carry keys and passwords.
                self.add(FAIL, alias, error.split(": ", 1)[1] if ": " in error else error, what)
            elif alias not in urls and alias != "REDIS_URL" and not (half_sentinel and alias.startswith("REDIS_SENTINEL")):
                self.add(OK, alias, "正常")
        if half_sentinel:
            self.add(FAIL, "REDIS_SENTINEL_MASTER", "REDIS_SENTINELS 和 REDIS_SENTINEL_MASTER 必须同时设置",
                     "两个都设置（host:port 列表，和 `sentinel monitor` 里的 master 名称），或者都不设置")
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
                self.add(WARN, alias, f"{shown} 是经过网络的明文 http", "改用 https://")
            elif alias in pairs and not self.get(pairs[alias]):
                self.add(WARN, alias, f"{shown}，但没有设置 {pairs[alias]}：接收端无法确认"
                                      "请求来自 wxbot", f"在两边都设置 {pairs[alias]}")
            else:
                self.add(OK, alias, f"正常（{shown}）")

    def check_alert_channels(self) -> None:
        wecom = "WXBOT_WECOM_WEBHOOK_URL" in self.valid
        admins = bool(self.get("WXBOT_ADMIN_OPENIDS"))
        if not wecom and not admins:
            self.add(WARN, "alerts", "没有提醒渠道：Redis 或投递出问题时，管理员不会收到提醒",
                     "设置 WXBOT_WECOM_WEBHOOK_URL（企业微信群机器人）和/或 WXBOT_ADMIN_OPENIDS")
        elif admins and not wecom:
            self.add(OK, "alerts", "只通过客服消息提醒管理员（只有管理员在 48 小时内给公众号发过消息才能"
                                   "收到；企业微信机器人更可靠）")
        else:
            self.add(OK, "alerts", "企业微信机器人" + ("和管理员 openid" if admins else ""))
        self.check_ticket_channels(wecom)

    def check_console(self) -> None:
        """The console (/console) needs WXBOT_SECRET_KEY to sign its sessions; without it, it answers 404."""
        if not self.get("WXBOT_SECRET_KEY"):
            # Not a warning: a bot without a console is a valid setup.
            self.add(OK, "console", "关闭：没有设置 WXBOT_SECRET_KEY，/console 返回 404",
                     "把 WXBOT_SECRET_KEY 设为一个足够长的随机值（python3 -c 'import secrets; "
                     "print(secrets.token_urlsafe(32))'），重启，再运行 `wxbot console adduser NAME --role admin`")
        elif "WXBOT_SECRET_KEY" not in self.invalid:
            self.add(OK, "console", "已开启，地址 /console（账号：`wxbot console users`）")

    def check_ticket_channels(self, wecom: bool) -> None:
        """Tickets tell followers that support will handle them: something must reach support."""
        api = bool(self.get("WECHAT_APP_ID") and self.get("WECHAT_APP_SECRET"))
        hook = "WXBOT_TICKET_WEBHOOK_URL" in self.valid
        support = bool(self.get("WXBOT_SUPPORT_OPENIDS"))
        channels = [name for name, on in (("JSON webhook", hook), ("企业微信机器人", wecom),
                                          ("客服 openid", support and api)) if on]
        if channels:
            self.add(OK, "tickets", "发送到 " + "、".join(channels))
        else:
            self.add(WARN, "tickets", "没有任何渠道能通知客服：订单问题报告会保存下来，但没有人会收到通知",
                     "设置 WXBOT_TICKET_WEBHOOK_URL（加 _SECRET）、WXBOT_WECOM_WEBHOOK_URL，或者 WXBOT_SUPPORT_OPENIDS "
                     "加 WECHAT_APP_ID/WECHAT_APP_SECRET")
        if (support or self.get("WXBOT_ADMIN_OPENIDS")) and not api:
            self.add(WARN, "customer-service messages", "设置了管理员/客服 openid，但没有设置 WECHAT_APP_ID/"
                     "WECHAT_APP_SECRET：无法给他们发消息（也无法把客服回复发给粉丝）",
                     "从公众号后台取得 WECHAT_APP_ID 和 WECHAT_APP_SECRET 并设置")

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
            self.add(FAIL, "settings", "用这些值无法继续检查", "先修复上面几行")
            return None
