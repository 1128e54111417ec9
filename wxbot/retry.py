"""One backoff for every retry wxbot schedules (ticket deliveries, password sync, alerts).

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
