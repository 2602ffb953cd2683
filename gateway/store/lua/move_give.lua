-- move_give.lua: the second step of a stock move: adds the units taken by move_take.lua to
-- the target bucket, once whatever the number of calls (a recovery may repeat it).
--
-- KEYS[1]  {c:<target>}:meta      hash: the target bucket's hot state
-- KEYS[2]  {c:<target>}:applied   set: ids of the moves already given to this bucket
-- ARGV[1]  move id   ARGV[2] n (units taken)   ARGV[3] the epoch the source's state had
--
-- Returns  1  given (now or before): the source may forget the move (move_done.lua);
--          0  void: the campaign was rebuilt from the ledger since the take (other epoch) or
--             the bucket has no hot state; the rebuild counted these units again, so giving
--             them would count them twice: the source forgets the move;
--         -1  wait: the target's state is stale or being rebuilt; the move stays logged.
local meta_key, applied_key = KEYS[1], KEYS[2]
local move_id, n, epoch = ARGV[1], tonumber(ARGV[2]), ARGV[3]

if redis.call('SISMEMBER', applied_key, move_id) == 1 then return 1 end
-- The state is this node's when its run id is the meta's `run_id` or one of the run ids listed
-- there, comma-separated (`gateway move-slot` adds the target's before it moves a slot).
local function runs_here(held, run_id)
  if not held then return false end
  return held == run_id or string.find(',' .. held .. ',', ',' .. run_id .. ',', 1, true) ~= nil
end
local m = redis.call('HMGET', meta_key, 'run_id', 'epoch', 'status')
if not m[3] then return 0 end
if not runs_here(m[1], string.match(redis.call('INFO', 'server'), 'run_id:(%w+)')) then return -1 end
if (m[2] or '') ~= epoch then return 0 end
redis.call('HINCRBY', meta_key, 'remaining', n)
redis.call('SADD', applied_key, move_id)
return 1
