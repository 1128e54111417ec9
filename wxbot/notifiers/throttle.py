"""The WeCom robot's budget: 20 messages a minute per robot (per webhook key), shared by every process.

WeCom refuses the 21st message of a minute with errcode 45009, so every sender (ticket texts, their
screenshots, admin alerts; web and worker, on any host) takes a slot here first. The budget is a
sliding window in Redis (a sorted set of send times, one Lua script: trim, count, add), plus a *hold*
(the robot said 45009, or answered 429/503 with ``Retry-After``) that no sender passes before its end.
Callers pass the time (``now``, unix seconds), so a test's clock drives it. The webhook key is never
stored or logged: a robot is named by a hash of it.
"""
from __future__ import annotations

import hashlib
import uuid
from urllib.parse import parse_qs, urlsplit

import redis

from ..stores import keys

PER_MINUTE = 20  # WeCom's limit for one group robot
WINDOW = 60.0  # seconds
RATE_LIMITED_HOLD = 60.0  # seconds a 45009 holds the robot at least

# KEYS: 1 send times (zset), 2 hold-until. ARGV: 1 now, 2 window, 3 limit, 4 member.
# Returns 0 (a slot was taken) or the seconds to wait before one can be.
_TAKE = """
local now = tonumber(ARGV[1])
local hold = tonumber(redis.call('GET', KEYS[2]) or '0')
if hold > now then return tostring(hold - now) end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - tonumber(ARGV[2]))
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[3]) then
  local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
  return tostring(math.max(0.001, tonumber(oldest[2]) + tonumber(ARGV[2]) - now))
end
redis.call('ZADD', KEYS[1], now, ARGV[4])
redis.call('EXPIRE', KEYS[1], math.ceil(tonumber(ARGV[2])) + 60)
return '0'
"""

# KEYS: 1 hold-until. ARGV: 1 until, 2 ttl seconds. Only ever lengthens a hold.
_HOLD = """
local cur = tonumber(redis.call('GET', KEYS[1]) or '0')
if tonumber(ARGV[1]) > cur then
  redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
end
return 1
"""


def robot_id(url: str) -> str:
    """A name for the robot that reveals nothing of its key (a hash of the key, or of the URL)."""
    key = (parse_qs(urlsplit(url).query).get("key") or [url])[0]
    return hashlib.sha256(key.encode("utf-8")).hexdigest()[:16]


class RobotBudget:
    """Slots of one shared budget per robot; ``take`` before every message."""

    def __init__(self, client: redis.Redis, limit: int = PER_MINUTE, window: float = WINDOW):
        self.limit = limit
        self.window = window
        self._take = client.register_script(_TAKE)
        self._hold = client.register_script(_HOLD)

    def take(self, url: str, now: float) -> float:
        """Take a slot for one message now: 0.0, or (nothing taken) the seconds until one frees up."""
        rid = robot_id(url)
        wait = self._take(keys=[keys.wecom_sent(rid), keys.wecom_hold(rid)],
                          args=[repr(float(now)), self.window, self.limit, uuid.uuid4().hex])
        return float(wait)

    def hold(self, url: str, until: float, now: float) -> None:
        """No message to this robot before ``until`` (a longer hold already set stays)."""
        rid = robot_id(url)
        self._hold(keys=[keys.wecom_hold(rid)], args=[repr(float(until)), max(1, int(until - now) + 60)])
