"""The doctor's report: one line per check, a symbol for its status, and the summary."""
from __future__ import annotations

import secrets
import string
from dataclasses import dataclass
from datetime import timezone, tzinfo
from typing import Callable, Iterable, Mapping

OK, WARN, FAIL = "ok", "warn", "fail"
SYMBOLS = {OK: "✓", WARN: "!", FAIL: "✗"}
ASCII_SYMBOLS = {OK: "OK  ", WARN: "WARN", FAIL: "FAIL"}

CONSOLE = "公众号后台（mp.weixin.qq.com）> 设置与开发 > 基本配置"
DOCTOR_TIMEOUT = 2.0  # seconds for Redis and WeChat checks


@dataclass
class Check:
    status: str
    name: str
    detail: str
    fix: str = ""

    def line(self, symbols: Mapping[str, str] = SYMBOLS) -> str:
        text = f"{symbols[self.status]} {self.name}: {self.detail}"
        return f"{text} -> {self.fix}" if self.fix else text



def shown_zone(settings) -> tzinfo:
    """The zone the doctor shows times in: bot.yaml's ``timezone`` (UTC while bot.yaml is broken; its
    own line says so)."""
    from ..policy import load_bot_config
    from ..settings import ConfigError

    try:
        return load_bot_config(settings.config_dir).zone
    except ConfigError:
        return timezone.utc


class Report:
    """What every group of checks shares: the findings so far and what the environment says."""

    env: dict[str, str]
    http: object
    timeout: float
    clock: Callable[[], float]  # unix time
    checks: list[Check]
    valid: dict[str, str]  # aliases whose value passed on its own
    invalid: set[str]  # aliases whose value failed on its own

    def add(self, status: str, name: str, detail: str, fix: str = "") -> Check:
        check = Check(status, name, detail, fix)
        self.checks.append(check)
        return check

    def get(self, name: str) -> str:
        return self.env.get(name) or ""


def _random_token(n: int) -> str:
    alphabet = string.ascii_letters + string.digits
    return "".join(secrets.choice(alphabet) for _ in range(n))


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
        return f"全部 {len(checks)} 项检查都通过了。"
    parts = []
    if fails:
        parts.append(f"{fails} 个问题（✗）")
    if warns:
        parts.append(f"{warns} 个警告（!）")
    return "，".join(parts) + "：请按每一行说的修复，然后再运行一次 `wxbot doctor`。"

