-- Claim and grant events need no dedup key: the ledger statement adds an event only for a coupon
-- it inserted. A partial unique index skips the NULLs, a btree insert less per claim.
ALTER TABLE events DROP CONSTRAINT IF EXISTS events_dedup_key_key;
CREATE UNIQUE INDEX events_dedup ON events (dedup_key) WHERE dedup_key IS NOT NULL;
