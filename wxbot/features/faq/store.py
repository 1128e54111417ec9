"""The FAQ's Redis state: the unmatched-questions list (masked, counted, bounded) and the teachings."""
from __future__ import annotations

import json
import time
from dataclasses import dataclass

from ...stores import keys
from .matcher import mask


class UnmatchedStore:
    """Unmatched questions, most frequent first: a sorted set bounded to about ``max_size`` members.

    When it grows past 1.25 × ``max_size`` the least asked are dropped, so a new question has some
    time to collect repeats before it competes with the ones kept.
    """

    def __init__(self, client, max_size: int, chars: int):
        self.redis = client
        self.max_size = max_size
        self.chars = chars
        self.key = keys.faq_unmatched()

    def record(self, text: str) -> str | None:
        member = mask(text, self.chars)
        if not member:
            return None
        pipe = self.redis.pipeline(transaction=False)
        pipe.zincrby(self.key, 1, member)
        pipe.zcard(self.key)
        _, size = pipe.execute()
        if size > self.max_size * 1.25:
            # Drop the least asked, but never the question just counted (ties sort by text, and a
            # new question would otherwise lose to older ones that were asked just as rarely).
            excess = size - self.max_size
            lowest = [m for m in self.redis.zrange(self.key, 0, excess) if m != member][:excess]
            if lowest:
                self.redis.zrem(self.key, *lowest)
        return member

    def top(self, limit: int) -> list[tuple[str, int]]:
        return [(m, int(s)) for m, s in self.redis.zrevrange(self.key, 0, limit - 1, withscores=True)]

    def clear(self) -> None:
        self.redis.delete(self.key)


@dataclass(frozen=True)
class Teaching:
    id: int
    entry: str
    text: str
    by: str
    at: float


# KEYS: teachings, seq, version   ARGV: entry, text, by, at
_TEACH = """
local id = redis.call('INCR', KEYS[2])
redis.call('HSET', KEYS[1], id, cjson.encode({entry=ARGV[1], text=ARGV[2], by=ARGV[3], at=tonumber(ARGV[4])}))
redis.call('INCR', KEYS[3])
return id
"""
# KEYS: teachings, version   ARGV: id
_UNTEACH = """
local row = redis.call('HGET', KEYS[1], ARGV[1])
if not row then return false end
redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('INCR', KEYS[2])
return row
"""


class TeachingStore:
    """Phrasings taught by admins (``wxbot faq teach``, ``#教``), layered over ``faq.yaml``.

    One hash of teachings plus a version counter, changed together in one script: every process
    checks the counter with its file mtime check (never per message) and recompiles when it moved, so
    every host answers a teaching at once. ``unteach`` removes one by id (it is also the undo).
    """

    def __init__(self, client):
        self.redis = client

    def version(self) -> int:
        return int(self.redis.get(keys.faq_version()) or 0)

    def teach(self, entry: str, text: str, by: str, now: float | None = None) -> int:
        at = time.time() if now is None else now
        return int(self.redis.eval(_TEACH, 3, keys.faq_teachings(), keys.faq_teachings_seq(), keys.faq_version(),
                                   entry, text, by, f"{at:.3f}"))

    def unteach(self, teaching_id: int) -> Teaching | None:
        row = self.redis.eval(_UNTEACH, 2, keys.faq_teachings(), keys.faq_version(), str(teaching_id))
        return _teaching(teaching_id, row) if row else None

    def all(self) -> list[Teaching]:
        rows = self.redis.hgetall(keys.faq_teachings())
        return sorted((_teaching(int(k), v) for k, v in rows.items()), key=lambda t: t.id)

    def snapshot(self) -> tuple[int, dict[str, list[str]]]:
        """(version, entry id -> taught phrasings in teaching order), read in one round trip."""
        pipe = self.redis.pipeline(transaction=True)
        pipe.get(keys.faq_version())
        pipe.hgetall(keys.faq_teachings())
        version, rows = pipe.execute()
        by_entry: dict[str, list[str]] = {}
        for t in sorted((_teaching(int(k), v) for k, v in rows.items()), key=lambda t: t.id):
            by_entry.setdefault(t.entry, []).append(t.text)
        return int(version or 0), by_entry


def _teaching(teaching_id: int, raw) -> Teaching:
    data = json.loads(raw)
    return Teaching(teaching_id, str(data.get("entry", "")), str(data.get("text", "")), str(data.get("by", "")),
                    float(data.get("at") or 0))
