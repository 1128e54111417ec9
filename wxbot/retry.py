"""One backoff for every retry wxbot schedules (ticket deliveries, password sync, alerts), and the one
pace of the worker's periodic tasks (``Periodic``).

tenacity computes the delay (exponential from ``initial``, capped at ``maximum``, plus up to ``jitter``
seconds at random); wxbot stores the due time in Redis rather than sleeping, so any worker can retry.
"""
from __future__ import annotations

from types import SimpleNamespace

from tenacity import wait_exponential_jitter


def backoff(attempt: int, initial: float, maximum: float, jitter: float = 0.0) -> float:
    """Seconds to wait after failed attempt number ``attempt`` (1 = the first failure)."""
    try:
        wait = wait_exponential_jitter(multiplier=initial, max=maximum, jitter=jitter)
    except TypeError:  # tenacity < 9.2 names it ``initial``
        wait = wait_exponential_jitter(initial=initial, max=maximum, jitter=jitter)
    return float(wait(SimpleNamespace(attempt_number=max(1, attempt))))


class Periodic:
    """A worker task that works at most once per interval of its own clock (and at its first tick)."""

    _next = 0.0  # when the task is next due, on its clock

    def due(self, now: float, interval: float) -> bool:
        """Whether the task works at ``now``; if so, the next time is ``interval`` later."""
        if now < self._next:
            return False
        self._next = now + interval
        return True
