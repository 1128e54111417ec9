"""The file spool of reports taken while Redis was unreachable (imported later by ``spool_import.py``)."""
from __future__ import annotations

import fcntl
import json
import logging
import os
import time
from pathlib import Path

log = logging.getLogger(__name__)


class Spool:
    """Reports taken while Redis was unreachable: ``<data_dir>/tickets/spool.jsonl``, one JSON line each.

    Appends hold an exclusive ``flock`` (several gunicorn workers may append) and are fsynced before
    the follower is told the report was received. The importer first renames the file (so new
    appends start a fresh one), then imports each line idempotently by its dedupe id, then deletes it;
    a crash in between leaves the ``.importing`` file, which the next run finishes.
    """

    def __init__(self, data_dir: Path):
        self.dir = Path(data_dir) / "tickets"
        self.path = self.dir / "spool.jsonl"
        self.lock_path = self.dir / "spool.lock"

    def append(self, record: dict) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        line = (json.dumps(record, ensure_ascii=False, separators=(",", ":")) + "\n").encode("utf-8")
        with open(self.lock_path, "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
            try:
                os.write(fd, line)
                os.fsync(fd)
            finally:
                os.close(fd)

    def pending_files(self) -> list[Path]:
        """Move the live spool aside (if it has data) and return every file waiting for import."""
        if not self.dir.exists():
            return []
        if self.path.exists() and self.path.stat().st_size > 0:
            with open(self.lock_path, "a") as lock:
                fcntl.flock(lock, fcntl.LOCK_EX)
                if self.path.exists() and self.path.stat().st_size > 0:
                    dest = self.dir / f"spool-{time.time_ns()}-{os.getpid()}.importing"
                    os.rename(self.path, dest)
        return sorted(self.dir.glob("spool-*.importing"))

    @staticmethod
    def read(path: Path) -> list[dict]:
        out = []
        with open(path, "rb") as fh:
            for lineno, raw in enumerate(fh, 1):
                try:
                    rec = json.loads(raw)
                except ValueError:
                    # A torn last line (crash mid-append, never acknowledged to the follower).
                    log.warning("spool line skipped: not JSON file=%s line=%d", path.name, lineno)
                    continue
                if isinstance(rec, dict) and rec.get("source") and rec.get("openid"):
                    out.append(rec)
        return out
