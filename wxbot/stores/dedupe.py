"""Exactly-once claims for WeChat deliveries, in one Redis round trip.

One Lua script claims the message (set-if-absent with TTL on its dedupe id) and, for a new claim, also
counts the follower's messages (and the route's own counter), reads the follower's dialogue state,
takes any support replies waiting for them, and reads the route's read key (e.g. the password
followers are shown), as the route's ``ClaimNeeds`` say. That snapshot is stored with the claim, so a retry of a *replayable* route renders
exactly the same reply from the same data without any side effect happening twice. Routes with side
effects store their rendered reply afterwards (``store_reply``), and retries replay it.
"""
from __future__ import annotations

import hashlib
import json
import os
import time
from dataclasses import dataclass, field

import redis
from redis.exceptions import NoScriptError

from . import counters, keys

# KEYS: 1 dedupe id, 2 the follower's message counter, 3 their dialogue, 4 their waiting support
# replies, 5 the replies taken for a reply being built, 6 the route's counter, 7 the route's read key
# (6 and 7 are only touched when ARGV says so). ARGV: 1 TTL ms, 2 message window s, 3 the route
# counter's window s (0: none), 4 read KEYS[7] (1/0), 5 the reply is visible (1/0), 6 the message
# limit, 7 this claim's token, 8 lease ms (0: a replayable route, never taken over). KEYS[8] (plaintext
# mode) is the replay record of the signed URL, ARGV 9 the body's hash, 10 its TTL s: the first body
# seen with a signed URL wins, another body with it is refused before anything else ({2, ''}).
# KEYS[10] is the dashboard's counter hash of this hour (stores/counters.py; '' for none): ARGV 12 the
# field counting this message (its route), 13 the hash's TTL s, 14 '1' when a message over the limit is
# counted as ``r:rate_limit`` instead (the webhook then answers it so).
_CLAIM = """
if KEYS[8] ~= '' and not redis.call('SET', KEYS[8], ARGV[9], 'NX', 'EX', ARGV[10])
    and redis.call('GET', KEYS[8]) ~= ARGV[9] then
  return {2, ''}
end
local v = redis.call('GET', KEYS[1])
if v then
  if string.sub(v, 1, 1) == 'S' then
    -- Our own claim whose answer was lost (the connection failed after Redis ran it) and was retried:
    -- still the first delivery, not a duplicate.
    if string.find(v, '"t":"' .. ARGV[7] .. '"', 1, true) then return {0, v} end
    -- A holder that never stored an outcome (crashed between the claim and its side effect): once
    -- its lease has run out, the next delivery takes the claim over.
    local held = cjson.decode(string.sub(v, 2))
    local now = redis.call('TIME')
    local now_ms = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
    if not (held['l'] and tonumber(held['l']) > 0 and now_ms > tonumber(held['l'])) then return {1, v} end
  else
    return {1, v}
  end
end
local out = {t = ARGV[7]}
local n = redis.call('INCR', KEYS[2])
if n == 1 then redis.call('EXPIRE', KEYS[2], ARGV[2]) end
out['n'] = n
-- the dialogue, and the route's read key when asked, in one call
local d, s
if ARGV[4] == '1' then
  local got = redis.call('MGET', KEYS[3], KEYS[7])
  d, s = got[1], got[2]
else
  d = redis.call('GET', KEYS[3])
end
if d then out['d'] = d end
if s then out['s'] = s end
-- Waiting support replies are taken only for a reply the follower will see and while the follower is
-- within the message limit; otherwise they wait for the next message. Taken texts stay in a "taken"
-- list until the reply that shows them is built (confirm_pending); texts taken by a claim whose reply
-- never went out are shown again with the next message.
if ARGV[5] == '1' and n <= tonumber(ARGV[6]) and redis.call('EXISTS', KEYS[4], KEYS[5]) > 0 then
  local texts = redis.call('LRANGE', KEYS[5], 0, -1)
  for _, t in ipairs(redis.call('LRANGE', KEYS[4], 0, -1)) do table.insert(texts, t) end
  redis.call('DEL', KEYS[4], KEYS[5])
  redis.call('RPUSH', KEYS[5], unpack(texts))
  redis.call('EXPIRE', KEYS[5], 86400)
  out['p'] = texts
end
if tonumber(ARGV[3]) > 0 then
  local f = redis.call('INCR', KEYS[6])
  if f == 1 then redis.call('EXPIRE', KEYS[6], ARGV[3]) end
  out['f'] = f
end
if KEYS[10] ~= '' then
  local field = ARGV[12]
  if ARGV[14] == '1' and n > tonumber(ARGV[6]) then field = 'r:rate_limit' end
  -- a field's first count sets the TTL (the hash's first field created it, so it always has one)
  if redis.call('HINCRBY', KEYS[10], field, 1) == 1 then redis.call('EXPIRE', KEYS[10], ARGV[13]) end
end
if tonumber(ARGV[8]) > 0 then
  local now = redis.call('TIME')
  out['l'] = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000) + tonumber(ARGV[8])
end
local payload = 'S' .. cjson.encode(out)
redis.call('SET', KEYS[1], payload, 'PX', ARGV[1])
return {0, payload}
"""


