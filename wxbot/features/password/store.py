"""The NextChat password in Redis: rotations, the password followers are shown, sync bookkeeping.

Three keys (names in ``stores/keys.py``):

* ``password:shown`` -- one string, the snapshot followers are shown: JSON ``{"p", "v", "u", "d"}``
  (password, version, valid-until unix time or 0, valid-until display text). The webhook's claim reads
  it in its single round trip, so the hot path never touches the other keys.
* ``password:state`` -- a hash: the newest password (``cur``, which may still await NextChat's
  confirmation), the version counter, the retired passwords NextChat keeps accepting for a grace
  period, and the sync bookkeeping (state, attempts, next attempt, last error, codes NextChat holds).
* ``password:audit`` -- a capped list, one JSON row per rotation (version, time, trigger, who).

Every change is one Lua script, so concurrent rotations from the CLI, the admin API, WeChat and the
scheduler each get their own version and audit row, and a confirmation can never promote a password
that a newer rotation has already replaced.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import redis

from . import keys

# promote(): the newest password becomes the one followers see; the one they saw is retired and kept
# valid until now + grace; expired retired passwords are forgotten (their plaintext with them).
_PROMOTE = """
local function promote(state, shown, now, grace, retired_max)
  local cur = redis.call('HGET', state, 'cur')
  if not cur then return 0 end
  local cur_v = tonumber(redis.call('HGET', state, 'cur_v'))
  local keep = {}
  local raw = redis.call('HGET', state, 'retired')
  if raw and raw ~= '' then
    for _, r in ipairs(cjson.decode(raw)) do
      if tonumber(r.e) > now and r.p ~= cur then table.insert(keep, r) end
    end
  end
  local old = redis.call('GET', shown)
  if old then
    local o = cjson.decode(old)
    if o.p ~= cur then table.insert(keep, 1, {p = o.p, v = o.v, e = now + grace}) end
  end
  while #keep > retired_max do table.remove(keep) end
  local encoded = '[]'
  if #keep > 0 then encoded = cjson.encode(keep) end
  redis.call('HSET', state, 'retired', encoded, 'shown_v', cur_v, 'shown_at', now)
  redis.call('SET', shown, cjson.encode({p = cur, v = cur_v,
    u = tonumber(redis.call('HGET', state, 'cur_until') or '0'),
    d = redis.call('HGET', state, 'cur_until_d') or ''}))
  return 1
end
"""

# KEYS: state, shown, audit[, period]
# ARGV: password, now, valid_until, valid_until_display, trigger, by, sync_on, grace, audit_max, retired_max[,
#       period_ttl]
# With a period key (scheduled rotations) the period is claimed in the same script: the claim and the
# rotation happen together or not at all, so a crash or a Redis error cannot use up a period without
# rotating. Returns {0, 0} when the period was already claimed.
_ROTATE = _PROMOTE + """
if KEYS[4] and not redis.call('SET', KEYS[4], 'rotated', 'NX', 'EX', tonumber(ARGV[11])) then
  return {0, 0}
end
local now = tonumber(ARGV[2])
local v = redis.call('HINCRBY', KEYS[1], 'version', 1)
local cur_v = tonumber(redis.call('HGET', KEYS[1], 'cur_v') or '0')
local shown_v = tonumber(redis.call('HGET', KEYS[1], 'shown_v') or '0')
local replaced = 0
if cur_v > shown_v then replaced = cur_v end
redis.call('HSET', KEYS[1], 'cur', ARGV[1], 'cur_v', v, 'cur_at', now, 'cur_until', ARGV[3],
  'cur_until_d', ARGV[4], 'cur_trigger', ARGV[5], 'rotated_at', now)
if ARGV[7] == '1' then
  redis.call('HSET', KEYS[1], 'sync_state', 'pending', 'sync_attempts', 0, 'sync_next_at', 0)
else
  promote(KEYS[1], KEYS[2], now, tonumber(ARGV[8]), tonumber(ARGV[10]))
  redis.call('HSET', KEYS[1], 'sync_state', 'off')
