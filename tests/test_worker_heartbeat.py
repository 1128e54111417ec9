"""The worker's heartbeat (keys.WORKERS): written every interval on the task's clock, silent processes
forgotten after a day."""
from __future__ import annotations

from wxbot.stores import keys
from wxbot.worker import HeartbeatTask, worker_beats


class Clock:
    def __init__(self, now: float):
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_the_heartbeat_is_written_once_per_interval_and_old_processes_are_forgotten(services, redis_client):
    interval = services.internals.worker.heartbeat_interval
    clock = Clock(1_750_000_000.0)
    redis_client.hset(keys.WORKERS, mapping={"gone:1": repr(clock.now - HeartbeatTask.FORGET - 1),
                                            "recent:2": repr(clock.now - 60), "junk:3": "x"})
    task = HeartbeatTask(services, clock=clock)
    assert task.tick() is False  # never keeps the loop busy
    beats = worker_beats(redis_client)
    assert beats[task.me] == clock.now and "gone:1" not in beats and "recent:2" in beats
    assert "junk:3" not in beats  # unreadable values are skipped
    clock.now += interval / 2
    task.tick()
    assert worker_beats(redis_client)[task.me] == clock.now - interval / 2  # not yet due
    clock.now += interval / 2
    task.tick()
    assert worker_beats(redis_client)[task.me] == clock.now
