"""Configure logging once per process, from the entry points only."""
from __future__ import annotations

import logging
import sys
import time


class _RedactQuery(logging.Filter):
    """Drop query strings and secrets from third-party log lines (httpx logs full URLs at INFO)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.name.startswith(("httpx", "httpcore")):
            return record.levelno >= logging.WARNING
        return True


class _Formatter(logging.Formatter):
    """The standard format, with the timestamp text computed once per second instead of per line."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s %(message)s")
        self._second = -1
        self._stamp = ""

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        second = int(record.created)
        if second != self._second:
            self._second = second
            self._stamp = time.strftime("%Y-%m-%d %H:%M:%S", self.converter(second))
        return f"{self._stamp},{int(record.msecs):03d}"


def configure_logging(level: str = "INFO") -> None:
    root = logging.getLogger()
    if getattr(root, "_wxbot_configured", False):
        root.setLevel(level)
        return
    # One line per message is logged on the hot path: skip the caller's file/line lookup, which no
    # format here prints (the logging docs' own advice for speed). Process and thread ids stay:
    # gunicorn's format prints the pid.
    logging._srcfile = None  # type: ignore[attr-defined]
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_Formatter())
    handler.addFilter(_RedactQuery())
    root.addHandler(handler)
    root.setLevel(level)
    # httpx logs "HTTP Request: POST <full url>" at INFO; the URL may carry a webhook key.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("httpcore").setLevel(logging.WARNING)
    root._wxbot_configured = True  # type: ignore[attr-defined]
