"""The tickets' Lua scripts: each state change that creates work for the worker writes the record *and*
appends its job to the Stream in one script, keyed by the id of what caused it (see ``store.py``).

The scripts run through ``TicketStore``; the KEYS and ARGV each expects are the ones it passes.
"""

# The preamble of a change to an existing ticket (KEYS[1] the record, KEYS[2] the source's marker):
# the same source (message, command, form nonce) twice answers 'dup' with what the first one wrote,
# and a ticket that is not there answers 'missing'.
_ONCE_ON_A_TICKET = """
local src = redis.call('GET', KEYS[2])
if src then return {'dup', src} end
if redis.call('EXISTS', KEYS[1]) == 0 then return {'missing', ''} end
"""

CREATE = """
local src = redis.call('GET', KEYS[2])
if src then return {'dup', src} end
if redis.call('EXISTS', KEYS[1]) == 1 then return {'collision', ''} end
if ARGV[8] == '1' then
  local open = redis.call('SCARD', KEYS[5])
  if open >= tonumber(ARGV[3]) then return {'limit_open', tostring(open)} end
  local rate = tonumber(redis.call('GET', KEYS[6]) or '0')
  if rate >= tonumber(ARGV[4]) then return {'limit_rate', tostring(rate)} end
end
local held = false
local first_held = false
if ARGV[8] == '1' and tonumber(ARGV[12]) > 0 then
  -- the global hourly intake cap: past it, tickets are stored and acknowledged but held back
  local g = redis.call('INCR', KEYS[10])
  if g == 1 then redis.call('EXPIRE', KEYS[10], ARGV[9]) end
  held = g > tonumber(ARGV[12])
  first_held = g == tonumber(ARGV[12]) + 1
end
local fields = {}
for i = 13, #ARGV do fields[#fields + 1] = ARGV[i] end
redis.call('HSET', KEYS[1], unpack(fields))
local nshots = 0
if ARGV[10] == '1' then
  -- the screenshots sent during the dialogue (their own list, so concurrent images all count)
  local shots = redis.call('LRANGE', KEYS[9], 0, tonumber(ARGV[11]) - 1)
  for i, shot in ipairs(shots) do redis.call('HSET', KEYS[1], 'shot:' .. i, shot) end
  nshots = #shots
  redis.call('HSET', KEYS[1], 'nshots', nshots, 'shots0', nshots)
  redis.call('DEL', KEYS[9])
end
local n = redis.call('INCR', KEYS[6])
if n == 1 then redis.call('EXPIRE', KEYS[6], ARGV[9]) end
redis.call('SADD', KEYS[5], ARGV[1])
redis.call('ZADD', KEYS[4], ARGV[2], ARGV[1])
redis.call('ZADD', KEYS[7], ARGV[2], ARGV[1])
-- the console's indexes: by status, by status and category, by category; by order number
redis.call('ZADD', KEYS[12], ARGV[2], ARGV[1])
redis.call('ZADD', KEYS[13], ARGV[2], ARGV[1])
redis.call('ZADD', KEYS[14], ARGV[2], ARGV[1])
if KEYS[15] then redis.call('SADD', KEYS[15], ARGV[1]) end
redis.call('SET', KEYS[2], ARGV[1], 'EX', ARGV[5])
if held then
  redis.call('HSET', KEYS[1], 'held', '1')
  redis.call('ZADD', KEYS[11], ARGV[2], ARGV[1])
else
  redis.call('XADD', KEYS[3], '*', 't', ARGV[1], 'k', 'new', 'r', '')
end
if ARGV[6] == '' or (ARGV[10] == '1' and nshots >= tonumber(ARGV[11])) then
  redis.call('DEL', KEYS[8])
elseif ARGV[6] ~= '=' then
  redis.call('SET', KEYS[8], ARGV[6], 'EX', ARGV[7])
end
return {'ok', ARGV[1], tostring(nshots), held and (first_held and 'first' or 'held') or ''}
"""

# Send a held ticket on: its new-ticket job and one job per screenshot added since.
RELEASE = """
if redis.call('ZREM', KEYS[2], ARGV[1]) == 0 then return 0 end
redis.call('HDEL', KEYS[1], 'held')
redis.call('XADD', KEYS[3], '*', 't', ARGV[1], 'k', 'new', 'r', '')
local n0 = tonumber(redis.call('HGET', KEYS[1], 'shots0') or '0')
local n = tonumber(redis.call('HGET', KEYS[1], 'nshots') or '0')
for i = n0 + 1, n do redis.call('XADD', KEYS[3], '*', 't', ARGV[1], 'k', 'shot', 'r', tostring(i)) end
return 1
"""

# A screenshot sent while the report is still being collected: appended to the dialogue's own list
# (never a rewrite of the dialogue JSON, so images sent together are all kept). The dialogue's
# current state decides: still collecting -> append (bounded, deduped by message id); a ticket was
# created meanwhile -> the caller attaches it to that ticket; no dialogue -> 'gone'.
SHOT = """
local raw = redis.call('GET', KEYS[1])
if not raw then return {'gone', ''} end
local ok, st = pcall(cjson.decode, raw)
if not ok or type(st) ~= 'table' or st['f'] ~= 'tickets' then return {'gone', ''} end
if st['st'] == 'attach' then return {'attach', tostring(st['id'] or '')} end
local shots = redis.call('LRANGE', KEYS[2], 0, -1)
for i, s in ipairs(shots) do
  local okd, shot = pcall(cjson.decode, s)
  if okd and type(shot) == 'table' and shot['msg'] == ARGV[4] then return {'ok', tostring(i)} end
end
if #shots >= tonumber(ARGV[2]) then return {'full', tostring(#shots)} end
local n = redis.call('RPUSH', KEYS[2], ARGV[1])
redis.call('EXPIRE', KEYS[2], ARGV[3])
redis.call('EXPIRE', KEYS[1], ARGV[3])
return {'ok', tostring(n)}
"""

