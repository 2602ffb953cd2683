-- forget_active.lua: takes a campaign off the ledger's active set, unless a claim round trip
-- marked it again since recovery read its score (and may have added a stream entry since).
--
-- KEYS[1] gateway:ledger:active   sorted set: campaign id -> when a round trip last marked it
-- ARGV[1] the campaign id
-- ARGV[2] the score recovery read (ms), before it found the campaign's stream empty
--
-- Returns 1 when the campaign was taken off, 0 when it was marked again (or is not there).
-- Touches only the active set: one key, one Cluster slot.
local active_key = KEYS[1]
local campaign_id = ARGV[1]
local score_read = tonumber(ARGV[2])

local score = redis.call('ZSCORE', active_key, campaign_id)
if not score or tonumber(score) ~= score_read then return 0 end
return redis.call('ZREM', active_key, campaign_id)
