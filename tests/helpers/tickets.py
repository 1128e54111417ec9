"""Shared by the ticket tests (tests/features/tickets): constants, the tiny timings, and plain helpers
that read the ticket state in Redis or drive the delivery task. Fixtures are in that folder's conftest."""
from __future__ import annotations

import json
import time

import redis

from helpers.env import internals_env
from helpers.servers import LocalHTTPServer
from wxbot.stores import keys

OPENID = "oTicketFollower000000000001"
OTHER = "oTicketFollower000000000002"
HOOK_SECRET = "hook-signing-secret-0123456789"
HOOK_QUERY_SECRET = "QUERYTOKEN9876543210"
WECOM_KEY = "wecom-key-5f1d2c3b-aaaa-bbbb-cccc-0123456789ab"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + bytes(range(256)) * 4

HOOK_PATH = "/hooks/tickets"
ROBOT_PATH = "/cgi-bin/webhook/send"
CS_PATH = "/cgi-bin/message/custom/send"
TEMPLATE_PATH = "/cgi-bin/message/template/send"

# Tiny timings for every ticket test (the shipped defaults are minutes): wxbot.defaults.Tickets ...
TICKET_INTERNALS = {
    "block_ms": 20, "reclaim_idle": 0.6, "reclaim_interval": 0.1, "max_attempts": 4,
    "backoff_initial": 0.2, "backoff_max": 0.8, "backoff_jitter": 0.05, "attempt_deadline": 1.0,
    "lease_margin": 0.3, "screenshot_max_bytes": 200000, "screenshot_deadline": 1.0, "spool_interval": 0,
    "stream_retention": 0, "batch": 2,
}
WORKER_INTERNALS = {"idle_sleep": 0.02}
# ... and the bot.yaml policy (tickets section) they run with.
TICKET_POLICY = {
    "max_open_per_follower": 3, "max_reports_per_hour": 5,
    "picture_hosts": ["127.0.0.1"],  # the local stand-in for WeChat's picture host
}


def ticket_internals_env() -> dict:
    """``WXBOT_TEST_INTERNALS`` with the tiny timings (in-process services and `wxbot worker` alike)."""
    return internals_env(tickets=TICKET_INTERNALS, worker=WORKER_INTERNALS)


def local_server() -> LocalHTTPServer:
    """A started LocalHTTPServer (stopping it is immediate)."""
    server = LocalHTTPServer()
    server.start()
    return server


# -- the ticket state in Redis ------------------------------------------------------------------------

def ticket_ids(r: redis.Redis) -> list[str]:
    return r.zrange(keys.TICKETS_ALL, 0, -1)


def only_ticket(r: redis.Redis) -> dict:
    ids = ticket_ids(r)
    assert len(ids) == 1, ids
    return r.hgetall(keys.ticket(ids[0]))


def stream_jobs(r: redis.Redis) -> list[dict]:
    return [fields for _id, fields in r.xrange(keys.TICKETS_STREAM)]


def tickets_metric(channel: str, state: str) -> float:
    from prometheus_client import REGISTRY

    return REGISTRY.get_sample_value("wxbot_tickets_total", {"channel": channel, "state": state}) or 0.0


def dialog_state(r: redis.Redis, openid: str = OPENID) -> dict | None:
    raw = r.get(keys.dialog(openid))
    return json.loads(raw) if raw else None


def states(r: redis.Redis, tid: str) -> dict:
    """The per-job, per-channel delivery states of a ticket."""
    return {k: json.loads(v) for k, v in r.hgetall(keys.ticket_deliveries(tid)).items()}


def new_ticket(sim, r, text="付款了key没有发给我 订单号 E2024061512345678 6月15日 20:30 99元", openid=OPENID) -> str:
    """Report an order problem through the simulator; return the new ticket's id (named in the reply)."""
    before = set(r.zrange(keys.TICKETS_ALL, 0, -1))
    reply = sim.text(openid, text)
    (tid,) = set(r.zrange(keys.TICKETS_ALL, 0, -1)) - before
    assert tid in reply.content
    return tid


# -- the delivery task --------------------------------------------------------------------------------

def settled(r: redis.Redis) -> bool:
    """Every stream entry was read by the group and acknowledged."""
    if not r.exists(keys.TICKETS_STREAM):
        return False
    last = r.xrevrange(keys.TICKETS_STREAM, count=1)[0][0]
    groups = r.xinfo_groups(keys.TICKETS_STREAM)
    return bool(groups) and all(g["pending"] == 0 and g["last-delivered-id"] == last for g in groups)


def drain(task, r: redis.Redis, timeout: float = 8.0) -> None:
    """Tick a TicketDelivery until the stream is settled (retries wait for their due time)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        task.tick()
        if settled(r):
            return
        time.sleep(0.01)
    raise AssertionError(f"not settled: {r.xpending(keys.TICKETS_STREAM, keys.TICKETS_GROUP)}")


def seed_tickets(store, n: int, status: str = "open", start: float = 1_700_000_000.0, prefix: str = "2501",
                 category: str = "paid_no_key") -> list[str]:
    """``n`` tickets written straight through the store (fast: no webhook), one second apart from
    ``start``, then replied to or closed as ``status`` says; returns their ids, oldest first."""
    alphabet = "23456789ABCDEFGHJKMNPQRSTVWXYZ"
    ids = []
    for i in range(n):
        digits = f"{i:05d}"
        tid = f"{prefix}{digits[0]}{digits[1]}-" + "".join(alphabet[int(c)] for c in digits[1:])
        res = store.create(tid, f"oSeeded{prefix}{i:018d}", f"seed-{tid}", {"category": category, "order_no": f"E{i:016d}"},
                           start + i, check_limits=False)
        assert res.ok, res
        if status == "replied":
            assert store.add_reply(res.value, "已处理", "seed", f"seed-r-{tid}", start + i).ok
        elif status == "closed":
            assert store.close(res.value, f"seed-c-{tid}", start + i).ok
        ids.append(res.value)
    return ids


class Clock:
    """Unix time under a test's control for TicketDelivery/AlertTask (starts at the real now, so
    Redis expiries computed from it stay sane); ``advance`` moves it."""

    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def run_clocked(tasks, r: redis.Redis, clock: Clock, step: float = 1.0, max_ticks: int = 5000) -> int:
    """Tick the tasks (TicketDelivery, AlertTask) in turn until the stream is settled, moving ``clock``
    on by ``step`` after each round (no sleeping: due times follow the clock). Returns the rounds."""
    for n in range(max_ticks):
        for task in tasks:
            task.tick()
        if settled(r):
            return n
        clock.advance(step)
    raise AssertionError(f"not settled after {max_ticks} ticks: {r.xpending(keys.TICKETS_STREAM, keys.TICKETS_GROUP)}")
