-- change_stock.lua: raises or lowers a campaign's stock without going below what is claimed.
--
-- KEYS[1] {c:<id>}:meta   hash with stock_total and remaining
-- ARGV[1] delta (may be negative)
--
-- Returns {1, stock_total, remaining} or {0, claimed} when the new total would fall below the
-- coupons already claimed, {-1} when the campaign has no hot state, or {-2} when the state was
-- built for another Redis run (the server restarted: rebuild it from Postgres first).
local meta_key = KEYS[1]
local delta = tonumber(ARGV[1])

local m = redis.call('HMGET', meta_key, 'stock_total', 'remaining', 'run_id')
if not m[1] then return {-1} end
if m[3] ~= string.match(redis.call('INFO', 'server'), 'run_id:(%w+)') then return {-2} end
local stock_total, remaining = tonumber(m[1]), tonumber(m[2])
local claimed = stock_total - remaining
if stock_total + delta < claimed then return {0, claimed} end
stock_total = redis.call('HINCRBY', meta_key, 'stock_total', delta)
remaining = redis.call('HINCRBY', meta_key, 'remaining', delta)
return {1, stock_total, remaining}
