"""The AI feature's Redis state: one hash per question keyed by the message's dedupe id (WeChat's tries
share it, so they share one model call), the queue the worker takes questions from, the answer cache,
the per-follower daily quota, the daily token budget, the consecutive-failure counter, and the
answers kept for admins. Every transition is one Lua script, so "exactly one answer" holds across
tries, web processes and workers:

* the webhook's ``enqueue`` creates the question (or finds it, or answers from the cache, or refuses
  it for the quota or the budget);
* a worker's ``take`` moves it from ``queued`` to ``running`` (only one worker can);
* the worker's ``finish`` stores the answer and reports whether a try already told the follower
  "正在整理答案" (the ``f`` flag): then, and only then, the worker sends the answer as a follow-up;
* the webhook's ``settle`` either returns the finished answer or sets ``f`` (never both), and, late
  in the last try, gives up on a question no worker took (the follower gets the fallback at once).
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

from ...stores import keys

QUEUED, RUNNING, DONE, FAILED = "queued", "running", "done", "failed"

# KEYS: 1 question, 2 cache, 3 quota, 4 tokens, 5 queue. ARGV: 1 question TTL ms, 2 quota, 3 token
# budget, 4 question text, 5 openid, 6 fallback text, 7 now (s), 8 cache key, 9 counters' TTL s,
# 10 dedupe id, 11 masked unmatched member.
_ENQUEUE = """
local st = redis.call('HGET', KEYS[1], 'status')
if st then return {'exists', st} end
local cached = redis.call('GET', KEYS[2])
if cached then
  redis.call('HSET', KEYS[1], 'status', 'done', 'answer', cached, 'how', 'cache')
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
  return {'cache', cached}
end
if tonumber(redis.call('GET', KEYS[4]) or '0') >= tonumber(ARGV[3]) then return {'budget', ''} end
if tonumber(redis.call('GET', KEYS[3]) or '0') >= tonumber(ARGV[2]) then return {'quota', ''} end
if redis.call('INCR', KEYS[3]) == 1 then redis.call('EXPIRE', KEYS[3], ARGV[9]) end
redis.call('HSET', KEYS[1], 'status', 'queued', 'q', ARGV[4], 'o', ARGV[5], 'fb', ARGV[6], 'at', ARGV[7],
           'ck', ARGV[8], 'm', ARGV[11])
redis.call('PEXPIRE', KEYS[1], ARGV[1])
redis.call('RPUSH', KEYS[5], ARGV[10])
return {'queued', ''}
"""

# KEYS: 1 question. ARGV: 1 now (s).
_TAKE = """
if redis.call('HGET', KEYS[1], 'status') ~= 'queued' then return false end
redis.call('HSET', KEYS[1], 'status', 'running', 'started', ARGV[1])
return redis.call('HMGET', KEYS[1], 'q', 'o', 'fb', 'ck', 'at', 'm')
"""

# KEYS: 1 question, 2 cache key (or ''), 3 tokens. ARGV: 1 status, 2 answer, 3 cache TTL s (0: none),
# 4 how, 5 tokens used, 6 tokens key TTL s. Returns -1 (gave up on meanwhile), else the f flag (0/1).
_FINISH = """
if tonumber(ARGV[5]) > 0 then
  if redis.call('INCRBY', KEYS[3], ARGV[5]) == tonumber(ARGV[5]) then redis.call('EXPIRE', KEYS[3], ARGV[6]) end
end
if redis.call('HGET', KEYS[1], 'status') ~= 'running' then return -1 end
redis.call('HSET', KEYS[1], 'status', ARGV[1], 'answer', ARGV[2], 'how', ARGV[4])
if tonumber(ARGV[3]) > 0 and KEYS[2] ~= '' then redis.call('SET', KEYS[2], ARGV[2], 'EX', ARGV[3]) end
return tonumber(redis.call('HGET', KEYS[1], 'f') or '0')
"""

# KEYS: 1 question. ARGV: 1 'late' (the last try's deadline) or 'busy' (no waiter free), 2 now (s),
# 3 seconds after which a running question is given up (its worker died).
_SETTLE = """
local st = redis.call('HGET', KEYS[1], 'status')
if not st then return {'gone', ''} end
if redis.call('HGET', KEYS[1], 'f') == '1' then return {'interim', ''} end
if st == 'done' or st == 'failed' then return {'answer', redis.call('HGET', KEYS[1], 'answer')} end
if ARGV[1] == 'late' then
  local stale = st == 'running' and
    tonumber(ARGV[2]) - tonumber(redis.call('HGET', KEYS[1], 'started') or ARGV[2]) > tonumber(ARGV[3])
  if st == 'queued' or stale then
    local fb = redis.call('HGET', KEYS[1], 'fb')
    redis.call('HSET', KEYS[1], 'status', 'failed', 'answer', fb, 'how', 'abandoned')
    return {'answer', fb}
  end
