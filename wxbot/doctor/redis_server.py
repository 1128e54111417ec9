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
from .report import CONSOLE, FAIL, OK, WARN, Report, _n, shown_zone


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
        self.add(FAIL, "Redis", f"not checked (fix {' and '.join(wrong)} first)")
        return False

    def _embedded_client(self, settings: Settings, opts: dict):
        """A client for the embedded Redis if one is running under WXBOT_DATA_DIR, else None (and one
        line). Never starts a server: that is the job of the first serve/worker/gunicorn process."""
        import redis

        from ..stores import redis as redisconn

        data_dir = Path(settings.data_dir).resolve()
        sock = data_dir / "redis.sock"
        if len(str(sock).encode()) > redisconn.MAX_SOCKET_PATH:
            self.add(FAIL, "Redis", f"WXBOT_DATA_DIR is too long for the embedded Redis socket ({sock})",
                     f"use a directory path shorter than {redisconn.MAX_SOCKET_PATH - 11} characters")
            return None
        pid = redisconn.server_pid(data_dir)
        if pid is None and not redisconn.ping_unix(sock, timeout=self.timeout):
            writable = next((p for p in (data_dir, *data_dir.parents) if p.exists()), None)
            if writable is None or not os.access(writable, os.W_OK | os.X_OK):
                self.add(FAIL, "Redis", f"embedded Redis cannot start: {writable or data_dir} is not writable",
                         "make WXBOT_DATA_DIR writable for the user running wxbot")
            else:
                self.add(WARN, "Redis", f"embedded Redis not running yet: it starts with the first `wxbot serve`/"
                         f"`worker`/gunicorn process (data in {settings.data_dir})",
                         "start wxbot, then run `wxbot doctor` again to check Redis")
            return None
        if pid is not None and not sock.exists():
            self.add(FAIL, "Redis", f"embedded Redis: redis-server pid {pid} runs on {data_dir} without its socket",
                     f"stop it (kill {pid}); the next wxbot process starts a new one")
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
            fix = "check REDIS_SENTINELS (host:port of the sentinels) and REDIS_SENTINEL_MASTER"
        elif settings.redis_url:
            parts = urlsplit(settings.redis_url)
            where = f"{parts.scheme}://{parts.hostname or parts.path}" + (f":{parts.port}" if parts.port else "")
            fix = "start Redis, or correct host, port and password in REDIS_URL"
        else:
            where = f"embedded Redis in {settings.data_dir}"
            fix = f"see {settings.data_dir / 'redis.log'}"
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
            self.add(FAIL, "Redis", f"{where}: password rejected", "correct the password in REDIS_URL")
            return None
        except redis.TimeoutError:
            self.add(FAIL, "Redis", f"{where}: no answer within {self.timeout:g} s (hung, paused or overloaded)", fix)
            return None
        except (redis.RedisError, OSError, ValueError) as exc:
            self.add(FAIL, "Redis", f"{where}: unreachable ({redisconn.describe_error(exc)})", fix)
            return None
        status = OK
        note = f"{where} answers ({rtt * 1000:.0f} ms)"
        if rtt > rcfg.socket_timeout:
            status = WARN
            note += f", slower than redis.socket_timeout ({rcfg.socket_timeout} s)"
        self.add(status, "Redis", note, "raise redis.socket_timeout in bot.yaml or move Redis closer"
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
        fix = "start `wxbot worker` (or `wxbot serve`, which runs one) and check its log"
        if alive:
            shown = ", ".join(alive[:5]) + (f" and {len(alive) - 5} more" if len(alive) > 5 else "")
            ago = max(0, int(now - beats[alive[0]]))
            self.add(OK, "worker", f"{_n(len(alive), 'worker')} running ({shown}; last heartbeat {ago} s ago)")
        elif beats:
            last = show_time(max(beats.values()), shown_zone(settings))
            self.add(WARN, "worker", f"no worker is running: tickets and scheduled rotations wait (last heartbeat "
                     f"at {last}, older than {stale:g} s)", fix)
        else:
            self.add(WARN, "worker", "no worker is running: tickets and scheduled rotations wait (no worker has "
                     "ever reported to this Redis)", fix)

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
        fix = ("turn on persistence (appendonly yes); check the password (wxbot password show) and the tickets "
               "(wxbot tickets list)")
        if marker is None and remembered:
            self.add(FAIL, "Redis data", "Redis lost its data (the deployment's marker is gone: restarted empty or "
                     "a new instance); the worker writes a new marker and alerts admins", fix)
        elif marker is None:
            self.add(OK, "Redis data", "not marked yet (a first install: `wxbot worker` marks it when it starts)")
        elif marker.get("emptied") and time.time() - float(marker["emptied"]) < 7 * 86400:
            when = show_time(marker["emptied"], shown_zone(settings))
            self.add(WARN, "Redis data", f"Redis restarted empty at {when} (admins were alerted)", fix)
        else:
            self.add(OK, "Redis data", "initialised, nothing lost since")
        if mismatch is not None:
            when = show_time(mismatch, shown_zone(settings))
            self.add(FAIL, "EncodingAESKey", f"correctly signed messages have not decrypted since {when}: the key "
                     "differs from the MP console's (followers get no answer)",
                     f"copy EncodingAESKey again from {CONSOLE} > 服务器配置 into WECHAT_ENCODING_AES_KEY, restart")

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
                self.add(FAIL, "Redis version", f"{version} is too old: wxbot needs Redis {minimum} or newer "
                         "(ZMSCORE, XAUTOCLAIM, ZUNION and XTRIM MINID fail on older servers)",
                         f"upgrade Redis to {minimum} or newer (or point REDIS_URL at one)")
            else:
                self.add(OK, "Redis version", f"{version} ({minimum} or newer needed)")
        else:
            self.add(WARN, "Redis version", f"the server does not say its version (INFO server); wxbot needs "
                     f"{minimum} or newer", f"make sure the server is Redis {minimum} or newer")
        if repl.get("role") == "slave":
            self.add(FAIL, "Redis role", "this is a read-only replica",
                     "point REDIS_URL at the master, or use REDIS_SENTINELS")
        try:
            cfg = {}
            for key in ("appendonly", "maxmemory-policy", "maxmemory", "save"):
                cfg.update(client.config_get(key))
        except redis.ResponseError:
            self.add(WARN, "Redis persistence", "cannot read the settings (CONFIG is disabled, as on many managed "
                     "Redis services)", "make sure AOF persistence is on and maxmemory-policy is noeviction in "
                     "your provider's console")
            return
        if cfg.get("appendonly") == "yes":
            self.add(OK, "Redis persistence", "appendonly yes")
        else:
            snap = " (only RDB snapshots)" if cfg.get("save") else " and no snapshots"
            self.add(WARN, "Redis persistence", f"appendonly no{snap}: a restart loses tickets, dedupe keys and "
                     "the current password since the last save",
                     "set `appendonly yes` in redis.conf (or CONFIG SET appendonly yes; CONFIG REWRITE)")
        policy = cfg.get("maxmemory-policy", "")
        limit = int(cfg.get("maxmemory") or 0)
        if policy == "noeviction" or not policy:
            self.add(OK, "Redis eviction", "maxmemory-policy noeviction")
        elif limit == 0:
            self.add(OK, "Redis eviction", f"maxmemory-policy {policy}, but no maxmemory limit: nothing is evicted")
        else:
            self.add(WARN, "Redis eviction", f"maxmemory-policy {policy}: when memory is full Redis deletes keys "
                     "(queued tickets, dedupe keys, the password)",
                     "set `maxmemory-policy noeviction` (wxbot then answers 'busy' instead of losing data)")
