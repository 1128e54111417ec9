"""``wxbot doctor``: check the whole configuration and say what to do, one line per check.

Every check runs, whatever fails before it: the environment is checked variable by variable (not
through ``Settings.from_env``, which stops at the first problem), then the YAML files through the same
loaders the bot uses, then Redis (reachable, version, persistence, eviction, a running worker), then
WeChat's access token.
It is a diagnostic: it never starts the embedded Redis, only asks one that is already running.

Lines start with ✓ (fine), ! (works, but should be fixed) or ✗ (wxbot will not work properly).
Exit status: 0 when nothing is ✗ (and, with ``--strict``, nothing is !), else 1. Secrets are never
printed, only their length or shape.
"""
from __future__ import annotations

import os
import sys
import time
from typing import Callable, Mapping

from .environment import EnvironmentChecks
from .files import FileChecks
from .redis_server import RedisChecks
from .remote import RemoteChecks
from .report import ASCII_SYMBOLS, DOCTOR_TIMEOUT, FAIL, OK, WARN, Check, _symbols, summary

__all__ = ["Doctor", "Check", "main", "summary", "OK", "WARN", "FAIL"]


class Doctor(EnvironmentChecks, RedisChecks, FileChecks, RemoteChecks):
    """Runs the checks of every area in order; each group lives in the module named for it."""

    def __init__(self, environ: Mapping[str, str] | None = None, http=None, timeout: float = DOCTOR_TIMEOUT,
                 clock: Callable[[], float] = time.time):
        self.env = {k: v for k, v in (os.environ if environ is None else environ).items()}
        self.http = http
        self.timeout = timeout
        self.clock = clock  # unix time: how old the workers' heartbeats are
        self.checks: list[Check] = []
        self.valid: dict[str, str] = {}  # aliases whose value passed on its own
        self.invalid: set[str] = set()  # aliases whose value failed on its own

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
            self.add(FAIL, "doctor", f"有一项检查意外出错（{exc.__class__.__name__}）",
                     "请把 `wxbot doctor` 的输出发给开发人员")
            return None


def main(environ: Mapping[str, str] | None = None, strict: bool = False, out=None, http=None,
         timeout: float = DOCTOR_TIMEOUT, clock: Callable[[], float] = time.time) -> int:
    """Run every check, print one line each and a summary; return the exit status."""
    out = out if out is not None else sys.stdout
    checks = Doctor(environ, http=http, timeout=timeout, clock=clock).run()
    symbols = _symbols(out)
    for check in checks:
        print(check.line(symbols), file=out)
    text = summary(checks)
    if symbols is ASCII_SYMBOLS:
        text = text.replace("✗", "FAIL").replace("（!）", "（WARN）")
    print(text, file=out)
    failed = any(c.status == FAIL for c in checks) or (strict and any(c.status == WARN for c in checks))
    return 1 if failed else 0
