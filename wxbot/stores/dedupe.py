"""Exactly-once claims for WeChat deliveries, in one Redis round trip.

One Lua script claims the message (set-if-absent with TTL on its dedupe id) and, for a new claim, also
counts the follower's messages (and a feature's own counter), reads the follower's dialogue state,
takes any support replies waiting for them, and reads the feature's snapshot key (e.g. the password
followers are shown). That snapshot is stored with the claim, so a retry of a *replayable* route renders
exactly the same reply from the same data without any side effect happening twice. Routes with side
effects store their rendered reply afterwards (``store_reply``), and retries replay it.
"""
from __future__ import annotations

import json
import os
import threading
import time
import weakref
from dataclasses import dataclass, field

import redis
from redis.exceptions import NoScriptError

from . import keys

# KEYS[1] is the dedupe key; the follower's keys are derived from ARGV[1] (the openid) with the
# prefixes of stores/keys.py, which keeps the call to 8 short arguments (redis-py's command packing is
# a large share of the hot path's client CPU). Fine on standalone and Sentinel Redis; not for Cluster.
_CLAIM = """
local v = redis.call('GET', KEYS[1])
if v then
  -- Our own claim whose answer was lost (the connection failed after Redis ran it) and was retried:
  -- still the first delivery, not a duplicate.
  if string.sub(v, 1, 1) == 'S' and string.find(v, '"t":"' .. ARGV[9] .. '"', 1, true) then return {0, v} end
  return {1, v}
end
local openid = ARGV[1]
local out = {t = ARGV[9]}
local mkey = '%(msg)s' .. openid
local n = redis.call('INCR', mkey)
if n == 1 then redis.call('EXPIRE', mkey, ARGV[3]) end
out['n'] = n
local d = redis.call('GET', '%(dialog)s' .. openid)
if d then out['d'] = d end
local pkey = '%(pending)s' .. openid
local tkey = pkey .. '%(taken)s'
-- Waiting support replies are taken only for a reply the follower will see (ARGV[7]) and while the
-- follower is within the message limit (ARGV[8]); otherwise they wait for the next message. Taken
-- texts stay in a "taken" list until the reply that shows them is built (confirm_pending); texts
-- taken by a claim whose reply never went out are shown again with the next message.
if ARGV[7] == '1' and n <= tonumber(ARGV[8]) and (redis.call('EXISTS', pkey) == 1 or redis.call('EXISTS', tkey) == 1) then
  local texts = redis.call('LRANGE', tkey, 0, -1)
  for _, t in ipairs(redis.call('LRANGE', pkey, 0, -1)) do table.insert(texts, t) end
  redis.call('DEL', pkey, tkey)
  redis.call('RPUSH', tkey, unpack(texts))
  redis.call('EXPIRE', tkey, 86400)
  out['p'] = texts
end
if ARGV[4] ~= '' then
  local fkey = '%(feature)s' .. ARGV[4] .. ':' .. openid
  local f = redis.call('INCR', fkey)
  if f == 1 then redis.call('EXPIRE', fkey, ARGV[5]) end
  out['f'] = f
end
if ARGV[6] ~= '' then
  local s = redis.call('GET', ARGV[6])
  if s then out['s'] = s end
end
local payload = 'S' .. cjson.encode(out)
redis.call('SET', KEYS[1], payload, 'PX', ARGV[2])
return {0, payload}
""" % {
    "msg": keys.msg_counter(""),
    "dialog": keys.dialog(""),
    "pending": keys.pending_replies(""),
    "taken": keys.pending_taken("")[len(keys.pending_replies("")):],
    "feature": keys.feature_counter("", "")[:-1],
}


@dataclass(slots=True)
class Claim:
    """What the claim saw: ``duplicate`` deliveries carry the first delivery's data."""

    duplicate: bool
    count: int = 0
    feature_count: int = 0
    dialog: str | None = None
    pending: list[str] = field(default_factory=list)
    snapshot: str | None = None
    reply: str | None = None  # a stored rendered reply (duplicates of side-effect routes)

    @classmethod
    def from_value(cls, duplicate: bool, value: str) -> "Claim":
        if value.startswith("R"):
            return cls(duplicate=duplicate, reply=value[1:])
        data = json.loads(value[1:])
        pending = data.get("p") or []
        return cls(
            duplicate=duplicate,
            count=int(data.get("n", 0)),
            feature_count=int(data.get("f", 0)),
            dialog=data.get("d"),
            pending=list(pending) if isinstance(pending, list) else [],
            snapshot=data.get("s"),
        )


class _Held:
    """A connection taken from the pool for one thread; given back when released or collected."""

    __slots__ = ("conn", "until", "pid", "_finalizer", "__weakref__")

    def __init__(self, pool, until: float):
        self.conn = pool.get_connection("EVALSHA")
        self.until = until
        self.pid = os.getpid()
        self._finalizer = weakref.finalize(self, _give_back, pool, self.conn)

    def release(self, disconnect: bool) -> None:
        if disconnect:
            self.conn.disconnect()
        self._finalizer()


def _give_back(pool, conn) -> None:
    try:
        pool.release(conn)
    except Exception:  # a pool reset after fork no longer knows it: nothing to give back
        pass