end
redis.call('HSET', KEYS[1], 'f', '1')
return {'interim', ''}
"""


@dataclass(frozen=True, slots=True)
class Job:
    dedupe_id: str
    question: str
    openid: str
    fallback: str
    cache_key: str
    asked_at: float
    member: str


def day_of(now: float, tz) -> str:
    import datetime as dt

    return dt.datetime.fromtimestamp(now, tz).strftime("%Y%m%d")


class AiStore:
    def __init__(self, client, question_ttl: float, tz, answers_max: int):
        self.r = client
        self.ttl_ms = int(question_ttl * 1000)
        self.tz = tz
        self.answers_max = answers_max
        self._enqueue = client.register_script(_ENQUEUE)
        self._take = client.register_script(_TAKE)
        self._finish = client.register_script(_FINISH)
        self._settle = client.register_script(_SETTLE)

    @staticmethod
    def cache_key(faq_version: str, normalised: str) -> str:
        return keys.ai_cache(faq_version, hashlib.sha256(normalised.encode("utf-8")).hexdigest()[:24])

    def enqueue(self, dedupe_id: str, openid: str, question: str, fallback: str, cache_key: str, member: str,
                quota: int, budget: int, now: float) -> tuple[str, str]:
        """(``exists``|``cache``|``quota``|``budget``|``queued``, the cached answer or the status)."""
        day = day_of(now, self.tz)
        kind, value = self._enqueue(
            keys=[keys.ai_question(dedupe_id), cache_key, keys.ai_quota(day, openid), keys.ai_tokens(day),
                  keys.AI_QUEUE],
            args=[self.ttl_ms, quota, budget, question, openid, fallback, f"{now:.3f}", cache_key, 2 * 86400,
                  dedupe_id, member or ""])
        return kind, value

    def poll(self, dedupe_id: str) -> tuple[str | None, str | None, bool]:
        """(status, answer, a try already sent the interim text): one short HMGET."""
        status, answer, f = self.r.hmget(keys.ai_question(dedupe_id), "status", "answer", "f")
        return status, answer, f == "1"

    def settle(self, dedupe_id: str, mode: str, now: float, stale_after: float) -> tuple[str, str]:
        kind, value = self._settle(keys=[keys.ai_question(dedupe_id)], args=[mode, f"{now:.3f}", stale_after])
        return kind, value

    def take(self, now: float) -> Job | None:
        """The next queued question, now ``running`` for this worker (None: nothing to do)."""
        while True:
            dedupe_id = self.r.lpop(keys.AI_QUEUE)
            if dedupe_id is None:
                return None
            row = self._take(keys=[keys.ai_question(dedupe_id)], args=[f"{now:.3f}"])
            if row:  # else: answered or given up meanwhile (the last try's fallback), or expired
                q, openid, fb, ck, at, member = row
                return Job(dedupe_id, q or "", openid or "", fb or "", ck or "", float(at or now), member or "")

    def finish(self, job: Job, status: str, answer: str, cache_seconds: int, how: str, tokens: int,
               now: float) -> int:
        """Store the outcome; -1 if the question was given up meanwhile, else 1 when a try already sent
        the interim text (the worker owes the follower a follow-up), 0 when a try will show it."""
        day = day_of(now, self.tz)
        return int(self._finish(keys=[keys.ai_question(job.dedupe_id), job.cache_key if cache_seconds else "",
                                      keys.ai_tokens(day)],
                                args=[status, answer, cache_seconds, how, max(0, tokens), 2 * 86400]))

    def defer(self, openid: str, text: str) -> None:
        """Show ``text`` at the follower's next message (as support replies WeChat refused are)."""
        self.r.rpush(keys.pending_replies(openid), text)

    def failed(self) -> int:
        n = self.r.incr(keys.AI_FAILURES)
        self.r.expire(keys.AI_FAILURES, 86400)
        return int(n)

    def succeeded(self) -> None:
        self.r.delete(keys.AI_FAILURES)

    def keep_answer(self, member: str, answer: str, how: str, now: float) -> None:
        """The AI's answer to an unmatched question, for admins (``wxbot ai unmatched``), bounded."""
        if not member:
            return
        pipe = self.r.pipeline(transaction=True)
        pipe.hset(keys.AI_ANSWERS, member, json.dumps({"a": answer, "how": how, "at": int(now)}, ensure_ascii=False))
        pipe.zadd(keys.AI_ANSWERS_ORDER, {member: now})
        pipe.zcard(keys.AI_ANSWERS_ORDER)
        size = pipe.execute()[-1]
        if size > self.answers_max:
            old = self.r.zrange(keys.AI_ANSWERS_ORDER, 0, size - self.answers_max - 1)
            if old:
                pipe = self.r.pipeline(transaction=True)
                pipe.zrem(keys.AI_ANSWERS_ORDER, *old)
                pipe.hdel(keys.AI_ANSWERS, *old)
                pipe.execute()

    def answers(self, members: list[str]) -> dict[str, dict]:
        if not members:
            return {}
        out = {}
        for member, raw in zip(members, self.r.hmget(keys.AI_ANSWERS, members)):
            if raw:
                try:
                    out[member] = json.loads(raw)
                except ValueError:
                    continue
        return out

    def tokens_today(self, now: float) -> int:
        return int(self.r.get(keys.ai_tokens(day_of(now, self.tz))) or 0)