# Counting WeChat's deliveries of one message (routes whose ClaimNeeds ask: the AI answer's third try
# must answer): KEYS[9] the counter, ARGV[11] '1' to count. The claim above runs unchanged inside.
_COUNTED = """
local c = 0
if ARGV[11] == '1' then
  c = redis.call('INCR', KEYS[9])
  if c == 1 then redis.call('PEXPIRE', KEYS[9], ARGV[1]) end
end
local function claim()
""" + _CLAIM + """
end
local r = claim()
r[3] = c
return r
"""


# Push out the lease of a claim we still hold (a long wait that is alive); 0 if it is not ours any more.
# KEYS: 1 dedupe id. ARGV: 1 the claim's token, 2 lease ms from now.
_EXTEND = """
local v = redis.call('GET', KEYS[1])
if not v or string.sub(v, 1, 1) ~= 'S' then return 0 end
local held = cjson.decode(string.sub(v, 2))
if held['t'] ~= ARGV[1] then return 0 end
local now = redis.call('TIME')
held['l'] = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000) + tonumber(ARGV[2])
redis.call('SET', KEYS[1], 'S' .. cjson.encode(held), 'KEEPTTL')
return 1
"""

@dataclass(frozen=True, slots=True)
class ClaimNeeds:
    """What a route needs done in the claim's single round trip, besides the claim itself."""

    counter: str | None = None  # a per-follower counter to count this message in (e.g. a cooldown)
    window: int = 0  # that counter's window, seconds
    read_key: str | None = None  # a key the reply is rendered from; kept with the claim for retries
    visible: bool = True  # the follower sees this reply: take support replies waiting for them
    limited: bool = True  # counts against the per-follower message limit (not unsubscribe)
    deliveries: bool = False  # count WeChat's deliveries of the message (Claim.deliveries)


DEFAULT_NEEDS = ClaimNeeds()


@dataclass(slots=True)
class Claim:
    """What the claim saw: ``duplicate`` deliveries carry the first delivery's data."""

    duplicate: bool
    count: int = 0  # the follower's messages in the window
    counter: int = 0  # the route's own counter (ClaimNeeds.counter)
    dialog: str | None = None
    pending: list[str] = field(default_factory=list)
    read_value: str | None = None  # the value of ClaimNeeds.read_key when claimed
    reply: str | None = None  # a stored rendered reply (duplicates of side-effect routes)
    deliveries: int = 0  # this delivery's number (1 = WeChat's first try), when ClaimNeeds.deliveries
    token: str = ""  # this claim's token (``DedupeStore.extend_lease``)
    forged: bool = False  # plaintext mode: this signed URL came before with another body; nothing was done
    stat: tuple[str, str] = ("", "")  # the dashboard's (hour hash, field) this claim counted the message in

    @classmethod
    def from_value(cls, duplicate: bool, value: str) -> "Claim":
        if value.startswith("R"):
            return cls(duplicate=duplicate, reply=value[1:])
        data = json.loads(value[1:])
        pending = data.get("p") or []
        return cls(
            duplicate=duplicate,
            count=int(data.get("n", 0)),
            counter=int(data.get("f", 0)),
            dialog=data.get("d"),
            pending=list(pending) if isinstance(pending, list) else [],
            read_value=data.get("s"),
            token=str(data.get("t") or ""),
        )


