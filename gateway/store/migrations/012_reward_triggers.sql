-- Issue 14: what makes a reward due, written by the trigger's own transaction into the outbox
-- (reward_due, 011). Each insert is keyed by (member, occasion): at most once, whatever the
-- retries, restarts or concurrency. The worker that gives them is gateway/rewards/.

-- The member's first committed order (under the member's row lock at commit): the occasion of
-- first_order, referral and the transfer's first-order coupons. Existing members' first
-- orders are backfilled, so none of them earns a "first" order reward for a later one.
ALTER TABLE members ADD COLUMN first_order_id text;
UPDATE members m SET first_order_id = f.order_id
FROM (
    SELECT DISTINCT ON (member_id) member_id, order_id FROM redemptions
    WHERE committed_at IS NOT NULL OR state IN ('committed', 'refunded')
    ORDER BY member_id, coalesce(committed_at, updated_at), order_id
) f
WHERE f.member_id = m.member_id;
CREATE INDEX redemptions_member ON redemptions (member_id);
-- A keyed grant (a reward's 'reward:<id>', a job's 'job:<job>:<member>') found in the ledger
-- after a crash: only grants carry such keys, so the index stays small and off the claims.
CREATE INDEX events_grant_key ON events (idempotency_key)
    WHERE kind = 'grant' AND idempotency_key IS NOT NULL;

-- One due reward, when it gives something (a coupon or points) and was not made due before.
CREATE FUNCTION gw_reward_due(
    m text, occasion_ text, kind_ text, grant_ jsonb, order_ text, counterparty_ text,
    at_ timestamptz
) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    campaign text := nullif(grant_ ->> 'campaign_id', '');
    points_ bigint := coalesce((grant_ ->> 'points')::bigint, 0);
BEGIN
    IF campaign IS NULL AND points_ <= 0 THEN
        RETURN;
    END IF;
    INSERT INTO reward_due (member_id, occasion, kind, campaign_id, points, order_id,
                            counterparty, due_at)
    VALUES (m, occasion_, kind_, campaign, greatest(points_, 0), order_, counterparty_, at_)
    ON CONFLICT (member_id, occasion) DO NOTHING;
END $$;