# Save the collected report only if the dialogue is still what the handler read (compare-and-set on
# the raw JSON); otherwise return the current value so the caller can merge again.
SAVE = """
local cur = redis.call('GET', KEYS[1])
if cur ~= ARGV[3] then return {'changed', cur or ''} end
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
redis.call('EXPIRE', KEYS[2], ARGV[2])
return {'ok', tostring(redis.call('LLEN', KEYS[2]))}
"""

ATTACH = _ONCE_ON_A_TICKET + """
local n = redis.call('HINCRBY', KEYS[1], 'nshots', 1)
if n > tonumber(ARGV[3]) then
  redis.call('HINCRBY', KEYS[1], 'nshots', -1)
  return {'limit', tostring(n - 1)}
end
redis.call('HSET', KEYS[1], 'shot:' .. n, ARGV[1], 'updated_at', ARGV[6])
redis.call('SET', KEYS[2], tostring(n), 'EX', ARGV[2])
if redis.call('HGET', KEYS[1], 'held') ~= '1' then  -- a held ticket's screenshots go with its release
  redis.call('XADD', KEYS[3], '*', 't', ARGV[7], 'k', 'shot', 'r', tostring(n))
end
if ARGV[4] ~= '' then redis.call('SET', KEYS[4], ARGV[4], 'EX', ARGV[5]) end
return {'ok', tostring(n)}
"""

REPLY = _ONCE_ON_A_TICKET + """
local closed = redis.call('HGET', KEYS[1], 'status') == 'closed'
if closed and ARGV[5] ~= '1' then
  -- the follower was told it is done: a reply needs an explicit reopen
  return {'closed', redis.call('HGET', KEYS[1], 'closed_at') or ''}
end
local n = redis.call('RPUSH', KEYS[4], ARGV[1])
local created = redis.call('HGET', KEYS[1], 'created_at') or ARGV[3]
if closed then
  redis.call('SADD', KEYS[11], ARGV[4])
  redis.call('HSET', KEYS[1], 'reopened_at', ARGV[3])
  redis.call('ZREM', KEYS[9], ARGV[4])
  redis.call('ZREM', KEYS[10], ARGV[4])
end
redis.call('HSET', KEYS[1], 'status', 'replied')
redis.call('ZREM', KEYS[5], ARGV[4])
redis.call('ZREM', KEYS[6], ARGV[4])
redis.call('ZADD', KEYS[7], created, ARGV[4])
redis.call('ZADD', KEYS[8], created, ARGV[4])
redis.call('HSET', KEYS[1], 'updated_at', ARGV[3])
redis.call('SET', KEYS[2], tostring(n), 'EX', ARGV[2])
redis.call('XADD', KEYS[3], '*', 't', ARGV[4], 'k', 'reply', 'r', tostring(n))
return {'ok', tostring(n)}
"""

CLOSE = _ONCE_ON_A_TICKET + """
if redis.call('HGET', KEYS[1], 'status') == 'closed' then return {'already', ''} end
redis.call('HSET', KEYS[1], 'status', 'closed', 'closed_at', ARGV[1], 'updated_at', ARGV[1], 'close_note', ARGV[2])
redis.call('SREM', KEYS[4], ARGV[3])
local created = redis.call('HGET', KEYS[1], 'created_at') or ARGV[1]
for i = 5, 8 do redis.call('ZREM', KEYS[i], ARGV[3]) end
redis.call('ZADD', KEYS[9], created, ARGV[3])
redis.call('ZADD', KEYS[10], created, ARGV[3])
redis.call('SET', KEYS[2], 'closed', 'EX', ARGV[4])
redis.call('XADD', KEYS[3], '*', 't', ARGV[3], 'k', 'close', 'r', '')
return {'ok', ''}
"""

# Reopen a closed ticket (the console): open again, counted among the follower's open tickets; no job
# (the follower is told nothing until support replies).
REOPEN = _ONCE_ON_A_TICKET + """
if redis.call('HGET', KEYS[1], 'status') ~= 'closed' then return {'not_closed', ''} end
redis.call('HSET', KEYS[1], 'status', 'open', 'updated_at', ARGV[1], 'reopened_at', ARGV[1])
redis.call('SADD', KEYS[3], ARGV[2])
local created = redis.call('HGET', KEYS[1], 'created_at') or ARGV[1]
redis.call('ZREM', KEYS[4], ARGV[2])
redis.call('ZREM', KEYS[5], ARGV[2])
redis.call('ZADD', KEYS[6], created, ARGV[2])
redis.call('ZADD', KEYS[7], created, ARGV[2])
redis.call('SET', KEYS[2], 'reopened', 'EX', ARGV[3])
return {'ok', ''}
"""

# An internal note of support's on a ticket (the console, `wxbot tickets note`): never a job, never
# shown to the follower; the same source (form nonce, command id) twice adds it once.
NOTE = _ONCE_ON_A_TICKET + """
local n = redis.call('RPUSH', KEYS[3], ARGV[1])
redis.call('SET', KEYS[2], tostring(n), 'EX', ARGV[2])
return {'ok', tostring(n)}
"""
