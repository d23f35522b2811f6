"""The Lua scripts behind :class:`gitops.state.redis_store.RedisStore`.

Only the Redis store loads them. Key design choice: every multi-key change (fenced write of status +
operation + history + event + index entry, lock with token, coalescing transitions, forget) is one
script, so Redis runs it atomically: nothing is half-written, and the fencing check and the write
cannot be separated. The target index's scripts share :data:`_INDEX` (replace or drop a target's
entry) and :data:`_MATCH` (the filters as set operations). The query scripts build their intermediate
sets in scratch keys that they delete before returning, with replication switched off
(``redis.set_repl(redis.REPL_NONE)``): a dashboard read never reaches the append-only file or a
replica. The index scripts build key names from the index
prefix they are given (the layout of :class:`gitops.state.names.Keys`: ``f:``, ``by:``, ``of:``,
``entry``), so they assume one Redis (not Redis Cluster).
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

# P: the index key prefix (``<prefix>idx:``). An entry as the store writes it: JSON {"f": [facet],
# "z": [[order, member]]}; as the entries hash keeps it: {"f": [facet], "s": [order]} (the members are
# in the P..'of:'..order hashes). index() replaces the previous entry, unindex() drops it.
_INDEX: Final = """
local function unindex(P, id)
  local old = redis.call('HGET', P .. 'entry', id)
  if not old then return end
  local e = cjson.decode(old)
  if e.z then  -- layout 1 (never released): full key names, members in the entry itself
    for _, f in ipairs(e.f or {}) do redis.call('SREM', f, id) end
    for _, z in ipairs(e.z) do redis.call('ZREM', z[1], z[3]) redis.call('HDEL', z[2], id) end
    redis.call('HDEL', P .. 'entry', id)
    return
  end
  for _, f in ipairs(e.f or {}) do redis.call('SREM', P .. 'f:' .. f, id) end
  for _, order in ipairs(e.s or {}) do
    local member = redis.call('HGET', P .. 'of:' .. order, id)
    if member then redis.call('ZREM', P .. 'by:' .. order, member) end
    redis.call('HDEL', P .. 'of:' .. order, id)
  end
  redis.call('HDEL', P .. 'entry', id)
end

local function index(P, id, entry)
  unindex(P, id)
  local e = cjson.decode(entry)
  local orders = {}
  for _, f in ipairs(e.f) do redis.call('SADD', P .. 'f:' .. f, id) end
  for _, z in ipairs(e.z) do
    redis.call('ZADD', P .. 'by:' .. z[1], 0, z[2])
    redis.call('HSET', P .. 'of:' .. z[1], id, z[2])
    table.insert(orders, z[1])
  end
  redis.call('HSET', P .. 'entry', id, '{"f":' .. cjson.encode(e.f) .. ',"s":' .. cjson.encode(orders) .. '}')
end
"""

# KEYS: fence, status, ops hash, history zset, targets set, events stream.
# ARGV: token (-1: unfenced), status json ('' keeps status), op id, op json, score, history cap,
#       target key, events cap, event kind, event message, phase, index entry json (with the status),
#       index prefix.
# Returns 1 when written, 0 when the token is stale (nothing written).
RECORD: Final = _INDEX + """
local token = tonumber(ARGV[1])
if token >= 0 then
  local seen = tonumber(redis.call('GET', KEYS[1]) or '0')
  if token < seen then return 0 end
  redis.call('SET', KEYS[1], token)
end
if ARGV[2] ~= '' then
  redis.call('SET', KEYS[2], ARGV[2])
  redis.call('SADD', KEYS[5], ARGV[7])
  index(ARGV[13], ARGV[7], ARGV[12])
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

# KEYS: status, history zset, ops hash, targets set, manifests.  ARGV: target key, index prefix.
# Returns how many of status, history and ops existed.
FORGET: Final = _INDEX + """
local n = redis.call('DEL', KEYS[1], KEYS[2], KEYS[3])
redis.call('DEL', KEYS[5])
redis.call('SREM', KEYS[4], ARGV[1])
unindex(ARGV[2], ARGV[1])
return n
"""

# KEYS: targets set, then the status key of each target.
# ARGV: index prefix, then per target: key, sha1 of the status read ('-': none), entry json ('': drop).
# A target whose status changed since it was read is left alone (its writer indexed it).
# Returns how many entries it wrote.
REINDEX: Final = _INDEX + """
local done = 0
for i = 2, #KEYS do
  local j = (i - 2) * 3 + 1
  local id, sha, entry = ARGV[j + 1], ARGV[j + 2], ARGV[j + 3]
  local raw = redis.call('GET', KEYS[i])
  local now = '-'
  if raw then now = redis.sha1hex(raw) end
  if now == sha then
    if entry == '' then unindex(ARGV[1], id) else
      index(ARGV[1], id, entry)
      redis.call('SADD', KEYS[1], id)
      done = done + 1
    end
  end
end
return done
"""