end
redis.call('LPUSH', KEYS[3], cjson.encode({v = v, at = now, trigger = ARGV[5], by = ARGV[6], replaced = replaced}))
redis.call('LTRIM', KEYS[3], 0, tonumber(ARGV[9]) - 1)
return {v, replaced}
"""

# KEYS: state, shown, confirmed
# ARGV: sent_version, codes_json, now, grace, retired_max, mode ('sync' after a 2xx, 'off' without sync)
_CONFIRM = _PROMOTE + """
local now = tonumber(ARGV[3])
local sent = tonumber(ARGV[1])
local cur_v = tonumber(redis.call('HGET', KEYS[1], 'cur_v') or '0')
local shown_v = tonumber(redis.call('HGET', KEYS[1], 'shown_v') or '0')
local promoted = 0
if cur_v == sent and cur_v > shown_v then
  promoted = promote(KEYS[1], KEYS[2], now, tonumber(ARGV[4]), tonumber(ARGV[5]))
  redis.call('HSET', KEYS[3], sent, now)
end
local state = 'off'
if ARGV[6] == 'sync' then
  redis.call('HSET', KEYS[1], 'sync_codes', ARGV[2], 'sync_last_at', now, 'sync_last_ok_at', now,
    'sync_attempts', 0, 'sync_last_error', '', 'sync_next_at', 0)
  state = 'ok'
  if tonumber(redis.call('HGET', KEYS[1], 'cur_v') or '0') > tonumber(redis.call('HGET', KEYS[1], 'shown_v') or '0') then
    state = 'pending'
  end
end
redis.call('HSET', KEYS[1], 'sync_state', state)
return promoted
"""

# KEYS: state ; ARGV: sent_version, now, next_at, error
# A failure counts only if no rotation happened meanwhile (a new rotation is synced at once).
_FAILED = """
local cur_v = tonumber(redis.call('HGET', KEYS[1], 'cur_v') or '0')
if cur_v ~= tonumber(ARGV[1]) then return -1 end
local n = redis.call('HINCRBY', KEYS[1], 'sync_attempts', 1)
redis.call('HSET', KEYS[1], 'sync_state', 'failing', 'sync_next_at', ARGV[3], 'sync_last_error', ARGV[4],
  'sync_last_at', ARGV[2])
