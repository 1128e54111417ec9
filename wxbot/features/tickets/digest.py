"""The tickets' texts for the WeCom robot: one message each while the robot's budget allows, merged into
digests when it does not (50 tickets in a burst make ~20 messages, then a few digests a minute later).

Every ticket's markdown is queued in Redis per robot (``keys.wecom_digest``); whoever attempts a
``wecom`` channel takes the oldest waiting texts that fit in one message (WeCom's 4096 bytes) under a
lease, takes a slot of the robot's shared budget (``notifiers.throttle.RobotBudget``: tickets,
screenshots and alerts, all workers), sends them as one message and marks each of those tickets'
channel done. Without a slot, a rate-limit (45009) or a failed send the texts go back to the queue;
a sender that dies leaves them leased, and the next flush after the lease takes them again. A text is
never dropped for the budget: it waits, and waiting is not a failed attempt.
"""
from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from ...notifiers import wecom
from ...notifiers.throttle import RATE_LIMITED_HOLD, RobotBudget, robot_id
from ...notifiers.webhook import DeliveryError
from ...stores import keys

if TYPE_CHECKING:
    from ...services import Services

log = logging.getLogger(__name__)

SEPARATOR = "\n\n"

# KEYS: 1 queue, 2 inflight, 3 texts. ARGV: 1 item, 2 now, 3 text. An item in flight is not queued again.
_ENQUEUE = """
if redis.call('ZSCORE', KEYS[2], ARGV[1]) then return 0 end
redis.call('HSET', KEYS[3], ARGV[1], ARGV[3])
redis.call('ZADD', KEYS[1], 'NX', ARGV[2], ARGV[1])
return 1
"""

# KEYS: 1 queue, 2 inflight, 3 texts. ARGV: 1 now, 2 lease end, 3 max bytes, 4 separator bytes, 5 max items.
# Expired leases go back to the front of the queue (score 0: "has waited"); then the oldest text is
# leased, or, when it has waited, the oldest texts that fit in one message. Returns {item, text, ...}.
_TAKE = """
local stale = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', ARGV[1])
for _, item in ipairs(stale) do
  redis.call('ZREM', KEYS[2], item)
  redis.call('ZADD', KEYS[1], 0, item)
end
local first = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
if #first == 0 then return {} end
local most = tonumber(ARGV[5])
if tonumber(first[2]) > 0 then most = 1 end
local out, size = {}, 0
for _, item in ipairs(redis.call('ZRANGE', KEYS[1], 0, most - 1)) do
  local text = redis.call('HGET', KEYS[3], item)
  if not text then
    redis.call('ZREM', KEYS[1], item)
  else
    local add = #text
    if #out > 0 then add = add + tonumber(ARGV[4]) end
    if #out > 0 and size + add > tonumber(ARGV[3]) then break end
    size = size + add
    redis.call('ZREM', KEYS[1], item)
    redis.call('ZADD', KEYS[2], ARGV[2], item)
    table.insert(out, item)
    table.insert(out, text)
  end
end
return out
"""

# KEYS: 1 inflight, 2 texts, 3.. each item's delivery hash. ARGV: 1 now, 2 note, then item, field pairs.
# Each item's channel becomes done (keeping its attempt count) unless it is already final.
_DONE = """
for i = 3, #KEYS do
  local item, field = ARGV[2 * (i - 2) + 1], ARGV[2 * (i - 2) + 2]
  redis.call('ZREM', KEYS[1], item)
  redis.call('HDEL', KEYS[2], item)
  local cur = redis.call('HGET', KEYS[i], field)
  local a, final = 0, false
  if cur then
    local ok, st = pcall(cjson.decode, cur)
    if ok and type(st) == 'table' then
      a = tonumber(st['a']) or 0
      final = st['s'] == 'done' or st['s'] == 'dead' or st['s'] == 'skipped' or st['s'] == 'deferred'
    end
  end
  if not final then
    redis.call('HSET', KEYS[i], field, cjson.encode({s = 'done', a = a, n = 0, t = tonumber(ARGV[1]), e = ARGV[2]}))
  end
end
return 1
"""


