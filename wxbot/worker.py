"""The background process (``wxbot worker``): ticket delivery, password sync and scheduled rotation,
outbound retries, alerts. The features list their tasks (``wxbot.bot.Features.worker_tasks``); the
loop runs them in turn.

A task is an object with ``name`` and ``tick() -> bool`` (True when it did work). SIGTERM/SIGINT
let the current tick finish, then the loop stops. Any number of workers may run against one Redis:
tasks coordinate through Redis (consumer groups, locks), never through process memory.
"""
from __future__ import annotations

import logging
import os
import signal
import socket
import threading
import time
from typing import TYPE_CHECKING, Protocol

from .retry import Periodic
from .stores import keys
from .stores.redis import REDIS_ERRORS

if TYPE_CHECKING:
    from .services import Services

log = logging.getLogger(__name__)


class Task(Protocol):
    name: str

    def tick(self) -> bool: ...


class HeartbeatTask(Periodic):
    """Note in Redis (``keys.WORKERS``: this process -> unix time) that this worker is alive, every
    ``worker.heartbeat_interval``; processes silent for a day are forgotten. The console's dashboard
    reads it (``worker_beats``)."""

    name = "heartbeat"
    FORGET = 86400

    def __init__(self, services: "Services", clock=time.time):
        self.services = services
        self.clock = clock
        self.me = f"{socket.gethostname()}:{os.getpid()}"

    def tick(self) -> bool:
        now = self.clock()
        if not self.due(now, self.services.internals.worker.heartbeat_interval):
            return False
        r = self.services.redis
        beats = worker_beats(r)
        pipe = r.pipeline(transaction=False)
        pipe.hset(keys.WORKERS, self.me, repr(now))
        stale = [name for name, at in beats.items() if name != self.me and now - at > self.FORGET]
        if stale:
            pipe.hdel(keys.WORKERS, *stale)
        pipe.execute()
        return False  # never keeps the worker loop busy


def worker_beats(client) -> dict[str, float]:
    """Worker process -> unix time of its last heartbeat."""
    out = {}
    for name, value in (client.hgetall(keys.WORKERS) or {}).items():
        try:
            out[name] = float(value)
        except ValueError:
            continue
    return out


class Worker:
    def __init__(self, services: "Services", tasks: list[Task]):
        self.services = services
        self.tasks = tasks
        self.cfg = services.internals.worker
        self.stopping = threading.Event()

    def install_signal_handlers(self) -> None:
        def stop(signum, frame):  # noqa: ARG001
            log.info("worker stopping after the current item (signal %s)", signum)
            self.stopping.set()

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)

    def run_once(self) -> bool:
        did = False
        for task in self.tasks:
            if self.stopping.is_set():
                break
            try:
                did = task.tick() or did
            except REDIS_ERRORS as exc:
                log.warning("worker task=%s redis unavailable (%s)", task.name, exc.__class__.__name__)
                self.stopping.wait(self.cfg.redis_retry_sleep)
            except Exception:
                log.exception("worker task=%s failed", task.name)
        return did

    def run(self, max_loops: int | None = None, until: float | None = None) -> None:
        """Loop until stopped; ``max_loops``/``until`` (monotonic deadline) are test knobs."""
        log.info("worker started tasks=%s", ",".join(t.name for t in self.tasks) or "-")
        loops = 0
        while not self.stopping.is_set():
            did = self.run_once()
            loops += 1
            if max_loops is not None and loops >= max_loops:
                break
            if until is not None and time.monotonic() >= until:
                break
            if not did:
                self.stopping.wait(self.cfg.idle_sleep)
        log.info("worker stopped")