class DedupeStore:
    """Exactly-once claims: one Lua script through redis-py's own ``evalsha`` (loaded again when a
    restarted server lost it), every key passed in ``KEYS``. The claim calls ``evalsha`` itself rather
    than through ``register_script``'s callable, whose per-call checks cost as much as the arguments'
    encoding (bench/hotpath.py)."""

    def __init__(self, client: redis.Redis, ttl_seconds: float, msg_window: int, msg_limit: int = 1 << 30,
                 lease_seconds: float = 0.0):
        self.client = client
        self.ttl_ms = int(ttl_seconds * 1000)
        self.msg_window = int(msg_window)
        self.msg_limit = int(msg_limit)
        self.lease_ms = int(lease_seconds * 1000)
        self._sha = client.register_script(_COUNTED).sha
        self._extend = client.register_script(_EXTEND)

    def claim(self, dedupe_id: str, openid: str, needs: ClaimNeeds = DEFAULT_NEEDS, replayable: bool = True,
              signed: tuple[str, str, str, bytes] | None = None, signed_ttl: int = 600,
              stat: str = "", now: float = 0.0, limited: bool = False) -> Claim:
        """Claim ``dedupe_id`` and do what the route ``needs``, in one round trip.

        A side-effect route's claim (``replayable=False``) carries a lease: if its holder never stores
        the outcome (``store_reply``), a later delivery takes it over once the lease ran out.
        ``signed`` (signature, timestamp, nonce, body) keeps the body's hash per signed URL for
        ``signed_ttl`` seconds (at least the timestamp window): plaintext mode signs the URL, not the
        body, so the same URL with another body is a forgery (``Claim.forged``); the same body is a retry.
        A new claim also counts the message in the dashboard's hour of ``now`` under ``stat`` (a
        ``counters.route_field``), or under ``r:rate_limit`` when it is ``limited`` and over the limit.
        """
        counted = bool(needs.counter and needs.window)
        stat_key = keys.stats_hour(counters.hour_of(now)) if stat else ""
        keys_ = [
            keys.dedupe(dedupe_id), keys.msg_counter(openid), keys.dialog(openid), keys.pending_replies(openid),
            keys.pending_taken(openid), keys.feature_counter(needs.counter, openid) if counted else "",
            needs.read_key or "", keys.signed_request(*signed[:3]) if signed else "",
            keys.dedupe_deliveries(dedupe_id) if needs.deliveries else "", stat_key,
        ]
        args = [self.ttl_ms, self.msg_window, needs.window if counted else 0, 1 if needs.read_key else 0,
                1 if needs.visible else 0, self.msg_limit, os.urandom(8).hex(), 0 if replayable else self.lease_ms,
                hashlib.sha256(signed[3]).hexdigest() if signed else "", int(signed_ttl), 1 if needs.deliveries else 0,
                stat, counters.TTL, 1 if limited else 0]
        # A socket the server closed (Redis restarted) is retried once by the client (stores/redis.py);
        # if Redis did run the first attempt, the claim token makes the retry see its own claim.
        try:
            dup, value, deliveries = self.client.evalsha(self._sha, len(keys_), *keys_, *args)
        except NoScriptError:  # a restarted (or flushed) server: load it again, once
            self._sha = self.client.script_load(_COUNTED)
            dup, value, deliveries = self.client.evalsha(self._sha, len(keys_), *keys_, *args)
        if dup == 2:
            return Claim(duplicate=False, forged=True)
        claim = Claim.from_value(bool(dup), value)
        claim.deliveries = int(deliveries)
        if stat and not claim.duplicate:
            over = limited and claim.count > self.msg_limit
            claim.stat = (stat_key, counters.RATE_LIMITED if over else stat)
        return claim

    def extend_lease(self, dedupe_id: str, token: str, seconds: float) -> bool:
        """Keep a side-effect claim ours for ``seconds`` more (a handler still waiting on something
        alive, e.g. an AI answer), so WeChat's retries keep waiting instead of taking it over. False
        when the claim is gone or was taken over (the caller should then not store its reply)."""
        return bool(self._extend(keys=[keys.dedupe(dedupe_id)], args=[token, int(seconds * 1000)]))

    def confirm_pending(self, openid: str, left: list[str]) -> None:
        """The reply showing the taken support replies is built: forget them, and put back in front of
        the follower's list the ones that did not fit."""
        pipe = self.client.pipeline(transaction=True)
        pipe.delete(keys.pending_taken(openid))
        if left:
            pipe.lpush(keys.pending_replies(openid), *reversed(left))
        pipe.execute()

    def store_reply(self, dedupe_id: str, reply: str, recount: tuple[str, str, str] | None = None) -> None:
        """Record the rendered reply of a side-effect route, so retries replay it; with ``recount``
        (``recount_args``), in the same round trip, move the message to the route that took it."""
        if recount is None:
            self.client.set(keys.dedupe(dedupe_id), "R" + reply, px=int(self.ttl_ms), xx=True)
            return
        pipe = self.client.pipeline(transaction=False)
        pipe.set(keys.dedupe(dedupe_id), "R" + reply, px=int(self.ttl_ms), xx=True)
        counters.recount(pipe, *recount)
        pipe.execute()

    def recount(self, recount: tuple[str, str, str]) -> None:
        """Move the message the claim counted to the route that took it after all (one pipelined
        round trip; ``store_reply`` does it for free for a side-effect route)."""
        pipe = self.client.pipeline(transaction=False)
        counters.recount(pipe, *recount)
        pipe.execute()

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