def _bulk(value: str) -> bytes:
    data = value.encode("utf-8")
    return b"$%d\r\n%s\r\n" % (len(data), data)


class DedupeStore:
    """The claim, sent as one pre-packed EVALSHA on a pooled redis-py connection.

    Calling the script through ``Redis.evalsha`` costs ~90 µs of client CPU per message (measured,
    redis-py 5.2; 8.x is slower); most of it is generic command packing and dispatch. Packing this one
    fixed-shape command by hand and sending it on a connection from redis-py's own pool (same sockets,
    timeouts, parser and Sentinel/URL handling) costs ~55 µs. Everything else uses redis-py normally.
    """

    HOLD = 1.0  # seconds a thread keeps its claim connection before handing it back to the pool

    def __init__(self, client: redis.Redis, ttl_seconds: float, msg_window: int, msg_limit: int = 1 << 30):
        self.client = client
        self.ttl_ms = str(int(ttl_seconds * 1000))
        self.msg_window = str(int(msg_window))
        self._script = client.register_script(_CLAIM)
        self._prefix = b"*13\r\n$7\r\nEVALSHA\r\n" + _bulk(self._script.sha) + b"$1\r\n1\r\n"
        self._fixed = _bulk(self.ttl_ms) + _bulk(self.msg_window)
        self._limit = _bulk(str(int(msg_limit)))
        self._local = threading.local()

    def claim(
        self,
        dedupe_id: str,
        openid: str,
        feature: str | None = None,
        feature_window: int = 0,
        snapshot_key: str | None = None,
        take_pending: bool = True,
    ) -> Claim:
        use_feature = bool(feature and feature_window)
        packed = b"".join((
            self._prefix, _bulk(keys.dedupe(dedupe_id)), _bulk(openid), self._fixed,
            _bulk(feature if use_feature else ""), _bulk(str(int(feature_window)) if use_feature else "0"),
            _bulk(snapshot_key or ""), b"$1\r\n1\r\n" if take_pending else b"$1\r\n0\r\n", self._limit,
            b"$16\r\n" + os.urandom(8).hex().encode() + b"\r\n",  # this claim's token (see the script)
        ))
        dup, value = self._call(packed)
        return Claim.from_value(bool(dup), value)

    def _connection(self):
        """This thread's claim connection, taken from redis-py's pool and held for ``HOLD`` seconds.

        ``ConnectionPool.get_connection`` probes every connection it hands out for unread data (a
        non-blocking recv plus two socket mode switches: three syscalls per message). A connection
        whose every reply has been read needs no probe, so each thread keeps one for a while and
        then returns it, which also lets a Sentinel pool move it to a new master. When the thread
        ends, its holder is collected and the connection goes back to the pool.
        """
        held = getattr(self._local, "held", None)
        now = time.monotonic()
        if held is not None and (now >= held.until or held.pid != os.getpid()):
            self._drop(disconnect=held.pid != os.getpid())
            held = None
        if held is None:
            held = _Held(self.client.connection_pool, now + self.HOLD)
            self._local.held = held
        return held.conn

    def _drop(self, disconnect: bool) -> None:
        held = getattr(self._local, "held", None)
        self._local.held = None
        if held is not None:
            held.release(disconnect)

    def _call(self, packed: bytes):
        for attempt in range(3):
            conn = self._connection()
            try:
                conn.send_packed_command([packed], check_health=False)
                return conn.read_response()
            except NoScriptError:
                if attempt == 2:
                    raise
                self.client.script_load(_CLAIM)  # a restarted or new server: load it, then retry
            except redis.ConnectionError:
                # A socket the server closed (e.g. Redis restarted): retry once on a fresh one. If
                # Redis did run the first attempt, the claim token makes the retry see its own claim.
                # Timeouts are not retried, so a hung Redis costs one socket timeout.
                self._drop(disconnect=True)
                if attempt >= 1:
                    raise
            except BaseException:
                self._drop(disconnect=True)
                raise
        raise redis.ConnectionError("claim failed")

    def confirm_pending(self, openid: str, left: list[str]) -> None:
        """The reply showing the taken support replies is built: forget them, and put back in front of
        the follower's list the ones that did not fit."""
        pipe = self.client.pipeline(transaction=True)
        pipe.delete(keys.pending_taken(openid))
        if left:
            pipe.lpush(keys.pending_replies(openid), *reversed(left))
        pipe.execute()

    def store_reply(self, dedupe_id: str, reply: str) -> None:
        """Record the rendered reply of a side-effect route, so retries replay it."""
        self.client.set(keys.dedupe(dedupe_id), "R" + reply, px=int(self.ttl_ms), xx=True)

    def wait_reply(self, dedupe_id: str, timeout: float, poll: float = 0.05) -> str | None:
        """Wait for the first delivery of a side-effect route to store its reply."""
        deadline = time.monotonic() + timeout
        key = keys.dedupe(dedupe_id)
        while time.monotonic() < deadline:
            value = self.client.get(key)
            if value is None:
                return None
            if value.startswith("R"):
                return value[1:]
            time.sleep(poll)
        return None
