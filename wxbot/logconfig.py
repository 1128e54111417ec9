"""Configure logging once per process, from the entry points only.

wxbot logs one line per message on the hot path, so the records are kept cheap through logging's
documented knobs (no thread or multiprocessing names, no caller lookup) and a
formatter that renders the timestamp once per second.
"""
from __future__ import annotations

import logging
import sys
import time


class _RedactQuery(logging.Filter):
    """Drop httpx's INFO lines: they carry full URLs, and a URL may carry a webhook key."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.name.startswith(("httpx", "httpcore")):
            return record.levelno >= logging.WARNING
        return True


class _Formatter(logging.Formatter):
    """The standard format with the time in UTC, ISO 8601 and saying so (``2026-12-01T12:05:00Z``),
    whatever the server's zone: times people read elsewhere are in bot.yaml's ``timezone``, and a log
    line's zone must never be a guess. ``formatTime`` (the documented override point) reuses the text
    of the current second instead of calling strftime for every line."""

    converter = time.gmtime

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s %(message)s")
        self._second = -1
        self._stamp = ""

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:  # noqa: N802
        second = int(record.created)
        if second != self._second:
            self._second = second
            self._stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", self.converter(second))
        return self._stamp


def configure_logging(level: str = "INFO") -> None:
    root = logging.getLogger()
    if getattr(root, "_wxbot_configured", False):
        root.setLevel(level)
        return
    logging.logThreads = False  # (process ids stay: gunicorn's format prints %(process)d)
    logging.logMultiprocessing = False
    # No caller lookup per record (the Logging HOWTO's "Optimization" table: set ``logging._srcfile``
    # to None): no format here prints a file, line or function, and walking the stack for them was
    # 10-15% of a 【密码】 request's CPU (bench/hotpath.py).
    logging._srcfile = None
    handler = logging.StreamHandler(sys.stderr)
    # The time is UTC and says so (Z); gunicorn's own lines use the same formatter (gunicorn_conf).
    handler.setFormatter(_Formatter())
    handler.addFilter(_RedactQuery())
    root.addHandler(handler)
    root.setLevel(level)
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("httpcore").setLevel(logging.WARNING)
    root._wxbot_configured = True  # type: ignore[attr-defined]
