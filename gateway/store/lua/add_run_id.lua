-- add_run_id.lua: lists one more Redis run id in a campaign bucket's meta `run_id`, before
-- `gateway move-slot` moves its slot to the node of that run (gateway/store/reshard.py): the
-- scripts accept a state whose `run_id` lists theirs, so the moved state takes claims at once.
--
-- KEYS[1]  {c:<slot>}:meta   hash: the bucket's hot state
-- ARGV[1]  the run id of the target node
--
-- Returns 1 when listed (or already there), 0 when the meta holds no state or a rebuild's lease
-- (`rebuild:...`): that rebuild writes the run id of the node it finishes on, so a state it
-- finishes before the move is rebuilt again on the target.
local meta_key, target = KEYS[1], ARGV[1]
local held = redis.call('HGET', meta_key, 'run_id')
if not held or held == '' or string.sub(held, 1, 8) == 'rebuild:' then return 0 end
if string.find(',' .. held .. ',', ',' .. target .. ',', 1, true) then return 1 end
redis.call('HSET', meta_key, 'run_id', held .. ',' .. target)
return 1
