-- finish_rebuild.lua: swaps a campaign's rebuilt hot state in, if the caller still holds the lease.
--
-- KEYS[1]  {c:<id>}:meta              hash: the hot state
-- KEYS[2]  {c:<id>}:members           hash: member_id -> coupons held
-- KEYS[3]  {c:<id>}:members:<lease>   the members hash the caller staged from the ledger
-- KEYS[4]  optional {c:<id>}:moves     the stock moves logged by this bucket (buckets.py)
-- KEYS[5]  optional {c:<id>}:applied   the moves given to this bucket
--          Both are dropped: the rebuilt counters come from the ledger, so a move taken before
--          is void (the new epoch in ARGV makes move_give.lua refuse it).
-- ARGV[1]  lease   as begin_rebuild.lua gave it
-- ARGV[2]  staged  '1' when KEYS[3] holds the members, '0' when no member holds a coupon
-- ARGV[3..] field, value, ... of the meta hash (without run_id)
--
-- Returns 1 when swapped in (run_id is now this Redis run's: claims flow again), 0 when the
-- lease was lost (another rebuild took over; the staged hash is dropped).
local meta_key, members_key, staged_key = KEYS[1], KEYS[2], KEYS[3]
local lease, staged = ARGV[1], ARGV[2] == '1'

if redis.call('HGET', meta_key, 'run_id') ~= lease then
  redis.call('DEL', staged_key)
  return 0
end
if staged then
  redis.call('RENAME', staged_key, members_key)
else
  redis.call('DEL', members_key)
end
if KEYS[5] then redis.call('DEL', KEYS[4], KEYS[5]) end
local fields = {}
for i = 3, #ARGV do fields[#fields + 1] = ARGV[i] end
if #fields > 0 then redis.call('HSET', meta_key, unpack(fields)) end
local run_id = string.match(redis.call('INFO', 'server'), 'run_id:(%w+)')
redis.call('HSET', meta_key, 'run_id', run_id)
return 1
