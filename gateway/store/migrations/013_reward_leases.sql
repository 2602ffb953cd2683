-- The rewards worker without lock-order deadlocks against checkout (found under `make
-- loadtest`): a batch used to give 100 rewards in one transaction, holding each member's row
-- lock and a key-share lock on each reward coupon (the foreign key) until its commit, while
-- reserves lock coupons and group commits lock members in their own orders.
--
-- Now a worker leases a batch of due rows (a short transaction), grants their coupons outside
-- any transaction (each grant keyed `reward:<id>`: a retry gives the same coupon), then gives
-- each row in a transaction of its own that needs one contended lock, its member's
-- (`gw_reward_give`). A transaction that waits for one lock while holding none that others
-- want cannot deadlock. An expired lease (a worker that died) lets another worker take the row.
ALTER TABLE reward_due ADD COLUMN lease_until timestamptz;
-- The coupon's row is not locked by recording it (reserves lock coupons FOR UPDATE).
ALTER TABLE rewards DROP CONSTRAINT rewards_coupon_code_fkey;

-- Gives one leased due row: its points (an entry of kind 'reward'), its outcome, done.
-- False when the row is no longer due (another worker gave it after our lease ran out).
CREATE FUNCTION gw_reward_give(
    due bigint, coupon text, refused_ text, now_ timestamptz, zone text
) RETURNS boolean LANGUAGE plpgsql AS $$
DECLARE
    r record;
    entry bigint;
BEGIN
    SELECT * INTO r FROM reward_due WHERE id = due AND state = 'due' FOR UPDATE;
    IF NOT FOUND THEN
        RETURN false;
    END IF;
    IF r.points > 0 AND gw_points_lock(r.member_id, now_) THEN
        entry := gw_points_credit(r.member_id, r.points, now_, zone, 'reward', 'reward', 0,
                                  r.order_id, r.campaign_id, r.counterparty, r.occasion,
                                  'rewards');
    END IF;
    INSERT INTO rewards (due_id, member_id, kind, occasion, at, points, point_entry_id,
                         campaign_id, coupon_code, refused, order_id, counterparty)
    VALUES (r.id, r.member_id, r.kind, r.occasion, now_, r.points, entry, r.campaign_id,
            coupon, refused_, r.order_id, r.counterparty);
    UPDATE reward_due SET state = 'done', attempts = attempts + 1 WHERE id = due;
    RETURN true;
END $$;

-- Moves of one member's points serialise on FOR NO KEY UPDATE of its row (was FOR UPDATE): it
-- excludes other moves all the same, but no longer blocks the FOR KEY SHARE that inserting a
-- row referencing the member takes (an inviter's or a giver's reward made due by another
-- member's commit), which could deadlock two group commits of referred members.
CREATE OR REPLACE FUNCTION gw_points_lock(m text, now_ timestamptz) RETURNS boolean
LANGUAGE plpgsql AS $$
DECLARE
    debt bigint;
    lot record;
    pay bigint;
BEGIN
    SELECT points_debt INTO debt FROM members WHERE member_id = m FOR NO KEY UPDATE;
    IF NOT FOUND THEN
        RETURN false;
    END IF;
    FOR lot IN
        SELECT id, remaining, counts_from, order_id FROM point_lots
        WHERE member_id = m AND pending AND remaining > 0 AND counts_from <= now_
        ORDER BY counts_from, id
    LOOP
        pay := least(debt, lot.remaining);
        debt := debt - pay;
        UPDATE point_lots SET pending = false, remaining = remaining - pay WHERE id = lot.id;
        PERFORM gw_points_post(m, 'activate', lot.remaining, -lot.remaining, -pay,
                               lot.counts_from, lot.order_id, NULL, NULL, NULL, NULL, lot.id);
    END LOOP;
    FOR lot IN
        SELECT id, remaining, expires_at FROM point_lots
        WHERE member_id = m AND NOT pending AND remaining > 0 AND expires_at < now_
        ORDER BY expires_at, id
    LOOP
        UPDATE point_lots SET remaining = 0, expired = true WHERE id = lot.id;
        PERFORM gw_points_post(m, 'expire', -lot.remaining, 0, 0, lot.expires_at, NULL, NULL,
                               NULL, NULL, NULL, lot.id);
    END LOOP;
    RETURN true;
END $$;
