-- The tier review (保级, API.md "The programme", `tiers.downgrade`; gateway/tiers/review.py).
--
-- A member is reviewed at each anniversary of `tier_since`: calendar years in the gateway's
-- zone, at local midnight of the day (tier since 2026-03-01 10:00 +08:00: reviewed from
-- 2027-03-01 00:00 +08:00, then 2028-03-01 00:00 ...). A tier held since 02-29 has its
-- anniversary on 02-28 in the years without one, and on 02-29 again in leap years (each year
-- is counted from `tier_since`, never from the previous anniversary).
--
-- tier_reviewed_at: the last anniversary at which the member kept the tier, NULL when none has
-- passed since `tier_since`. The next review is the first anniversary of `tier_since` after
-- it. A downgrade or an upgrade moves `tier_since`, which restarts the count.
ALTER TABLE members ADD COLUMN tier_reviewed_at timestamptz;

-- The anniversary that is reviewed next: the first one (local midnight, n >= 1 years after
-- the local day of `since`) later than `reviewed`, or the first of all.
CREATE FUNCTION gw_tier_review_at(since timestamptz, reviewed timestamptz, zone text)
RETURNS timestamptz LANGUAGE plpgsql STABLE AS $$
DECLARE
    first_day date := (since AT TIME ZONE zone)::date;
    after_ timestamptz := greatest(since, reviewed + interval '1 second');
    n integer;
    at_ timestamptz;
BEGIN
    n := greatest(1, extract(year FROM after_ AT TIME ZONE zone)::integer
                     - extract(year FROM first_day)::integer - 1);
    LOOP
        -- date + interval clamps 02-29 to 02-28 in a year without it.
        at_ := (first_day + make_interval(years => n))::date::timestamp AT TIME ZONE zone;
        EXIT WHEN at_ >= after_;
        n := n + 1;
    END LOOP;
    RETURN at_;
END $$;

-- The first day of the tier year that ends at the anniversary `due`: the previous
-- anniversary's day, or the day the tier was reached. The review counts the spend of that year
-- (365 days, 366 across a 02-29), so the day a member reached the tier always counts.
CREATE FUNCTION gw_tier_year_start(since timestamptz, due timestamptz, zone text)
RETURNS date LANGUAGE sql STABLE AS $$
    SELECT ((since AT TIME ZONE zone)::date
            + make_interval(years => extract(year FROM due AT TIME ZONE zone)::integer
                                     - extract(year FROM since AT TIME ZONE zone)::integer - 1)
           )::date
$$;

-- Members whose next review may be due: an anniversary comes at least 362 days after
-- `tier_since` and after the previous anniversary (a calendar year, at least 365 days, less
-- the local day's start and a zone's offset), so the index finds every due member and few
-- that are not due yet. The review replaces 008's index on tier_since alone.
DROP INDEX members_tier_since;
CREATE INDEX members_tier_review ON members ((greatest(tier_since, tier_reviewed_at)))
    WHERE tier <> 'standard';

-- Members who have held their tier for over a year when this runs have had no review yet, and
-- no spend was recorded before 008: their past anniversaries count as kept (the last one, to
-- within a day: the zone is not known here), so each is first reviewed at the next.
UPDATE members
SET tier_reviewed_at = tier_since
    + make_interval(years => extract(year FROM age(now(), tier_since))::integer)
    + interval '1 day'
WHERE tier <> 'standard' AND tier_since <= now() - interval '1 year';

-- Reviews up to `batch` members whose anniversary has come by `now_`, each in the caller's
-- transaction under its row lock (FOR UPDATE SKIP LOCKED: workers running it at once take
-- different members; a member another worker has just reviewed is not due any more). Spend
-- is the paid total of the tier year that ends at the anniversary (gw_tier_year_start).
-- Below the tier's `yearly_spend` the member moves down (`one_step`: to the next lower tier
-- the programme defines, or standard; `recalculate`: to the highest lower tier whose
-- `yearly_spend` that spend reaches, or standard), `tier_since` becomes the anniversary, and
-- a `tier_downgraded` event is written; otherwise the anniversary is recorded as kept. A tier
-- without a `yearly_spend` (no programme, or the tier off in it) is always kept. One row per
-- member reviewed: to_tier = from_tier when kept.
CREATE FUNCTION gw_tier_review(now_ timestamptz, zone text, batch integer, actor_ text)
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
        ORDER BY c.member_id
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