# The filters of a query as set operations (spec: {"groups": [[facet key]], "neg": [facet key],
# "rev": lowercase hex prefix or '', "text": substring or ''}). Returns (set key, nil), or (nil, list
# of target keys) when the text filter ran; scratch keys it wrote are appended to ``made``.
_MATCH: Final = r"""
local CHUNK = 500
local function each_chunk(list, fn)
  for a = 1, #list, CHUNK do fn(unpack(list, a, math.min(a + CHUNK - 1, #list))) end
end

local function fresh(key, made)
  redis.call('DEL', key)
  table.insert(made, key)
  return key
end

local function idof(member)
  local app, cluster = string.match(member, '([^%z]+)%z([^%z]+)$')  -- the last two fields
  return app .. '@' .. cluster
end

local function matching(universe, revorder, tmp, spec, made)
  local inter = {}
  for i, group in ipairs(spec.groups) do
    if #group == 1 then
      table.insert(inter, group[1])
    else
      local key = fresh(tmp .. ':g' .. i, made)
      each_chunk(group, function(...) redis.call('SUNIONSTORE', key, key, ...) end)
      table.insert(inter, key)
    end
  end
  if spec.rev ~= '' then
    local key = fresh(tmp .. ':r', made)
    local ids = {}
    for _, m in ipairs(redis.call('ZRANGEBYLEX', revorder, '[' .. spec.rev, '(' .. spec.rev .. '\127')) do
      table.insert(ids, idof(m))
    end
    each_chunk(ids, function(...) redis.call('SADD', key, ...) end)
    table.insert(inter, key)
  end
  local src = universe
  if #inter == 1 then
    src = inter[1]
  elseif #inter > 1 then
    src = fresh(tmp .. ':m', made)
    redis.call('SINTERSTORE', src, unpack(inter))
  end
  if #spec.neg > 0 then
    local key = fresh(tmp .. ':n', made)
    redis.call('SDIFFSTORE', key, src, unpack(spec.neg))
    src = key
  end
  if spec.text ~= '' then
    local kept = {}
    for _, id in ipairs(redis.call('SMEMBERS', src)) do
      if string.find(id, spec.text, 1, true) then table.insert(kept, id) end
    end
    return nil, kept
  end
  return src, nil
end

local function cleanup(made)
  for _, key in ipairs(made) do redis.call('DEL', key) end
end

redis.replicate_commands()
redis.set_repl(redis.REPL_NONE)
"""

# KEYS: targets set, revision order, the page's order (sorted set), its member hash.
# ARGV: scratch prefix, filter spec json, '1' descending, member to start after ('': first page),
#       how many members to return (the page size + 1).
# Returns {total, member...}: the matching targets' members, in the order, from the cursor on.
# Dense matches (at least a quarter of the order) walk the order from the cursor and keep the members
# that match (a few pages' worth read in expectation); sparse ones sort the matching members in a
# scratch sorted set (O(M log M)). Both give the same page.
QUERY: Final = _MATCH + r"""
local made = {}
local src, list = matching(KEYS[1], KEYS[2], ARGV[1], cjson.decode(ARGV[2]), made)
local desc, after, want = ARGV[3] == '1', ARGV[4], tonumber(ARGV[5])
local function range(key, from, count)
  if desc then
    if from == '' then from = '+' else from = '(' .. from end
    return redis.call('ZREVRANGEBYLEX', key, from, '-', 'LIMIT', 0, count)
  end
  if from == '' then from = '-' else from = '(' .. from end
  return redis.call('ZRANGEBYLEX', key, from, '+', 'LIMIT', 0, count)
end
local total
if list then total = #list else total = redis.call('SCARD', src) end
local out = {total}
if total > 0 and total * 4 >= redis.call('ZCARD', KEYS[3]) then
  local keep
  if list then
    local set = {}
    for _, id in ipairs(list) do set[id] = true end
    keep = function(id) return set[id] end
  else
    keep = function(id) return redis.call('SISMEMBER', src, id) == 1 end
  end
  local from, step = after, math.min(1000, math.max(64, want * 2))
  while #out <= want do
    local chunk = range(KEYS[3], from, step)
    for _, m in ipairs(chunk) do
      if keep(idof(m)) then
        table.insert(out, m)
        if #out > want then break end
      end
    end
    if #chunk < step then break end
    from = chunk[#chunk]
  end
elseif total > 0 then
  if not list then list = redis.call('SMEMBERS', src) end
  local z = fresh(ARGV[1] .. ':z', made)
  each_chunk(list, function(...)
    local args = {}
    for _, m in ipairs(redis.call('HMGET', KEYS[4], ...)) do
      if m then table.insert(args, 0) table.insert(args, m) end
    end
    if #args > 0 then redis.call('ZADD', z, unpack(args)) end
  end)
  for _, m in ipairs(range(z, after, want)) do table.insert(out, m) end
end
cleanup(made)
return out
"""

# KEYS: targets set, revision order.  ARGV: scratch prefix, filter spec json, then facet set keys.
# Returns {matching targets, how many of them are in each facet...}.
COUNTS: Final = _MATCH + r"""
local made = {}
local src, list = matching(KEYS[1], KEYS[2], ARGV[1], cjson.decode(ARGV[2]), made)
if list then
  src = fresh(ARGV[1] .. ':t', made)
  each_chunk(list, function(...) redis.call('SADD', src, ...) end)
end
local out = {redis.call('SCARD', src)}
local c = fresh(ARGV[1] .. ':c', made)
for i = 3, #ARGV do
  if src == KEYS[1] then
    table.insert(out, redis.call('SCARD', ARGV[i]))
  else
    table.insert(out, redis.call('SINTERSTORE', c, src, ARGV[i]))
  end
end
cleanup(made)
return out
"""
