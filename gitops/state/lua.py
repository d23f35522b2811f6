"""The Lua scripts behind :class:`gitops.state.redis_store.RedisStore`.

Only the Redis store loads them. Key design choice: every multi-key change (fenced write of status +
operation + history + event, lock with token, coalescing transitions) is one script, so Redis runs it
atomically: nothing is half-written, and the fencing check and the write cannot be separated.
"""

from __future__ import annotations

from typing import Final

# KEYS: lock, token counter.  ARGV: owner, ttl ms.  Returns the new token, or 0 when held.
ACQUIRE: Final = """
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
local token = redis.call('INCR', KEYS[2])
redis.call('SET', KEYS[1], ARGV[1] .. '|' .. token, 'PX', ARGV[2])
return token
"""

# KEYS: lock.  ARGV: expected value, ttl ms.
RENEW: Final = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2]) return 1 end
return 0
"""

# KEYS: lock.  ARGV: expected value.
RELEASE: Final = """
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) return 1 end
return 0
"""

# KEYS: fence, status, ops hash, history zset, targets set, events stream.
# ARGV: token (-1: unfenced), status json ('' keeps status), op id, op json, score, history cap,
#       target key, events cap, event kind, event message, phase.
# Returns 1 when written, 0 when the token is stale (nothing written).
RECORD: Final = """
local token = tonumber(ARGV[1])
if token >= 0 then
  local seen = tonumber(redis.call('GET', KEYS[1]) or '0')
  if token < seen then return 0 end
  redis.call('SET', KEYS[1], token)
end
if ARGV[2] ~= '' then
  redis.call('SET', KEYS[2], ARGV[2])
  redis.call('SADD', KEYS[5], ARGV[7])
end
redis.call('HSET', KEYS[3], ARGV[3], ARGV[4])
redis.call('ZADD', KEYS[4], ARGV[5], ARGV[3])
local cap = tonumber(ARGV[6])
local n = redis.call('ZCARD', KEYS[4])
if n > cap then
  local old = redis.call('ZRANGE', KEYS[4], 0, n - cap - 1)
  for _, id in ipairs(old) do redis.call('HDEL', KEYS[3], id) end
  redis.call('ZREMRANGEBYRANK', KEYS[4], 0, n - cap - 1)
end
redis.call('XADD', KEYS[6], 'MAXLEN', '~', ARGV[8], '*', 'kind', ARGV[9], 'target', ARGV[7],
           'message', ARGV[10], 'phase', ARGV[11], 'operation', ARGV[3], 'time', ARGV[5])
return 1
"""

# KEYS: sched.  ARGV: ttl ms.  1: enqueue now; 0: coalesced (marked dirty when running).
TRIGGER: Final = """
local s = redis.call('GET', KEYS[1])
if not s then redis.call('SET', KEYS[1], 'queued', 'PX', ARGV[1]) return 1 end
if s == 'running' then redis.call('SET', KEYS[1], 'dirty', 'KEEPTTL') end
return 0
"""

# KEYS: sched.  ARGV: ttl ms.
BEGIN_RUN: Final = """
redis.call('SET', KEYS[1], 'running', 'PX', ARGV[1])
return 1
"""

# KEYS: sched.  ARGV: ttl ms.  1: dirty, one more run must be enqueued (state is queued again).
FINISH_RUN: Final = """
if redis.call('GET', KEYS[1]) == 'dirty' then
  redis.call('SET', KEYS[1], 'queued', 'PX', ARGV[1]) return 1 end
redis.call('DEL', KEYS[1])
return 0
"""

# KEYS: named lock.  ARGV: owner, ttl ms.  Take when free, renew when ours.
ACQUIRE_NAMED: Final = """
local v = redis.call('GET', KEYS[1])
if v and v ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1
"""

# KEYS: due zset.  ARGV: now, then pairs (name, interval).  Returns the names that were due.
CLAIM_DUE: Final = """
local now = tonumber(ARGV[1])
local due = {}
for i = 2, #ARGV, 2 do
  local name, interval = ARGV[i], tonumber(ARGV[i + 1])
  local at = redis.call('ZSCORE', KEYS[1], name)
  if (not at) or tonumber(at) <= now then
    redis.call('ZADD', KEYS[1], now + interval, name)
    table.insert(due, name)
  end
end
return due
"""
