-- change_stock.lua: raises or lowers one bucket's stock without going below what is claimed.
--
-- KEYS[1] {c:<slot>}:meta   hash with remaining (and stock_total in bucket 0, the campaign's)
-- ARGV[1] delta of remaining (may be negative)
-- ARGV[2] delta of stock_total (bucket 0 only; 0 elsewhere)
-- ARGV[3] '1': take what there is (a decrease spread over buckets, gateway/campaigns/services.py);
--         '0': all or nothing
--
-- Returns {1, stock_total, remaining, applied} (stock_total -1 where the bucket keeps none;
-- applied: the delta of remaining applied, less than asked only with ARGV[3] = '1'), or
-- {0, stock_total, remaining} when remaining would fall below zero (the new total below the
-- coupons already claimed), {-1} when the bucket has no hot state, or {-2} when its state was
-- built for another Redis run or is being rebuilt (rebuild it from Postgres first).
local meta_key = KEYS[1]
local delta, total_delta, partial = tonumber(ARGV[1]), tonumber(ARGV[2]), ARGV[3] == '1'

-- The state is this node's when its run id is the meta's `run_id` or one of the run ids listed
-- there, comma-separated (`gateway move-slot` adds the target's before it moves a slot).
local function runs_here(held, run_id)
  if not held then return false end
  return held == run_id or string.find(',' .. held .. ',', ',' .. run_id .. ',', 1, true) ~= nil
end
local m = redis.call('HMGET', meta_key, 'stock_total', 'remaining', 'run_id', 'status')
if not m[4] or not m[2] then return {-1} end
if not runs_here(m[3], string.match(redis.call('INFO', 'server'), 'run_id:(%w+)')) then return {-2} end
local stock_total, remaining = tonumber(m[1] or '-1'), tonumber(m[2])
if remaining + delta < 0 then
  if not partial then return {0, stock_total, remaining} end
  delta = 0 - remaining  -- not -remaining: -0 would reach HINCRBY as "-0"
end
if total_delta ~= 0 then
  stock_total = redis.call('HINCRBY', meta_key, 'stock_total', total_delta)
end
remaining = redis.call('HINCRBY', meta_key, 'remaining', delta)
return {1, stock_total, remaining, delta}
