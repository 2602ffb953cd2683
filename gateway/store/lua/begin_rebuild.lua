-- begin_rebuild.lua: takes the lease to rebuild a campaign's hot state from the ledger.
--
-- KEYS[1]  {c:<id>}:meta   hash: the campaign's hot state (run_id: the Redis run it was built
--                          for, or the lease `rebuild:<ms>:<nonce>` while it is being rebuilt)
-- ARGV[1]  force   '1': rebuild even a state built for this Redis run (`gateway reconcile`)
-- ARGV[2]  lease_ms   how long a lease keeps other rebuilders away
-- ARGV[3]  nonce   the caller's random part of the lease
-- ARGV[4]  optional: a lease to adopt as is. A campaign of K buckets is rebuilt as a whole under
--          the lease of its bucket 0 (the campaign's lock); its other buckets adopt that lease
--          whatever they hold (another rebuilder's lease there lost bucket 0 already).
--
-- Returns {1, lease}  the caller holds the lease: claims are refused (`stale_hot_state`) until
--                     finish_rebuild.lua swaps the rebuilt state in;
--         {0, ''}     the state was built for this run and is not forced: nothing to do;
--         {2, lease}  someone else's lease is younger than lease_ms: leave it to them.
-- The state is this node's when its run id is the meta's `run_id` or one of the run ids listed
-- there, comma-separated (`gateway move-slot` adds the target's before it moves a slot).
local function runs_here(held, run_id)
  if not held then return false end
  return held == run_id or string.find(',' .. held .. ',', ',' .. run_id .. ',', 1, true) ~= nil
end
local meta_key = KEYS[1]
local force, lease_ms, nonce = ARGV[1] == '1', tonumber(ARGV[2]), ARGV[3]
local adopt = ARGV[4]

if adopt and adopt ~= '' then
  redis.call('HSET', meta_key, 'run_id', adopt)
  return {1, adopt}
end

local run_id = string.match(redis.call('INFO', 'server'), 'run_id:(%w+)')
local held = redis.call('HGET', meta_key, 'run_id')
if not force and runs_here(held, run_id) and redis.call('HEXISTS', meta_key, 'status') == 1 then
  return {0, ''}
end
local t = redis.call('TIME')
local now_ms = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
if held then
  local since = tonumber(string.match(held, '^rebuild:(%d+):'))
  if since and now_ms - since < lease_ms then
    return {2, held}
  end
end
local lease = 'rebuild:' .. now_ms .. ':' .. nonce
redis.call('HSET', meta_key, 'run_id', lease)
return {1, lease}
