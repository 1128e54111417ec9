"""Operations wiring: the worker tasks that deliver admin alerts (and watch Redis) and that add the
worker's counters to /metrics. Listed in ``wxbot.services.FEATURES``."""
from __future__ import annotations

from .alerts import AlertTask
from .metrics import MetricsPushTask


def register(services) -> None:
    tasks = services.extensions.setdefault("worker_tasks", [])
    tasks.append(AlertTask(services))
    tasks.append(MetricsPushTask(services))
