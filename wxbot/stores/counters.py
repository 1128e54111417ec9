"""The dashboard's counters: one Redis hash per hour, kept ``TTL`` seconds.

The claim's Lua script (``stores/dedupe.py``) counts each new message in the hash of its hour, under
the field of the route that takes it (``route_field``: ``r:password``, ``r:faq:answered`` ...), so the
counters cost the request path no extra round trip. A message whose route changes after the claim (a
dialogue takes it) is moved with ``recount``, pipelined with the write that route makes anyway.
``Counters`` reads the hashes back as series of any step (hours, days) for the console.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import redis

from . import keys

HOUR = 3600
TTL = 35 * 86400
"""Seconds an hour's hash is kept: a 30-day chart always has all its hours, whatever the time zone."""
RATE_LIMITED = "r:rate_limit"
"""The field of messages over the per-follower limit (the webhook answers "slow down" to them)."""


def hour_of(now: float) -> int:
    """The hour bucket of unix time ``now``."""
    return int(now // HOUR)


def route_field(route: str, detail: str = "") -> str:
    """The field counting messages taken by ``route`` (``detail``: a finer split, e.g. the FAQ's result)."""
    return f"r:{route}:{detail}" if detail else f"r:{route}"


def recount(pipe, key: str, old: str, new: str) -> None:
    """Queue on ``pipe`` the move of one message from field ``old`` to ``new`` of hash ``key``."""
    pipe.hincrby(key, old, -1)
    pipe.hincrby(key, new, 1)
    pipe.expire(key, TTL)


def recount_args(stat: tuple[str, str], new: str) -> tuple[str, str, str] | None:
    """``recount``'s arguments for a claim that counted ``stat`` (hash, field), or None when nothing moves."""
    key, old = stat
    if not key or not old or old == new or old == RATE_LIMITED:
        return None
    return key, old, new


@dataclass
class Series:
    """Counts per bucket: ``starts[i]`` is bucket i's start (unix time), ``values[field][i]`` its count."""

    starts: list[float]
    step: int
    values: dict[str, list[int]] = field(default_factory=dict)

    def total(self, name: str) -> int:
        return sum(self.values.get(name, ()))

    def fields(self) -> list[str]:
        return sorted(self.values)

    def sum_of(self, names) -> list[int]:
        """Per bucket, the sum of the fields ``names``."""
        out = [0] * len(self.starts)
        for name in names:
            for i, v in enumerate(self.values.get(name, ())):
                out[i] += v
        return out


class Counters:
    """Reads the hourly hashes back (writing is the claim's)."""

    def __init__(self, client: redis.Redis):
        self.client = client

    def hours(self, first: int, last: int) -> dict[int, dict[str, int]]:
        """Hour bucket -> {field: count} for the hours ``first`` .. ``last`` (inclusive), one round trip."""
        hours = list(range(first, last + 1))
        if not hours:
            return {}
        pipe = self.client.pipeline(transaction=False)
        for h in hours:
            pipe.hgetall(keys.stats_hour(h))
        out: dict[int, dict[str, int]] = {}
        for h, row in zip(hours, pipe.execute()):
            counts = {}
            for name, value in (row or {}).items():
                try:
                    counts[name] = int(value)
                except ValueError:
                    continue
            out[h] = counts
        return out

    def series(self, start: float, buckets: int, step: int = HOUR) -> Series:
        """``buckets`` buckets of ``step`` seconds (a multiple of an hour) from ``start`` (an hour's start)."""
        if step % HOUR or buckets <= 0:
            raise ValueError("step must be a whole number of hours and buckets positive")
        first = hour_of(start)
        per = step // HOUR
        rows = self.hours(first, first + buckets * per - 1)
        series = Series(starts=[first * HOUR + i * step for i in range(buckets)], step=step)
        for h, counts in rows.items():
            i = (h - first) // per
            for name, value in counts.items():
                series.values.setdefault(name, [0] * buckets)[i] += value
        return series