return n
"""


@dataclass(frozen=True, slots=True)
class Shown:
    password: str
    version: int
    valid_until: int  # unix seconds, 0 = no stated expiry
    valid_until_display: str

    @classmethod
    def parse(cls, raw: str | None) -> "Shown | None":
        """Parse the snapshot string; None when absent or unreadable."""
        if not raw:
            return None
        try:
            data = json.loads(raw)
            return cls(str(data["p"]), int(data["v"]), int(data.get("u") or 0), str(data.get("d") or ""))
        except (ValueError, KeyError, TypeError):
            return None


@dataclass(frozen=True, slots=True)
class Retired:
    password: str
    version: int
    expires: float


@dataclass(slots=True)
class PasswordState:
    """Everything ``password show`` needs, read in one pipelined round trip."""

    shown: Shown | None
    version: int = 0
    current: str | None = None  # newest password (== shown unless a sync is pending)
    current_version: int = 0
    current_at: float = 0.0
    current_until: int = 0
    current_until_display: str = ""
    rotated_at: float = 0.0
    retired: list[Retired] = field(default_factory=list)
    sync_state: str = ""  # "", off, pending, ok, failing
    sync_attempts: int = 0
    sync_next_at: float = 0.0
    sync_last_at: float = 0.0
    sync_last_ok_at: float = 0.0
    sync_last_error: str = ""
    sync_codes: list[str] | None = None  # codes NextChat confirmed holding, None = never synced

    @property
    def pending(self) -> bool:
        """A rotated password NextChat has not confirmed yet (followers still see the old one)."""
        return self.current is not None and self.current_version > (self.shown.version if self.shown else 0)

    def previous(self) -> Retired | None:
        return self.retired[0] if self.retired else None

    def desired_codes(self, now: float) -> list[str]:
        """Codes NextChat should accept now: newest, shown, retired ones still in their grace period."""
        codes: list[str] = []
        for code in ([self.current] if self.pending else []) + ([self.shown.password] if self.shown else []) + [
            r.password for r in self.retired if r.expires > now
        ]:
            if code and code not in codes:
                codes.append(code)
        return codes

    @classmethod
    def from_redis(cls, h: dict[str, str], shown_raw: str | None) -> "PasswordState":
        def num(name: str, cast=int) -> Any:
            try:
                return cast(h.get(name) or 0)
            except ValueError:
                return cast(0)

        retired: list[Retired] = []
        try:
            for r in json.loads(h.get("retired") or "[]"):
                retired.append(Retired(str(r["p"]), int(r["v"]), float(r["e"])))
        except (ValueError, KeyError, TypeError):
            retired = []
        codes = None
        if h.get("sync_codes"):
            try:
                codes = [str(c) for c in json.loads(h["sync_codes"])]
            except (ValueError, TypeError):
                codes = None
        return cls(
            shown=Shown.parse(shown_raw),
            version=num("version"),
            current=h.get("cur"),
            current_version=num("cur_v"),
            current_at=num("cur_at", float),
            current_until=num("cur_until"),
            current_until_display=h.get("cur_until_d") or "",
            rotated_at=num("rotated_at", float),
            retired=retired,
            sync_state=h.get("sync_state") or "",
            sync_attempts=num("sync_attempts"),
            sync_next_at=num("sync_next_at", float),
            sync_last_at=num("sync_last_at", float),
            sync_last_ok_at=num("sync_last_ok_at", float),
            sync_last_error=h.get("sync_last_error") or "",
            sync_codes=codes,
        )


@dataclass(frozen=True, slots=True)
class Rotation:
    version: int
    replaced: int  # version of an unconfirmed password this rotation replaced, 0 if none


@dataclass(frozen=True, slots=True)
class AuditRow:
    version: int
    at: float
    trigger: str
    by: str
    replaced: int


class PasswordStore:
    def __init__(self, client: redis.Redis, audit_max: int = 500, retired_max: int = 5):
        self.client = client
        self.audit_max = audit_max
        self.retired_max = retired_max
        self._rotate = client.register_script(_ROTATE)
        self._confirm = client.register_script(_CONFIRM)
        self._failed = client.register_script(_FAILED)

    # -- reads ----------------------------------------------------------------------------
    def shown(self) -> Shown | None:
        return Shown.parse(self.client.get(keys.password_shown()))

    def state(self) -> PasswordState:
        pipe = self.client.pipeline(transaction=False)
        pipe.hgetall(keys.password_state())
        pipe.get(keys.password_shown())
        h, shown = pipe.execute()
        return PasswordState.from_redis(h or {}, shown)

    def history(self, limit: int = 20) -> list[AuditRow]:
        rows = []
        for raw in self.client.lrange(keys.password_audit(), 0, max(0, limit - 1)):
            try:
                d = json.loads(raw)
                rows.append(AuditRow(int(d["v"]), float(d["at"]), str(d.get("trigger", "")), str(d.get("by", "")),
                                     int(d.get("replaced") or 0)))
            except (ValueError, KeyError, TypeError):
                continue
        return rows

    def confirmed_at(self, versions: list[int]) -> dict[int, float]:
        if not versions:
            return {}
        values = self.client.hmget(keys.password_confirmed(), [str(v) for v in versions])
        return {v: float(t) for v, t in zip(versions, values) if t}

    # -- writes ---------------------------------------------------------------------------
    def rotate(self, password: str, now: float, valid_until: int, valid_until_display: str, trigger: str,
               by: str, sync_on: bool, grace: int, period: str | None = None, period_ttl: int = 0) -> Rotation | None:
        """One atomic rotation. With sync on, the new password waits for NextChat's confirmation;
        without, followers see it at once.

        With ``period`` (a schedule period id) the script also claims that period (``SET NX`` with
        ``period_ttl``) and returns None, rotating nothing, when it was already claimed."""
        script_keys = [keys.password_state(), keys.password_shown(), keys.password_audit()]
        args: list[Any] = [password, int(now), int(valid_until), valid_until_display, trigger, by,
                           "1" if sync_on else "0", int(grace), self.audit_max, self.retired_max]
        if period is not None:
            script_keys.append(keys.password_period(period))
            args.append(max(1, int(period_ttl)))
        v, replaced = self._rotate(keys=script_keys, args=args)
        if int(v) == 0:
            return None
        return Rotation(int(v), int(replaced))

    def confirm(self, sent_version: int, codes: list[str] | None, now: float, grace: int) -> bool:
        """NextChat accepted ``codes`` (or sync is off: ``codes`` None); promote ``sent_version`` if it
        is still the newest. Returns whether followers now see a new password."""
        promoted = self._confirm(
            keys=[keys.password_state(), keys.password_shown(), keys.password_confirmed()],
            args=[int(sent_version), json.dumps(codes or [], ensure_ascii=False), int(now), int(grace),
                  self.retired_max, "off" if codes is None else "sync"],
        )
        return bool(promoted)

    def sync_failed(self, sent_version: int, now: float, next_at: float, error: str) -> int:
        """Record a failed attempt; returns the attempt count, or -1 if a newer rotation superseded it."""
        return int(self._failed(keys=[keys.password_state()],
                                args=[int(sent_version), int(now), f"{next_at:.3f}", error[:200]]))
