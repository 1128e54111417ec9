"""Configure logging once per process, from the entry points only."""
from __future__ import annotations

import logging
import sys


class _RedactQuery(logging.Filter):
    """Drop httpx's INFO lines: they carry full URLs, and a URL may carry a webhook key."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.name.startswith(("httpx", "httpcore")):
            return record.levelno >= logging.WARNING
        return True


def configure_logging(level: str = "INFO") -> None:
    root = logging.getLogger()
    if getattr(root, "_wxbot_configured", False):
        root.setLevel(level)
        return
    handler = logging.StreamHandler(sys.stderr)
    # The time carries its zone (the process's local zone), like gunicorn's own lines.
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s",
                                           datefmt="%Y-%m-%d %H:%M:%S%z"))
    handler.addFilter(_RedactQuery())
    root.addHandler(handler)
    root.setLevel(level)
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("httpcore").setLevel(logging.WARNING)
    root._wxbot_configured = True  # type: ignore[attr-defined]
