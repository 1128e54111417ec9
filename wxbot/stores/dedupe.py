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
import time
from dataclasses import dataclass, field

import redis

from . import keys

# KEYS[1] is the dedupe key; the follower's keys are derived from ARGV[1] (the openid) with the
# prefixes of stores/keys.py, which keeps the call to 6 short arguments (redis-py's command packing is
# a large share of the hot path's client CPU). Fine on standalone and Sentinel Redis; not for Cluster.
_CLAIM = """
local v = redis.call('GET', KEYS[1])
if v then return {1, v} end
local openid = ARGV[1]
local out = {}
local mkey = '%(msg)s' .. openid
local n = redis.call('INCR', mkey)
if n == 1 then redis.call('EXPIRE', mkey, ARGV[3]) end
out['n'] = n
local d = redis.call('GET', '%(dialog)s' .. openid)
if d then out['d'] = d end
local pkey = '%(pending)s' .. openid
if redis.call('EXISTS', pkey) == 1 then
  out['p'] = redis.call('LRANGE', pkey, 0, -1)
  redis.call('DEL', pkey)
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


class DedupeStore:
    def __init__(self, client: redis.Redis, ttl_seconds: float, msg_window: int):
        self.client = client
        self.ttl_ms = str(int(ttl_seconds * 1000))
        self.msg_window = str(int(msg_window))
        self._script = client.register_script(_CLAIM)

    def claim(
        self,
        dedupe_id: str,
        openid: str,
        feature: str | None = None,
        feature_window: int = 0,
        snapshot_key: str | None = None,
    ) -> Claim:
        dup, value = self._script(
            keys=[keys.dedupe(dedupe_id)],
            args=[openid, self.ttl_ms, self.msg_window, feature if feature and feature_window else "",
                  int(feature_window), snapshot_key or ""],
        )
        return Claim.from_value(bool(dup), value)

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
