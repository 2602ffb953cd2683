-- move_take.lua: the first step of a stock move between two buckets of a campaign: takes up
-- to n units out of the source bucket and logs the move in the source's own slot.
--
-- KEYS[1]  {c:<source>}:meta    hash: the source bucket's hot state (remaining, run_id, epoch)
-- KEYS[2]  {c:<source>}:moves   hash: move id -> 'n|target slot|epoch', moves not yet done
-- ARGV[1]  move id   ARGV[2] n wanted (> 0)   ARGV[3] the target bucket's slot name
--
-- Returns {taken, epoch}: taken = min(n, half the remaining, at least 1) units now in flight
-- (half of what the bucket holds now: refills that read the levels at once must not empty it) (logged under the move
-- id, to be given by move_give.lua), or {0, ''} when the bucket has none, has no hot state, or
-- its state is stale or being rebuilt (run_id is not this server's): nothing is taken then.
local meta_key, moves_key = KEYS[1], KEYS[2]
local move_id, wanted, target = ARGV[1], tonumber(ARGV[2]), ARGV[3]

-- The state is this node's when its run id is the meta's `run_id` or one of the run ids listed
-- there, comma-separated (`gateway move-slot` adds the target's before it moves a slot).
local function runs_here(held, run_id)
  if not held then return false end
  return held == run_id or string.find(',' .. held .. ',', ',' .. run_id .. ',', 1, true) ~= nil
end
local m = redis.call('HMGET', meta_key, 'remaining', 'run_id', 'epoch', 'status')
if not m[4] then return {0, ''} end
if not runs_here(m[2], string.match(redis.call('INFO', 'server'), 'run_id:(%w+)')) then return {0, ''} end
local remaining = tonumber(m[1])
if remaining <= 0 then return {0, ''} end
local taken = math.min(wanted, math.max(1, math.floor(remaining / 2)))
local epoch = m[3] or ''
redis.call('HINCRBY', meta_key, 'remaining', -taken)
redis.call('HSET', moves_key, move_id, taken .. '|' .. target .. '|' .. epoch)
return {taken, epoch}
