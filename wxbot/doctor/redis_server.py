"""The doctor's Redis checks: reachable (never starting the embedded server), version, role,
persistence, eviction, and what the bot recorded there (lost data, an AES key mismatch, the workers'
heartbeats)."""
from __future__ import annotations

import dataclasses
import os
import re
import time
from pathlib import Path
from urllib.parse import urlsplit

from ..settings import ConfigError, Settings
from ..texts import show_time
from .report import CONSOLE, FAIL, OK, WARN, Report, shown_zone


def version_tuple(version: str) -> tuple[int, ...]:
    """``"7.2.4"`` -> ``(7, 2, 4)``; what is not a number is ignored (``"6.2.0-rc1"`` -> ``(6, 2, 0, 1)``)."""
    return tuple(int(p) for p in re.findall(r"\d+", version))


def version_at_least(version: str, minimum: str) -> bool:
    """Whether a Redis ``redis_version`` is ``minimum`` (``"6.2"``) or newer, compared number by number."""
    have, need = version_tuple(version), version_tuple(minimum)
    return have[:len(need)] >= need



class RedisChecks(Report):
    def _redis_settings_ok(self) -> bool:
        """False (and one ✗ line) when REDIS_URL or the Sentinel pair was given but is invalid.

        The settings for the other checks are built without invalid values, which would silently mean
        "use the embedded Redis": the doctor would probe (and used to start) a server nobody asked for.
        """
        if self.get("REDIS_SENTINELS") or self.get("REDIS_SENTINEL_MASTER"):
            wrong = [a for a in ("REDIS_SENTINELS", "REDIS_SENTINEL_MASTER") if not self.get(a) or a in self.invalid]
        else:
            wrong = ["REDIS_URL"] if "REDIS_URL" in self.invalid else []
        if not wrong:
            return True
        self.add(FAIL, "Redis", f"没有检查（请先修正 {' 和 '.join(wrong)}）")
        return False

    def _embedded_client(self, settings: Settings, opts: dict):
        """A client for the embedded Redis if one is running under WXBOT_DATA_DIR, else None (and one
        line). Never starts a server: that is the job of the first serve/worker/gunicorn process."""
        import redis

        from ..stores import redis as redisconn

        data_dir = Path(settings.data_dir).resolve()
        sock = data_dir / "redis.sock"
        if len(str(sock).encode()) > redisconn.MAX_SOCKET_PATH:
            self.add(FAIL, "Redis", f"WXBOT_DATA_DIR 太长，放不下内置 Redis 的 socket（{sock}）",
                     f"换一个短于 {redisconn.MAX_SOCKET_PATH - 11} 个字符的目录路径")
            return None
        pid = redisconn.server_pid(data_dir)
        if pid is None and not redisconn.ping_unix(sock, timeout=self.timeout):
            writable = next((p for p in (data_dir, *data_dir.parents) if p.exists()), None)
            if writable is None or not os.access(writable, os.W_OK | os.X_OK):
                self.add(FAIL, "Redis", f"内置 Redis 无法启动：{writable or data_dir} 不可写",
                         "让运行 wxbot 的用户可以写入 WXBOT_DATA_DIR")
            else:
                self.add(WARN, "Redis", f"内置 Redis 还没运行：第一个 `wxbot serve`/`worker`/gunicorn 进程启动时"
                         f"它才会启动（数据在 {settings.data_dir}）",
                         "先启动 wxbot，再运行一次 `wxbot doctor` 检查 Redis")
            return None
        if pid is not None and not sock.exists():
            self.add(FAIL, "Redis", f"内置 Redis：redis-server（pid {pid}）在 {data_dir} 上运行，但没有 socket",
                     f"停掉它（kill {pid}）；下一个 wxbot 进程会启动一个新的")
            return None
        return redis.Redis(unix_socket_path=str(sock), **opts)

    def check_redis(self, settings: Settings):
        import redis
        from redis.backoff import NoBackoff
        from redis.retry import Retry

        from ..defaults import Redis as RedisInternals
        from ..stores import redis as redisconn

        rcfg = RedisInternals()
        if settings.redis_sentinels:
            where = f"Sentinel master {settings.redis_sentinel_master!r}"
            fix = "检查 REDIS_SENTINELS（各 Sentinel 的 host:port）和 REDIS_SENTINEL_MASTER"
        elif settings.redis_url:
            parts = urlsplit(settings.redis_url)
            where = f"{parts.scheme}://{parts.hostname or parts.path}" + (f":{parts.port}" if parts.port else "")
            fix = "启动 Redis，或者修正 REDIS_URL 里的主机、端口和密码"
        else:
            where = f"{settings.data_dir} 的内置 Redis"
            fix = f"查看 {settings.data_dir / 'redis.log'}"
        probe_cfg = dataclasses.replace(rcfg, socket_timeout=self.timeout, connect_timeout=self.timeout)
        try:
            if settings.redis_sentinels or settings.redis_url:
                client = redisconn.connect(settings, probe_cfg)
            else:
                client = self._embedded_client(settings, dict(
                    socket_timeout=self.timeout, socket_connect_timeout=self.timeout, retry=Retry(NoBackoff(), 1),
                    retry_on_timeout=False, health_check_interval=0, decode_responses=True))
                if client is None:
                    return None
            started = time.monotonic()
            client.ping()
            rtt = time.monotonic() - started
        except ConfigError as exc:
            self.add(FAIL, "Redis", str(exc))
            return None
        except redis.AuthenticationError:
            self.add(FAIL, "Redis", f"{where}：密码被拒绝", "修正 REDIS_URL 里的密码")
            return None
        except redis.TimeoutError:
            self.add(FAIL, "Redis", f"{where}：{self.timeout:g} 秒内没有应答（卡住、暂停或负载过高）", fix)
            return None
        except (redis.RedisError, OSError, ValueError) as exc:
            self.add(FAIL, "Redis", f"{where}：连不上（{redisconn.describe_error(exc)}）", fix)
            return None
        status = OK
        note = f"{where} 有应答（{rtt * 1000:.0f} 毫秒）"
        if rtt > rcfg.socket_timeout:
            status = WARN
            note += f"，比 redis.socket_timeout（{rcfg.socket_timeout} 秒）还慢"
        self.add(status, "Redis", note, "调大 bot.yaml 里的 redis.socket_timeout，或者把 Redis 放得近一些"
                 if status == WARN else "")
        self._check_redis_server(client, rcfg.min_version)
        self._check_redis_state(client, settings)
        self._check_workers(client, settings)
        return client

    def _check_workers(self, client, settings: Settings) -> None:
        """The workers' heartbeats (``wxbot.worker.HeartbeatTask``): a warning when none is fresher than
        ``worker.heartbeat_stale_beats`` intervals. Only a warning: the web answers without a worker,
        but tickets, alerts and scheduled rotations wait for one."""
        import redis

        from ..worker import worker_beats

        try:
            beats = worker_beats(client)
        except redis.RedisError:
            return
        cfg = settings.internals().worker
        stale = cfg.heartbeat_stale_beats * cfg.heartbeat_interval
        now = self.clock()
        alive = sorted((name for name, at in beats.items() if now - at <= stale), key=lambda n: -beats[n])
        fix = "启动 `wxbot worker`（或者 `wxbot serve`，它会运行一个），并查看它的日志"
        if alive:
            shown = ", ".join(alive[:5]) + (f" 等另外 {len(alive) - 5} 个" if len(alive) > 5 else "")
            ago = max(0, int(now - beats[alive[0]]))
            self.add(OK, "worker", f"{len(alive)} 个 worker 在运行（{shown}；最近一次心跳在 {ago} 秒前）")
        elif beats:
            last = show_time(max(beats.values()), shown_zone(settings))
            self.add(WARN, "worker", f"没有 worker 在运行：工单和计划更换都在等待（最近一次心跳在 "
                     f"{last}，已超过 {stale:g} 秒）", fix)
        else:
            self.add(WARN, "worker", "没有 worker 在运行：工单和计划更换都在等待（从来没有 worker "
                     "向这个 Redis 报到过）", fix)

    def _check_redis_state(self, client, settings: Settings) -> None:
        """What the bot noticed and recorded in Redis: lost data, an AES key mismatch."""
        import json

        import redis

        from ..alerts import MARKER_FILE, aes_mismatch_since
        from ..stores import keys

        try:
            raw = client.get(keys.REDIS_MARKER)
            mismatch = aes_mismatch_since(client)
        except redis.RedisError:
            return
        try:
            remembered = (settings.data_dir / MARKER_FILE).read_text(encoding="utf-8").strip()
        except OSError:
            remembered = ""
        try:
            marker = json.loads(raw) if raw else None
        except ValueError:
            marker = None
        fix = ("打开持久化（appendonly yes）；检查密码（wxbot password show）和工单"
               "（wxbot tickets list）")
        if marker is None and remembered:
            self.add(FAIL, "Redis data", "Redis 丢了数据（这个部署的标记不见了：重启后是空的，或者换了"
                     "一个新实例）；worker 会写一个新标记并提醒管理员", fix)
        elif marker is None:
            self.add(OK, "Redis data", "还没有标记（首次安装：`wxbot worker` 启动时会写上）")
        elif marker.get("emptied") and time.time() - float(marker["emptied"]) < 7 * 86400:
            when = show_time(marker["emptied"], shown_zone(settings))
            self.add(WARN, "Redis data", f"Redis 在 {when} 重启后是空的（已提醒管理员）", fix)
        else:
            self.add(OK, "Redis data", "已初始化，之后没有丢过数据")
        if mismatch is not None:
            when = show_time(mismatch, shown_zone(settings))
            self.add(FAIL, "EncodingAESKey", f"从 {when} 起，签名正确的消息都解密失败：密钥和公众号后台的"
                     "不一致（粉丝收不到回复）",
                     f"从 {CONSOLE} > 服务器配置 重新复制 EncodingAESKey 到 WECHAT_ENCODING_AES_KEY，然后重启")

    def _check_redis_server(self, client, minimum: str) -> None:
        import redis

        try:
            info = client.info("server")
            repl = client.info("replication")
        except redis.ResponseError:
            info, repl = {}, {}
        version = str(info.get("redis_version", ""))
        if version:
            if not version_at_least(version, minimum):
                self.add(FAIL, "Redis version", f"{version} 太旧：wxbot 需要 Redis {minimum} 或更新"
                         "（旧版本不支持 ZMSCORE、XAUTOCLAIM、ZUNION 和 XTRIM MINID）",
                         f"把 Redis 升级到 {minimum} 或更新（或者让 REDIS_URL 指向这样的 Redis）")
            else:
                self.add(OK, "Redis version", f"{version}（需要 {minimum} 或更新）")
        else:
            self.add(WARN, "Redis version", f"服务器没有报告版本（INFO server）；wxbot 需要 "
                     f"{minimum} 或更新", f"确认服务器是 Redis {minimum} 或更新")
        if repl.get("role") == "slave":
            self.add(FAIL, "Redis role", "这是一个只读副本",
                     "让 REDIS_URL 指向 master，或者使用 REDIS_SENTINELS")
        try:
            cfg = {}
            for key in ("appendonly", "maxmemory-policy", "maxmemory", "save"):
                cfg.update(client.config_get(key))
        except redis.ResponseError:
            self.add(WARN, "Redis persistence", "读不到设置（CONFIG 被禁用了，很多托管 Redis 服务都是这样）",
                     "在服务商的控制台里确认已开启 AOF 持久化，并且 maxmemory-policy 是 noeviction")
            return
        if cfg.get("appendonly") == "yes":
            self.add(OK, "Redis persistence", "appendonly yes")
        else:
            snap = "（只有 RDB 快照）" if cfg.get("save") else "，也没有快照"
            self.add(WARN, "Redis persistence", f"appendonly no{snap}：重启会丢掉上次保存之后的工单、去重记录和"
                     "当前密码",
                     "在 redis.conf 里设置 `appendonly yes`（或者 CONFIG SET appendonly yes; CONFIG REWRITE）")
        policy = cfg.get("maxmemory-policy", "")
        limit = int(cfg.get("maxmemory") or 0)
        if policy == "noeviction" or not policy:
            self.add(OK, "Redis eviction", "maxmemory-policy noeviction")
        elif limit == 0:
            self.add(OK, "Redis eviction", f"maxmemory-policy {policy}，但没有设置 maxmemory 上限：不会淘汰任何数据")
        else:
            self.add(WARN, "Redis eviction", f"maxmemory-policy {policy}：内存满时 Redis 会删除数据"
                     "（排队中的工单、去重记录、密码）",
                     "设置 `maxmemory-policy noeviction`（这样 wxbot 会回复“系统忙”，而不是丢数据）")
