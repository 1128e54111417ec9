"""One audit log for every admin and support action: password rotations, ticket replies and closes,
FAQ teachings, console sign-ins, refused staff commands. Who, what, when, result; in a Redis Stream
capped to ``retention`` entries, so every web process and worker writes and reads the same log.

``actor`` names a person without secrets: a console user name, ``cli``, ``api``, or ``wx:<hashed
openid>``; ``detail`` is short and never carries a password, token or full openid.
"""
from __future__ import annotations

import time
from dataclasses import dataclass

import redis

from .stores import keys


@dataclass(frozen=True)
class AuditEntry:
    at: float
    actor: str
    action: str
    target: str
    result: str
    detail: str


class AuditLog:
    def __init__(self, client: redis.Redis, retention: int = 10_000):
        self.redis = client
        self.retention = retention

    def record(self, actor: str, action: str, target: str = "", result: str = "ok", detail: str = "",
               now: float | None = None) -> None:
        fields = {"at": f"{time.time() if now is None else now:.3f}", "actor": actor[:64], "action": action[:64],
                  "target": target[:128], "result": result[:64], "detail": detail[:500]}
        self.redis.xadd(keys.AUDIT_LOG, fields, maxlen=self.retention, approximate=True)

    def recent(self, limit: int = 100) -> list[AuditEntry]:
        """Newest first."""
        rows = self.redis.xrevrange(keys.AUDIT_LOG, count=limit)
        return [AuditEntry(float(f.get("at", 0)), f.get("actor", ""), f.get("action", ""), f.get("target", ""),
                           f.get("result", ""), f.get("detail", "")) for _, f in rows]
