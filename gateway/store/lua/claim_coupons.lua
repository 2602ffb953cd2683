-- claim_coupons.lua: claims (or grants) a batch of coupons of one campaign, atomically per claim.
--
-- KEYS[1]   {c:<id>}:meta     hash: status, starts, ends, limit, remaining, stock_total,
--                             vmode, vdays, vfrom, vuntil, low, flags, buckets
--           (<id>: the slot name of one bucket of the campaign, `<campaign>` or `<campaign>:<b>`)
-- KEYS[2]   {c:<id>}:members   hash: member_id -> coupons held from this campaign
-- KEYS[3]   {c:<id>}:ledger   stream: the crash log the ledger writer drains into Postgres
-- KEYS[4..] {c:<id>}:idem:<k> idempotency records of the claims that carry a key
-- ARGV[1] now_ms   ARGV[2] source ('claim' | 'grant')   ARGV[3] idempotency ttl (s)
-- ARGV[4] n   ARGV[5] the n claims, packed: records separated by \30 (RS), fields by \31 (US):
--         member_id, code, channel, idem_index (0: none), idem_hash ('-': none), and optionally
--         actor (the API key's name the claim/grant event records; absent or empty: none).
--         One argument instead of 6n keeps the caller's encoding cost per batch, not per claim.
-- ARGV[6] optional: the server's run_id, as read by the caller on this connection.
--
-- Returns n results, in order, each one of
--   {1, code, claimed_ms, valid_from_ms, valid_until_ms, stream_id, remaining, flags}  new coupon
--   {2, code, claimed_ms, valid_from_ms, valid_until_ms, member_id, channel, source}   replay
--   {0, reason}                                                                        refusal
-- flags: 1 = low_stock reached just now, 2 = sold_out just now (each fires once per campaign).
-- A campaign of K > 1 buckets (meta `buckets`): an empty bucket answers {0, 'bucket_dry'}, not
-- counted in the refusals (the caller has stock moved in and asks again, or answers sold_out
-- once every bucket is empty: gateway/store/buckets.py); low_stock fires when the bucket's
-- remaining reaches low / K (once per bucket; the event is deduplicated), sold_out never here.
-- Every claim gets {0, 'stale_hot_state'} when the state was built for another Redis run: after
-- a restart the AOF may lack its last second of counters, so nothing is taken until the
-- gateway has rebuilt them from Postgres.
-- Refusals are counted by reason in {c:<id>}:refusals (hash: reason -> count; the console's
-- live view reads it), named from KEYS[1] so that KEYS keep their layout; same hash tag, so
-- same slot. Unknown campaigns count nothing: a random id must not create a key.
-- The state is this node's when its run id is the meta's `run_id` or one of the run ids listed
-- there, comma-separated (`gateway move-slot` adds the target's before it moves a slot).
local function runs_here(held, run_id)
  if not held then return false end
  return held == run_id or string.find(',' .. held .. ',', ',' .. run_id .. ',', 1, true) ~= nil
end
local meta_key, members_key, stream_key = KEYS[1], KEYS[2], KEYS[3]
local now = tonumber(ARGV[1])
local source = ARGV[2]
local idem_ttl = tonumber(ARGV[3])
local n = tonumber(ARGV[4])

local m = redis.call('HMGET', meta_key, 'status', 'starts', 'ends', 'limit', 'vmode', 'vdays',
  'vfrom', 'vuntil', 'low', 'flags', 'run_id', 'buckets')
local status, starts, ends, limit = m[1], tonumber(m[2]), tonumber(m[3]), tonumber(m[4])
local vmode, vdays, vfrom, vuntil = m[5], tonumber(m[6]), m[7], m[8]
local low, flags_done = tonumber(m[9]), tonumber(m[10]) or 0
local buckets = tonumber(m[12]) or 1
if buckets > 1 then low = math.floor(low / buckets) end

local results = {}
local refusals_key = (string.gsub(meta_key, ':meta$', ':refusals'))
-- The caller may pass the server's run_id it read when it connected (a restart breaks the
-- connection, so it is current): that spares an INFO per call.
local run_id = ARGV[6]
if status and (run_id == nil or run_id == '') then
  run_id = string.match(redis.call('INFO', 'server'), 'run_id:(%w+)')
end
if status and not runs_here(m[11], run_id) then
  for i = 1, n do results[i] = {0, 'stale_hot_state'} end
  redis.call('HINCRBY', refusals_key, 'stale_hot_state', n)
  return results
end
local refused = {}
for record in string.gmatch(ARGV[5], '[^\30]+') do
  local member, code, channel, idem_index_text, idem_hash, actor =
    string.match(record, '^([^\31]+)\31([^\31]+)\31([^\31]+)\31([^\31]+)\31([^\31]+)\31?(.*)$')
  local idem_index = tonumber(idem_index_text)
  local idem_key = nil
  local result = nil
  if idem_index > 0 then
    idem_key = KEYS[idem_index]
    local prev = redis.call('GET', idem_key)
    if prev then
      -- hash|code|claimed|from|until|member|channel|source
      local f = {}
      for part in string.gmatch(prev, '[^|]+') do f[#f + 1] = part end
      if f[1] ~= idem_hash then
        result = {0, 'idempotency_mismatch'}
      else
        result = {2, f[2], f[3], f[4], f[5], f[6], f[7], f[8]}
      end
    end
  end
  if result == nil then
    if not status then
      result = {0, 'campaign_not_found'}
    elseif status ~= 'live' then
      result = {0, 'not_live'}
    elseif now < starts then
      result = {0, 'not_started'}
    elseif now >= ends then
      result = {0, 'ended'}
    else
      local held = tonumber(redis.call('HGET', members_key, member) or '0')
      if held >= limit then
        result = {0, 'limit_reached'}
      else
        local remaining = tonumber(redis.call('HGET', meta_key, 'remaining'))
        if remaining <= 0 and buckets > 1 then
          result = {0, 'bucket_dry'}
        elseif remaining <= 0 then
          result = {0, 'sold_out'}
        else
          remaining = redis.call('HINCRBY', meta_key, 'remaining', -1)
          redis.call('HINCRBY', members_key, member, 1)
          local valid_from, valid_until
          if vmode == 'fixed' then
            valid_from, valid_until = vfrom, vuntil
          else
            valid_from, valid_until = tostring(now), tostring(now + vdays * 86400000)
          end
          -- The entry is the crash log: recovery writes the event with the same actor ('a').
          local id
          if actor ~= '' then
            id = redis.call('XADD', stream_key, '*', 'c', code, 'm', member, 'h', channel,
              't', now, 'f', valid_from, 'u', valid_until, 's', source, 'a', actor)
          else
            id = redis.call('XADD', stream_key, '*', 'c', code, 'm', member, 'h', channel,
              't', now, 'f', valid_from, 'u', valid_until, 's', source)
          end
          if idem_key then
            redis.call('SET', idem_key, table.concat({idem_hash, code, now, valid_from, valid_until,
              member, channel, source}, '|'), 'EX', idem_ttl)
          end
          local fired = 0
          if remaining <= low and flags_done % 2 == 0 then fired = fired + 1 end
          if remaining == 0 and flags_done < 2 and buckets == 1 then fired = fired + 2 end
          if fired > 0 then
            flags_done = flags_done + fired
            redis.call('HSET', meta_key, 'flags', flags_done)
          end
          result = {1, code, now, valid_from, valid_until, id, remaining, fired}
        end
      end
    end
  end
  if result[1] == 0 and status and result[2] ~= 'bucket_dry' then
    refused[result[2]] = (refused[result[2]] or 0) + 1
  end
  results[#results + 1] = result
end
for reason, count in pairs(refused) do redis.call('HINCRBY', refusals_key, reason, count) end
return results