-- 开卡礼: a member registered for the first time (called by the registration's transaction).
CREATE FUNCTION gw_rewards_registered(m text, now_ timestamptz) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    rewards jsonb := (SELECT body -> 'rewards' FROM programme);
BEGIN
    IF rewards IS NOT NULL THEN
        PERFORM gw_reward_due(m, 'welcome', 'welcome', rewards -> 'welcome', NULL, NULL, now_);
    END IF;
END $$;

-- The rewards an order's commit makes due, for a locked member after its spend was recorded:
-- 首单礼 and 推荐有礼 (the member's first order), 转赠有礼 (coupons received by transfer
-- redeemed by this order: the giver's points, and on a first order a coupon to both), 满赠 by
-- order (the highest step the order's paid total reaches) and by month (each step the month's
-- paid spend reaches with this order, once per month).
CREATE FUNCTION gw_rewards_committed(
    m text, order_ text, paid_ bigint, now_ timestamptz, zone text
) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    rewards jsonb := (SELECT body -> 'rewards' FROM programme);
    first_ boolean;
    referrer text;
    gift record;
    step jsonb;
    best jsonb;
    month_start date := date_trunc('month', now_ AT TIME ZONE zone)::date;
    month_spend bigint;
BEGIN
    UPDATE members SET first_order_id = order_
    WHERE member_id = m AND first_order_id IS NULL
    RETURNING referred_by INTO referrer;
    first_ := FOUND;
    IF rewards IS NULL THEN
        RETURN;
    END IF;
    IF first_ THEN
        PERFORM gw_reward_due(m, 'first_order', 'first_order', rewards -> 'first_order', order_,
                              NULL, now_);
        IF referrer IS NOT NULL THEN
            PERFORM gw_reward_due(m, 'referral:invitee', 'referral',
                                  rewards -> 'referral' -> 'invitee', order_, referrer, now_);
            PERFORM gw_reward_due(referrer, 'referral:inviter:' || m, 'referral',
                                  rewards -> 'referral' -> 'inviter', order_, m, now_);
        END IF;
    END IF;
    FOR gift IN
        SELECT k.code, g.member_id AS giver FROM coupons k
        JOIN coupons g ON g.code = k.transferred_from
        WHERE k.order_id = order_ AND k.transferred_from IS NOT NULL AND k.member_id = m
        ORDER BY k.code
    LOOP
        PERFORM gw_reward_due(gift.giver, 'transfer:giver:' || gift.code, 'transfer',
                              jsonb_build_object('points', rewards -> 'transfer' -> 'giver_points'),
                              order_, m, now_);
        IF first_ THEN
            PERFORM gw_reward_due(m, 'transfer:first_order:' || order_, 'transfer',
                jsonb_build_object('campaign_id',
                                   rewards -> 'transfer' ->> 'first_order_campaign_id'),
                order_, gift.giver, now_);
            PERFORM gw_reward_due(gift.giver, 'transfer:first_order:' || order_, 'transfer',
                jsonb_build_object('campaign_id',
                                   rewards -> 'transfer' ->> 'first_order_campaign_id'),
                order_, m, now_);
        END IF;
    END LOOP;
    best := NULL;
    FOR step IN SELECT * FROM jsonb_array_elements(coalesce(rewards -> 'spend_steps', '[]'))
    LOOP
        IF step ->> 'period' = 'order' AND (step ->> 'min_paid')::bigint <= paid_
           AND (best IS NULL OR (step ->> 'min_paid')::bigint > (best ->> 'min_paid')::bigint)
        THEN
            best := step;
        END IF;
    END LOOP;
    IF best IS NOT NULL THEN
        PERFORM gw_reward_due(m, 'spend_step:order:' || order_, 'spend_steps', best, order_,
                              NULL, now_);
    END IF;
    IF jsonb_path_exists(coalesce(rewards -> 'spend_steps', '[]'), '$[*] ? (@.period == "month")')
    THEN
        SELECT coalesce(sum(d.paid), 0) INTO month_spend FROM member_spend_days d
        WHERE d.member_id = m AND d.day >= month_start
          AND d.day < (month_start + interval '1 month')::date;
        FOR step IN SELECT * FROM jsonb_array_elements(rewards -> 'spend_steps') LOOP
            IF step ->> 'period' = 'month' AND (step ->> 'min_paid')::bigint <= month_spend
               AND (step ->> 'min_paid')::bigint > month_spend - paid_ THEN
                PERFORM gw_reward_due(m, 'spend_step:month:' || to_char(month_start, 'YYYY-MM')
                                         || ':' || (step ->> 'min_paid'),
                                      'spend_steps', step, order_, NULL, now_);
            END IF;
        END LOOP;
    END IF;
END $$;

-- 生日礼 and 回归礼, made due by a scheduled scan (gateway/rewards/jobs): each member whose
-- birthday is within `days_before` days (the reward of the birthday's year, once; 02-29 is
-- celebrated on 02-28 in common years), and each member with an order whose last order day is
-- `after_days` or more ago (once per lapse: the occasion names that last day). Returns how
-- many rows it made due.
CREATE FUNCTION gw_rewards_scan(now_ timestamptz, zone text) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    rewards jsonb := (SELECT body -> 'rewards' FROM programme);
    today date := (now_ AT TIME ZONE zone)::date;
    before_ integer;
    after_ integer;
    made integer := 0;
    n integer;
BEGIN
    IF rewards IS NULL THEN
        RETURN 0;
    END IF;
    IF rewards -> 'birthday' ->> 'campaign_id' IS NOT NULL THEN
        before_ := coalesce((rewards -> 'birthday' ->> 'days_before')::integer, 0);
        WITH days AS (
            SELECT m.member_id, y.year,
                   CASE WHEN m.birthday = '02-29'
                             AND NOT (y.year % 4 = 0 AND (y.year % 100 <> 0 OR y.year % 400 = 0))
                        THEN make_date(y.year, 2, 28)
                        ELSE make_date(y.year, substr(m.birthday, 1, 2)::integer,
                                       substr(m.birthday, 4, 2)::integer)
                   END AS day
            FROM members m
            CROSS JOIN (VALUES (extract(year FROM today)::integer),
                               (extract(year FROM today)::integer + 1)) AS y(year)
            WHERE m.birthday IS NOT NULL
        ), inserted AS (
            INSERT INTO reward_due (member_id, occasion, kind, campaign_id, points, due_at)
            SELECT d.member_id, 'birthday:' || d.year, 'birthday',
                   rewards -> 'birthday' ->> 'campaign_id', 0, now_
            FROM days d
            WHERE d.day - before_ <= today AND today <= d.day
            ON CONFLICT (member_id, occasion) DO NOTHING
            RETURNING 1
        )
        SELECT count(*) INTO n FROM inserted;
        made := made + n;
    END IF;
    IF rewards -> 'win_back' ->> 'campaign_id' IS NOT NULL THEN
        after_ := coalesce((rewards -> 'win_back' ->> 'after_days')::integer, 60);
        WITH last_orders AS (
            SELECT d.member_id, max(d.day) AS day FROM member_spend_days d
            WHERE d.orders > 0 GROUP BY d.member_id
        ), inserted AS (
            INSERT INTO reward_due (member_id, occasion, kind, campaign_id, points, due_at)
            SELECT l.member_id, 'win_back:' || l.day, 'win_back',
                   rewards -> 'win_back' ->> 'campaign_id', 0, now_
            FROM last_orders l
            WHERE l.day <= today - after_
            ON CONFLICT (member_id, occasion) DO NOTHING
            RETURNING 1
        )
        SELECT count(*) INTO n FROM inserted;
        made := made + n;
    END IF;
    RETURN made;
END $$;

-- An order's commit (009) now also makes its rewards due, in the same transaction, after its
-- spend is recorded (the month's spend steps read it).
CREATE OR REPLACE FUNCTION gw_order_committed(
    m text, order_ text, points_ bigint, paid_ bigint, now_ timestamptz, zone text, actor_ text
) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    rules record;
    tiers jsonb;
    single_ bigint;
    yearly bigint;
    current_ text;
    reached text;
    rank_ integer;
    today date := (now_ AT TIME ZONE zone)::date;
    t text;
BEGIN
    IF NOT gw_points_lock(m, now_) THEN
        RETURN NULL;
    END IF;
    IF points_ > 0 THEN
        rules := gw_points_rules();
        PERFORM gw_points_credit(m, points_, now_, zone, 'earn', 'order', rules.pending_days,
                                 order_, NULL, NULL, NULL, actor_);
    END IF;
    INSERT INTO member_spend_days AS d (member_id, day, paid, orders)
    VALUES (m, today, paid_, 1)
    ON CONFLICT (member_id, day) DO UPDATE SET paid = d.paid + excluded.paid,
                                               orders = d.orders + 1;
    PERFORM gw_rewards_committed(m, order_, paid_, now_, zone);
    tiers := (SELECT body -> 'tiers' FROM programme);
    SELECT tier INTO current_ FROM members WHERE member_id = m;
    IF tiers IS NULL THEN
        RETURN current_;
    END IF;
    SELECT coalesce(sum(d.paid), 0) INTO yearly FROM member_spend_days d
    WHERE d.member_id = m AND d.day > today - 365;
    reached := NULL;
    FOREACH t IN ARRAY ARRAY['silver', 'gold', 'diamond'] LOOP
        IF (tiers -> t ->> 'single_order')::bigint <= paid_
           OR (tiers -> t ->> 'yearly_spend')::bigint <= yearly THEN
            reached := t;
        END IF;
    END LOOP;
    rank_ := array_position(ARRAY['standard', 'silver', 'gold', 'diamond'], current_);
    IF reached IS NOT NULL
       AND array_position(ARRAY['standard', 'silver', 'gold', 'diamond'], reached)
           > coalesce(rank_, 1) THEN
        UPDATE members SET tier = reached, tier_since = now_, updated_at = now()
        WHERE member_id = m;
        INSERT INTO events (kind, at, member_id, actor, order_id, detail)
        VALUES ('tier_upgraded', now_, m, actor_, order_,
                jsonb_build_object('from', current_, 'to', reached, 'single_order', paid_,
                                   'spend_365d', yearly));
        RETURN reached;
    END IF;
    RETURN current_;
END $$;
