-- Revoke and reissue (补发新券): a reissued coupon is a new row with source 'reissue'. Like a
-- transfer's, it takes no stock and does not count toward the member's limit: the claimed and
-- per-member counts read only sources 'claim' and 'grant'.
-- The new check only widens the old one, so every existing row satisfies it: NOT VALID skips
-- the scan of the whole ledger under ACCESS EXCLUSIVE (new rows are checked all the same).
ALTER TABLE coupons DROP CONSTRAINT coupons_source_check;
ALTER TABLE coupons ADD CONSTRAINT coupons_source_check
    CHECK (source IN ('claim', 'grant', 'transfer', 'reissue')) NOT VALID;
