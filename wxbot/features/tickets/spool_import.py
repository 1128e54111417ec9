"""Worker task: reports spooled to a file while Redis was down, moved into Redis."""
from __future__ import annotations

import logging
import time

from ... import metrics
from ...retry import Periodic
from .runtime import Runtime

log = logging.getLogger(__name__)


class SpoolImport(Periodic):
    """Worker task: move reports spooled while Redis was down into Redis (idempotent by dedupe id)."""

    name = "tickets_spool"

    def __init__(self, rt: Runtime):
        self.rt = rt
        self.services = rt.services

    def tick(self) -> bool:
        rt = self.rt
        if not self.due(time.monotonic(), rt.internals.spool_interval):
            return False
        files = rt.spool.pending_files()
        if not files:
            return False
        self.services.redis.ping()  # fail fast (file untouched) while Redis is still down
        imported = 0
        for path in files:
            try:
                records = rt.spool.read(path)
            except FileNotFoundError:
                continue  # another worker finished it
            for rec in records:
                fields = dict(rec.get("fields") or {})
                fields["spooled"] = "1"
                fields["told_id"] = rec["id"]
                fields["shots0"] = fields.get("nshots", 0)
                res = rt.store.create(rec["id"], rec["openid"], rec["source"], fields, float(rec["created_at"]),
                                      dialog_after="=", check_limits=False)
                if res.ok:
                    imported += 1
                    metrics.TICKETS.labels("intake", "unspooled").inc()
                    if res.value != rec["id"]:
                        log.warning("spooled ticket got a new id (collision) told=%s ticket=%s", rec["id"], res.value)
                    log.info("spooled ticket imported ticket=%s", res.value)
            try:
                path.unlink()
            except FileNotFoundError:
                pass
        return imported > 0
