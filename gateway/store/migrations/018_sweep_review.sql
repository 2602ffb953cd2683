-- The points sweep set-based and the tier review's candidate search linear (issue 13,
-- docs/BENCHMARKS.md "Tier review and points expiry at scale").

-- -- the points sweep ------------------------------------------------------------------------

-- Brings a batch of members up to `now_` as gw_points_lock (009, 013) does for one, in one
-- statement for the whole batch instead of three per lot (an UPDATE of the lot, then
-- gw_points_post's UPDATE of the member and INSERT of the entry: 62 µs per lot). The rows are
-- the same: pending lots whose time has come count, in the order they come to count, each
-- paying what is left of the member's debt first (an `activate` entry at its counts_from);
-- then every counting lot past its expiry, those just activated included, leaves the balance
-- (remaining 0, expired, an `expire` entry at its expires_at), soonest first. Entries are
-- written member by member in that order, each with the running balance_after and
-- pending_after, and take their ids in it, as the per-member calls in member-id order did.
--
-- The batch's members are locked FOR NO KEY UPDATE in member-id order, skipping those another
-- transaction holds (a sweep of another worker, a checkout: that member is brought up to date
-- by its holder or by the next pass). Returns how many members it locked. gw_points_lock
-- stays for every move of a single member (checkout, refunds, exchanges, reads).
CREATE FUNCTION gw_points_sweep(members_ text[], now_ timestamptz) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    locked text[];
BEGIN
    SELECT array_agg(m.member_id ORDER BY m.member_id) INTO locked FROM (
        SELECT x.member_id FROM members x WHERE x.member_id = ANY(members_)
        ORDER BY x.member_id FOR NO KEY UPDATE SKIP LOCKED
    ) m;
    IF locked IS NULL THEN
        RETURN 0;
    END IF;
    -- A statement of its own: its snapshot, taken once the locks are held, sees every move the
    -- members' previous holders committed. Every part below reads that snapshot (the lots and
    -- the totals before this statement's writes).
    WITH owed AS (
        SELECT m.member_id, m.points_debt AS debt, m.points_balance AS balance,
               m.points_pending AS pending
        FROM members m WHERE m.member_id = ANY(locked)
    ), due AS (
        -- Pending lots due to count, each with what it pays of the debt: the debt less what
        -- the member's lots that count before it paid.
        SELECT l.id, l.member_id, l.remaining, l.counts_from, l.expires_at, l.order_id,
               least(l.remaining,
                     greatest(o.debt - coalesce(sum(l.remaining) OVER earlier, 0), 0)) AS pay
        FROM point_lots l JOIN owed o ON o.member_id = l.member_id
        WHERE l.member_id = ANY(locked) AND l.pending AND l.remaining > 0
          AND l.counts_from <= now_
        WINDOW earlier AS (PARTITION BY l.member_id ORDER BY l.counts_from, l.id
                           ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING)
    ), expiring AS (
        -- Counting lots past expiry: those that counted already, and those that count now
        -- with something left after the debt.
        SELECT l.id, l.member_id, l.remaining, l.expires_at FROM point_lots l
        WHERE l.member_id = ANY(locked) AND NOT l.pending AND l.remaining > 0
          AND l.expires_at < now_
        UNION ALL
        SELECT d.id, d.member_id, d.remaining - d.pay, d.expires_at FROM due d
        WHERE d.remaining > d.pay AND d.expires_at < now_
    ), moves AS (
        SELECT d.member_id, 1 AS step, d.counts_from AS at, d.id AS lot_id, 'activate' AS kind,
               d.remaining AS points, -d.remaining AS pending, d.pay, d.order_id
        FROM due d
        UNION ALL
        SELECT e.member_id, 2, e.expires_at, e.id, 'expire', -e.remaining, 0, 0, NULL
        FROM expiring e
    ), lots AS (
        UPDATE point_lots l
        SET pending = false,
            remaining = CASE WHEN e.id IS NULL THEN d.remaining - d.pay ELSE 0 END,
            expired = l.expired OR e.id IS NOT NULL
        FROM due d FULL JOIN expiring e ON e.id = d.id
        WHERE l.id = coalesce(e.id, d.id)
    ), totals AS (
        UPDATE members m
        SET points_balance = m.points_balance + t.points,
            points_pending = m.points_pending + t.pending,
            points_debt = m.points_debt - t.paid
        FROM (SELECT v.member_id, sum(v.points) AS points, sum(v.pending) AS pending,
                     sum(v.pay) AS paid
              FROM moves v GROUP BY v.member_id) t
        WHERE m.member_id = t.member_id
    )
    INSERT INTO point_entries (member_id, at, kind, points, pending, balance_after,
                               pending_after, order_id, lot_id)
    SELECT v.member_id, v.at, v.kind, v.points, v.pending,
           o.balance + sum(v.points) OVER running, o.pending + sum(v.pending) OVER running,
           v.order_id, v.lot_id
    FROM moves v JOIN owed o ON o.member_id = v.member_id
    WINDOW running AS (PARTITION BY v.member_id ORDER BY v.step, v.at, v.lot_id
                       ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)
    -- The entries' ids (their serial, drawn as rows are inserted) follow this order.
    ORDER BY v.member_id, v.step, v.at, v.lot_id;
    RETURN cardinality(locked);
END $$;

-- -- the tier review -------------------------------------------------------------------------

-- The review's candidates in the order of the last anniversary passed (then member id), read
-- from the index that finds them: each batch starts where the due members are and stops after
-- `batch` of them. 010's search walked members_pkey in member order and filtered, so every
-- batch visited again every member visited before (those reviewed already, and every
-- `standard` member whose id sorts first): quadratic in batches. A member reviewed leaves the
-- front (its key becomes the anniversary, less than 362 days ago, unless another anniversary
-- is due too: then it is found again, as before); the members not due yet but in the index's
-- range (an anniversary in the next few days) sort after every due one.
DROP INDEX members_tier_review;
CREATE INDEX members_tier_review ON members ((greatest(tier_since, tier_reviewed_at)), member_id)
    WHERE tier <> 'standard';

-- 010's function, but for the candidates' order.
CREATE OR REPLACE FUNCTION gw_tier_review(now_ timestamptz, zone text, batch integer,
                                          actor_ text)
RETURNS TABLE (reviewed_member text, from_tier text, to_tier text, spend bigint,
               anniversary timestamptz)
LANGUAGE plpgsql AS $$
DECLARE
    ladder text[] := ARRAY['standard', 'silver', 'gold', 'diamond'];
    tiers jsonb := (SELECT body -> 'tiers' FROM programme);
    mode text := coalesce(tiers ->> 'downgrade', 'one_step');
    candidate record;
    m record;
    due timestamptz;
    threshold bigint;
    rank_ integer;
    target text;
    i integer;
BEGIN
    FOR candidate IN
        SELECT c.member_id FROM members c
        WHERE c.tier <> 'standard'
          AND greatest(c.tier_since, c.tier_reviewed_at) <= now_ - interval '362 days'
          AND gw_tier_review_at(c.tier_since, c.tier_reviewed_at, zone) <= now_
        ORDER BY greatest(c.tier_since, c.tier_reviewed_at), c.member_id
        LIMIT batch
        FOR UPDATE SKIP LOCKED
    LOOP
        -- Read again under the lock: the row may have moved since the scan's snapshot.
        SELECT x.tier, x.tier_since, x.tier_reviewed_at INTO m
        FROM members x WHERE x.member_id = candidate.member_id;
        due := gw_tier_review_at(m.tier_since, m.tier_reviewed_at, zone);
        CONTINUE WHEN m.tier = 'standard' OR due > now_;
        SELECT coalesce(sum(d.paid), 0) INTO spend FROM member_spend_days d
        WHERE d.member_id = candidate.member_id
          AND d.day >= gw_tier_year_start(m.tier_since, due, zone)
          AND d.day < (due AT TIME ZONE zone)::date;
        threshold := (tiers -> m.tier ->> 'yearly_spend')::bigint;
        rank_ := array_position(ladder, m.tier);
        reviewed_member := candidate.member_id;
        from_tier := m.tier;
        anniversary := due;
        IF threshold IS NULL OR spend >= threshold OR rank_ IS NULL THEN
            UPDATE members SET tier_reviewed_at = due WHERE member_id = candidate.member_id;
            to_tier := m.tier;
            RETURN NEXT;
            CONTINUE;
        END IF;
        target := 'standard';
        IF mode = 'recalculate' THEN
            FOR i IN 2 .. rank_ - 1 LOOP
                IF (tiers -> ladder[i] ->> 'yearly_spend')::bigint <= spend THEN
                    target := ladder[i];
                END IF;
            END LOOP;
        ELSE
            FOR i IN REVERSE rank_ - 1 .. 2 LOOP
                IF jsonb_typeof(tiers -> ladder[i]) = 'object' THEN
                    target := ladder[i];
                    EXIT;
                END IF;
            END LOOP;
        END IF;
        UPDATE members SET tier = target, tier_since = due, tier_reviewed_at = NULL,
                           updated_at = now()
        WHERE member_id = candidate.member_id;
        INSERT INTO events (kind, at, member_id, actor, detail)
        VALUES ('tier_downgraded', now_, candidate.member_id, actor_,
                jsonb_build_object('from', m.tier, 'to', target, 'spend', spend,
                                   'yearly_spend', threshold, 'mode', mode,
                                   'anniversary', due));
        to_tier := target;
        RETURN NEXT;
    END LOOP;
END $$;
