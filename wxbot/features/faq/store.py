"""The unmatched-questions list in Redis (masked, counted, bounded)."""
from __future__ import annotations

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