def item_name(tid: str, job: str) -> str:
    return f"{tid}|{job}"


class RobotDigest:
    """The queue of ticket texts for one deployment's robot(s), and the flush that sends them."""

    def __init__(self, services: "Services", budget: RobotBudget, limit_bytes: int, lease: float):
        self.services = services
        self.r = services.redis
        self.budget = budget
        self.limit_bytes = limit_bytes
        self.lease = lease
        self._enqueue = self.r.register_script(_ENQUEUE)
        self._take = self.r.register_script(_TAKE)
        self._done = self.r.register_script(_DONE)

    @staticmethod
    def _keys(url: str) -> list[str]:
        rid = robot_id(url)
        return [keys.wecom_digest(rid, "queue"), keys.wecom_digest(rid, "inflight"), keys.wecom_digest(rid, "texts")]

    def _header(self, count: int) -> str:
        return self.services.texts.get().render("tickets.support.digest_header", count=count)

    def enqueue(self, url: str, item: str, text: str, now: float) -> None:
        self._enqueue(keys=self._keys(url), args=[item, repr(now), text])

    def drop(self, url: str, item: str) -> None:
        """A ticket whose channel is final otherwise (dead-lettered): its text leaves the queue."""
        queue, inflight, texts = self._keys(url)
        pipe = self.r.pipeline(transaction=True)
        pipe.zrem(queue, item)
        pipe.zrem(inflight, item)
        pipe.hdel(texts, item)
        pipe.execute()

    def _requeue(self, url: str, items: list[str]) -> None:
        queue, inflight, _texts = self._keys(url)
        pipe = self.r.pipeline(transaction=True)
        pipe.zrem(inflight, *items)
        pipe.zadd(queue, {item: 0 for item in items})  # back to the front, marked "has waited"
        pipe.execute()

    def flush(self, url: str, now: float, deadline: float) -> tuple[list[str], float, str]:
        """Send the oldest text (or the texts that waited, merged) if the budget allows: (items sent,
        0.0, ""), or ([], seconds to wait, why). A failed send puts them back and raises DeliveryError
        (the caller's failed attempt); a 45009 or a ``Retry-After`` also holds the robot for everyone."""
        room = self.limit_bytes - len(self._header(99).encode("utf-8")) - len(SEPARATOR)
        raw = self._take(keys=self._keys(url), args=[repr(now), repr(now + self.lease), room, len(SEPARATOR), 50])
        items, texts = raw[0::2], raw[1::2]
        if not items:
            return [], self.lease, "being sent by another worker"
        wait = self.budget.take(url, now)
        if wait > 0:
            self._requeue(url, items)
            return [], wait, "waiting for the WeCom robot's budget (20 messages a minute)"
        content = texts[0] if len(texts) == 1 else self._header(len(texts)) + SEPARATOR + SEPARATOR.join(texts)
        try:
            wecom.send_markdown(self.services.http, url, content, deadline, self.limit_bytes)
        except DeliveryError as exc:
            self._requeue(url, items)
            if exc.rate_limited:
                self.budget.hold(url, now + RATE_LIMITED_HOLD, now)
                log.warning("wecom robot rate-limited (45009): holding it for %.0fs, %d text(s) wait",
                            RATE_LIMITED_HOLD, len(items))
                return [], RATE_LIMITED_HOLD, "WeCom robot rate-limited (45009): held for a minute"
            if exc.retry_after is not None:
                self.budget.hold(url, now + self.retry_after_cap(exc.retry_after), now)
            raise
        note = f"in a digest of {len(items)}" if len(items) > 1 else ""
        tids = [item.split("|", 1)[0] for item in items]
        fields = [f"{item.split('|', 1)[1]}|wecom" for item in items]
        args: list = [repr(now), note]
        for item, field in zip(items, fields):
            args += [item, field]
        self._done(keys=self._keys(url)[1:] + [keys.ticket_deliveries(t) for t in tids], args=args)
        if len(items) > 1:
            log.info("wecom digest sent tickets=%d (the robot's budget was short)", len(items))
        return items, 0.0, ""

    def retry_after_cap(self, seconds: float) -> float:
        return min(seconds, self.services.internals.http.retry_after_max)
