"""The FAQ's Redis state: the unmatched-questions list (masked, counted, bounded), the teachings and the
console's edits (answers, removed examples, new entries), all layered over ``faq.yaml``."""
from __future__ import annotations

import json
import time
from dataclasses import dataclass

from ...stores import keys
from ...stores.layers import VersionedLayer
from .masking import mask

DAY = 86400
WEEK_DAYS = 7


@dataclass(frozen=True)
class Unmatched:
    text: str  # normalised and masked
    count: int
    first: float  # 0 when it was recorded before first/last seen were kept
    last: float


class UnmatchedStore:
    """Unmatched questions, most frequent first: a sorted set bounded to about ``max_size`` members,
    with when each was first and last asked, and a per-day count (kept 8 days) for "this week".

    When it grows past 1.25 × ``max_size`` the least asked are dropped, so a new question has some
    time to collect repeats before it competes with the ones kept.
    """

    def __init__(self, client, max_size: int, chars: int):
        self.redis = client
        self.max_size = max_size
        self.chars = chars
        self.key = keys.faq_unmatched()
        self.first_key = keys.faq_unmatched_seen("first")
        self.last_key = keys.faq_unmatched_seen("last")

    def record(self, text: str, now: float | None = None) -> str | None:
        member = mask(text, self.chars)
        if not member:
            return None
        at = time.time() if now is None else now
        day = keys.faq_asked_day(int(at // DAY))
        pipe = self.redis.pipeline(transaction=False)
        pipe.zincrby(self.key, 1, member)
        pipe.hsetnx(self.first_key, member, f"{at:.0f}")
        pipe.hset(self.last_key, member, f"{at:.0f}")
        pipe.zincrby(day, 1, member)
        pipe.zremrangebyrank(day, 0, -(2 * self.max_size) - 1)  # a day keeps its most asked only
        pipe.expire(day, (WEEK_DAYS + 1) * DAY)
        pipe.zcard(self.key)
        size = pipe.execute()[-1]
        if size > self.max_size * 1.25:
            # Drop the least asked, but never the question just counted (ties sort by text, and a
            # new question would otherwise lose to older ones that were asked just as rarely).
            excess = size - self.max_size
            lowest = [m for m in self.redis.zrange(self.key, 0, excess) if m != member][:excess]
            if lowest:
                self.forget(*lowest)
        return member

    def forget(self, *members: str) -> int:
        """Remove questions from the list (the console's "dismiss"); how many were there."""
        if not members:
            return 0
        pipe = self.redis.pipeline(transaction=True)
        pipe.zrem(self.key, *members)
        pipe.hdel(self.first_key, *members)
        pipe.hdel(self.last_key, *members)
        return int(pipe.execute()[0])

    def top(self, limit: int) -> list[tuple[str, int]]:
        return [(m, int(s)) for m, s in self.redis.zrevrange(self.key, 0, limit - 1, withscores=True)]

    def rows(self, limit: int) -> list[Unmatched]:
        """The ``limit`` most asked, with first and last seen, in one round trip."""
        top = self.top(limit)
        if not top:
            return []
        members = [m for m, _ in top]
        pipe = self.redis.pipeline(transaction=False)
        pipe.hmget(self.first_key, members)
        pipe.hmget(self.last_key, members)
        firsts, lasts = pipe.execute()
        return [Unmatched(m, n, float(f or 0), float(la or 0)) for (m, n), f, la in zip(top, firsts, lasts)]

    def week(self, limit: int, now: float | None = None) -> list[tuple[str, int]]:
        """Unmatched questions asked most in the last 7 days (today and the 6 before), most first."""
        today = int((time.time() if now is None else now) // DAY)
        days = [keys.faq_asked_day(d) for d in range(today - WEEK_DAYS + 1, today + 1)]
        rows = self.redis.zunion(days, withscores=True)
        rows.sort(key=lambda ms: (-ms[1], ms[0]))
        return [(m, int(s)) for m, s in rows[:limit]]

    def clear(self) -> None:
        self.redis.delete(self.key, self.first_key, self.last_key)


@dataclass(frozen=True)
class Teaching:
    id: int
    entry: str
    text: str
    by: str
    at: float


# A teaching or an edit, numbered from the one sequence.   KEYS: its hash, seq, version   ARGV: its JSON
_ADD = """
local id = redis.call('INCR', KEYS[2])
redis.call('HSET', KEYS[1], id, ARGV[1])
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


class TeachingStore(VersionedLayer):
    """Phrasings taught by admins (``wxbot faq teach``, ``#教``), layered over ``faq.yaml``.

    One hash of teachings plus a version counter, changed together in one script: every process
    checks the counter with its file mtime check (never per message) and recompiles when it moved, so
    every host answers a teaching at once. ``unteach`` removes one by id (it is also the undo).
    """

    def __init__(self, client):
        super().__init__(client, keys.faq_version())

    def teach(self, entry: str, text: str, by: str, now: float | None = None) -> int:
        at = time.time() if now is None else now
        row = json.dumps({"entry": entry, "text": text, "by": by, "at": round(at, 3)}, ensure_ascii=False)
        return int(self.redis.eval(_ADD, 3, keys.faq_teachings(), keys.faq_teachings_seq(), keys.faq_version(), row))

    def unteach(self, teaching_id: int) -> Teaching | None:
        row = self.redis.eval(_UNTEACH, 2, keys.faq_teachings(), keys.faq_version(), str(teaching_id))
        return _teaching(teaching_id, row) if row else None

    def all(self) -> list[Teaching]:
        return _teachings(self.redis.hgetall(keys.faq_teachings()))

    def snapshot(self) -> tuple[int, dict[str, list[str]]]:
        """(version, entry id -> taught phrasings in teaching order), read in one round trip."""
        version, (rows,) = self.read(keys.faq_teachings())
        return version, _by_entry(rows)


def _teachings(rows: dict[str, str]) -> list[Teaching]:
    return sorted((_teaching(int(k), v) for k, v in rows.items()), key=lambda t: t.id)


def _by_entry(rows: dict[str, str]) -> dict[str, list[str]]:
    """Teachings' hash fields -> entry id -> its taught phrasings, in teaching order."""
    by_entry: dict[str, list[str]] = {}
    for t in _teachings(rows):
        by_entry.setdefault(t.entry, []).append(t.text)
    return by_entry


def _teaching(teaching_id: int, raw) -> Teaching:
    data = json.loads(raw)
    return Teaching(teaching_id, str(data.get("entry", "")), str(data.get("text", "")), str(data.get("by", "")),
                    float(data.get("at") or 0))


@dataclass(frozen=True)
class Edit:
    """One console edit of the FAQ. ``kind``: ``answer`` (``value`` is the new answer), ``unexample``
    (``value`` is a file example taken out) or ``entry`` (a new entry: ``value`` is JSON {topic,
    question, answer})."""

    id: int
    kind: str
    entry: str
    value: str
    by: str
    at: float


EDIT_KINDS = ("answer", "unexample", "entry")



class EditStore(VersionedLayer):
    """The console's FAQ edits, beside the teachings: one hash, the teachings' id sequence (one number
    names a teaching or an edit) and the same version counter, so every process recompiles at its next
    check. ``remove`` is the undo."""

    def __init__(self, client):
        super().__init__(client, keys.faq_version())

    def add(self, kind: str, entry: str, value: str, by: str, now: float | None = None) -> int:
        if kind not in EDIT_KINDS:
            raise ValueError(f"unknown edit kind {kind!r}")
        at = time.time() if now is None else now
        row = json.dumps({"kind": kind, "entry": entry, "value": value, "by": by, "at": round(at, 3)},
                         ensure_ascii=False)
        return int(self.redis.eval(_ADD, 3, keys.faq_edits(), keys.faq_teachings_seq(), keys.faq_version(), row))

    def remove(self, edit_id: int) -> Edit | None:
        row = self.redis.eval(_UNTEACH, 2, keys.faq_edits(), keys.faq_version(), str(edit_id))
        return _edit(edit_id, row) if row else None

    def all(self) -> list[Edit]:
        return _edits(self.redis.hgetall(keys.faq_edits()))

    def layers(self) -> tuple[int, dict[str, list[str]], list[Edit]]:
        """(version, entry id -> taught phrasings, edits in order), read in one round trip."""
        version, (rows, edit_rows) = self.read(keys.faq_teachings(), keys.faq_edits())
        return version, _by_entry(rows), _edits(edit_rows)


def _edits(rows: dict[str, str]) -> list[Edit]:
    return sorted((_edit(int(k), v) for k, v in rows.items()), key=lambda e: e.id)


def _edit(edit_id: int, raw) -> Edit:
    data = json.loads(raw)
    return Edit(edit_id, str(data.get("kind", "")), str(data.get("entry", "")), str(data.get("value", "")),
                str(data.get("by", "")), float(data.get("at") or 0))
