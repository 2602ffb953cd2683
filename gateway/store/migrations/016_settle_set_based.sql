-- The group commit's points, spend, rewards and tiers written set-based (issue 13's target:
-- reserve + commit with points within 10% of the same without them).
--
-- gw_settle (009) called gw_order_committed once per order: a dozen statements each through
-- PL/pgSQL, about 400 µs of Postgres per order whatever the batch. Now one statement per kind
-- of row writes the whole batch: the members' locks, the lots, the totals, the entries, the
-- spend days, the first orders and the rewards they make due, the tier upgrades and their
-- events. Rows and their values are those gw_order_committed writes (it stays, for a member's
-- second order in the same batch, whose entries need the first's balance). A member with lots
-- due (pending to count, past expiry) is brought up to date by gw_points_lock first, as before.
--
-- Locks: the batch's members are locked in one statement in member-id order, after the
-- redemptions and coupons (the order gw_settle always took them in), so two batches cannot
-- wait on each other's members.

-- The rewards an order's commit makes due (gw_rewards_committed, 012) for many orders at once:
-- one row per order of (member, order, paid, first) where `first` says the order is the
-- member's first (its first_order_id was set by this commit). Each member appears at most once,
-- and its spend of the day is already recorded (the month's steps read it).
CREATE FUNCTION gw_rewards_committed_many(
    members_ text[], orders_ text[], paid_ bigint[], firsts boolean[], now_ timestamptz,
    zone text
) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    rewards jsonb := (SELECT body -> 'rewards' FROM programme);
    month_start date := date_trunc('month', now_ AT TIME ZONE zone)::date;
BEGIN
    IF rewards IS NULL THEN
        RETURN;
    END IF;
    WITH o AS (
        SELECT * FROM unnest(members_, orders_, paid_, firsts) AS o(member_id, order_id, paid,
                                                                     first_)
    ), gifts AS (
        SELECT o.member_id, o.order_id, o.first_, k.code, g.member_id AS giver
        FROM o JOIN coupons k ON k.order_id = o.order_id AND k.member_id = o.member_id
        JOIN coupons g ON g.code = k.transferred_from
        WHERE k.transferred_from IS NOT NULL
    ), steps AS (
        SELECT s.step, s.place
        FROM jsonb_array_elements(coalesce(rewards -> 'spend_steps', '[]'))
            WITH ORDINALITY AS s(step, place)
    ), months AS (
        SELECT o.member_id, o.order_id, o.paid,
               (SELECT coalesce(sum(d.paid), 0) FROM member_spend_days d
                WHERE d.member_id = o.member_id AND d.day >= month_start
                  AND d.day < (month_start + interval '1 month')::date) AS spend
        FROM o
        WHERE EXISTS (SELECT 1 FROM steps WHERE step ->> 'period' = 'month')
    ), due (member_id, occasion, kind, grant_, order_id, counterparty) AS (
        SELECT o.member_id, 'first_order', 'first_order', rewards -> 'first_order', o.order_id,
               NULL
        FROM o WHERE o.first_
        UNION ALL
        SELECT o.member_id, 'referral:invitee', 'referral', rewards -> 'referral' -> 'invitee',
               o.order_id, m.referred_by
        FROM o JOIN members m ON m.member_id = o.member_id
        WHERE o.first_ AND m.referred_by IS NOT NULL
        UNION ALL
        SELECT m.referred_by, 'referral:inviter:' || o.member_id, 'referral',
               rewards -> 'referral' -> 'inviter', o.order_id, o.member_id
        FROM o JOIN members m ON m.member_id = o.member_id
        WHERE o.first_ AND m.referred_by IS NOT NULL
        UNION ALL
        SELECT g.giver, 'transfer:giver:' || g.code, 'transfer',
               jsonb_build_object('points', rewards -> 'transfer' -> 'giver_points'),
               g.order_id, g.member_id
        FROM gifts g
        UNION ALL
        SELECT x.member_id, 'transfer:first_order:' || g.order_id, 'transfer',
               jsonb_build_object('campaign_id',
                                  rewards -> 'transfer' ->> 'first_order_campaign_id'),
               g.order_id, x.counterparty
        FROM gifts g
        CROSS JOIN LATERAL (VALUES (g.member_id, g.giver), (g.giver, g.member_id))
            AS x(member_id, counterparty)
        WHERE g.first_
        UNION ALL
        SELECT o.member_id, 'spend_step:order:' || o.order_id, 'spend_steps', best.step,
               o.order_id, NULL
        FROM o CROSS JOIN LATERAL (
            SELECT step FROM steps
            WHERE step ->> 'period' = 'order' AND (step ->> 'min_paid')::bigint <= o.paid
            ORDER BY (step ->> 'min_paid')::bigint DESC, place LIMIT 1
        ) best
        UNION ALL
        SELECT mo.member_id,
               'spend_step:month:' || to_char(month_start, 'YYYY-MM') || ':'
                   || (s.step ->> 'min_paid'),
               'spend_steps', s.step, mo.order_id, NULL
        FROM months mo CROSS JOIN steps s
        WHERE s.step ->> 'period' = 'month' AND (s.step ->> 'min_paid')::bigint <= mo.spend
          AND (s.step ->> 'min_paid')::bigint > mo.spend - mo.paid
    )
    INSERT INTO reward_due (member_id, occasion, kind, campaign_id, points, order_id,
                            counterparty, due_at)
    SELECT d.member_id, d.occasion, d.kind, nullif(d.grant_ ->> 'campaign_id', ''),
           greatest(coalesce((d.grant_ ->> 'points')::bigint, 0), 0), d.order_id,
           d.counterparty, now_
    FROM due d
    WHERE nullif(d.grant_ ->> 'campaign_id', '') IS NOT NULL
       OR coalesce((d.grant_ ->> 'points')::bigint, 0) > 0
    ORDER BY d.member_id, d.occasion
    ON CONFLICT (member_id, occasion) DO NOTHING;
END $$;

CREATE OR REPLACE FUNCTION gw_settle(order_ids text[], now_ms bigint, actors text[], zone text)
RETURNS TABLE (order_id text, member_id text, expires_at timestamptz, result text,
               redeemed bigint)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    now_ timestamptz := to_timestamp(now_ms / 1000.0);
    today date := (now_ AT TIME ZONE zone)::date;
    s_order text[];
    s_member text[];
    s_expires timestamptz[];
    s_result jsonb[];
    s_redeemed bigint[];
    s_actor text[];
    registered text[];
    f_member text[];
    f_order text[];
    f_points bigint[];
    f_paid bigint[];
    f_actor text[];
    f_first boolean[];
    rules record;
    counts timestamptz;
    expiry timestamptz;
    tiers jsonb;
    later record;
BEGIN
    -- The orders and their coupons, as in 009.
    WITH wanted AS (
        SELECT * FROM unnest(order_ids, actors) AS w(order_id, actor)
    ), locked AS (
        SELECT r.order_id FROM redemptions r JOIN wanted w ON w.order_id = r.order_id
        WHERE r.state = 'reserved' AND r.expires_at > now_
        ORDER BY r.order_id FOR UPDATE OF r
    ), settled AS (
        UPDATE redemptions r SET state = 'committed', updated_at = now(), committed_at = now_
        FROM locked WHERE r.order_id = locked.order_id AND r.state = 'reserved'
        RETURNING r.order_id, r.member_id, r.expires_at, r.result
    ), target AS (
        SELECT k.code FROM coupons k JOIN settled s ON s.order_id = k.order_id
        WHERE k.state = 'reserved' ORDER BY k.code FOR UPDATE OF k
    ), moved AS (
        UPDATE coupons k SET state = 'redeemed', updated_at = now()
        FROM target WHERE k.code = target.code AND k.state = 'reserved'
        RETURNING k.code, k.campaign_id, k.member_id, k.order_id
    ), recorded AS (
        INSERT INTO events (kind, at, campaign_id, coupon_code, member_id, actor, order_id)
        SELECT 'redeem', now_, mv.campaign_id, mv.code, mv.member_id, w.actor, mv.order_id
        FROM moved mv JOIN wanted w ON w.order_id = mv.order_id
        RETURNING events.order_id
    )
    SELECT array_agg(s.order_id ORDER BY s.member_id, s.order_id),
           array_agg(s.member_id ORDER BY s.member_id, s.order_id),
           array_agg(s.expires_at ORDER BY s.member_id, s.order_id),
           array_agg(s.result ORDER BY s.member_id, s.order_id),
           array_agg((SELECT count(*) FROM recorded rc WHERE rc.order_id = s.order_id)
                     ORDER BY s.member_id, s.order_id),
           array_agg((SELECT w.actor FROM wanted w WHERE w.order_id = s.order_id)
                     ORDER BY s.member_id, s.order_id)
    INTO s_order, s_member, s_expires, s_result, s_redeemed, s_actor
    FROM settled s;
    IF s_order IS NULL THEN
        RETURN;
    END IF;

    -- The registered members among them, locked in member-id order; those with lots due are
    -- brought up to date (activations, expiries) as every move does.
    SELECT array_agg(x.member_id ORDER BY x.member_id) INTO registered FROM (
        SELECT m.member_id FROM members m WHERE m.member_id = ANY (s_member)
        ORDER BY m.member_id FOR NO KEY UPDATE
    ) x;
    IF registered IS NOT NULL THEN
        PERFORM gw_points_lock(r.m, now_) FROM unnest(registered) AS r(m)
        WHERE EXISTS (
            SELECT 1 FROM point_lots p
            WHERE p.member_id = r.m AND p.remaining > 0
              AND ((p.pending AND p.counts_from <= now_)
                   OR (NOT p.pending AND p.expires_at < now_))
        );

        -- Each registered member's first order of the batch (in order-id order) is written
        -- set-based below; its later ones, if any, by gw_order_committed afterwards.
        SELECT array_agg(o.m ORDER BY o.m), array_agg(o.o ORDER BY o.m),
               array_agg(o.points ORDER BY o.m), array_agg(o.paid ORDER BY o.m),
               array_agg(o.actor ORDER BY o.m)
        INTO f_member, f_order, f_points, f_paid, f_actor
        FROM (
            SELECT DISTINCT ON (u.m) u.m, u.o, (u.r ->> 'points_earned')::bigint AS points,
                   (u.r ->> 'total')::bigint AS paid, u.actor
            FROM unnest(s_member, s_order, s_result, s_actor) AS u(m, o, r, actor)
            WHERE u.m = ANY (registered)
            ORDER BY u.m, u.o
        ) o;

        -- Points: one lot and its entry per order that earned (gw_points_credit's rows).
        rules := gw_points_rules();
        counts := now_ + make_interval(days => rules.pending_days);
        expiry := gw_lot_expiry(rules.expiry_mode, rules.expiry_days, now_, counts, zone);
        WITH earned AS (
            SELECT e.m, e.o, e.points, e.actor, mb.points_debt AS debt
            FROM unnest(f_member, f_order, f_points, f_actor) AS e(m, o, points, actor)
            JOIN members mb ON mb.member_id = e.m
            WHERE e.points > 0
        ), lots AS (
            INSERT INTO point_lots (member_id, points, remaining, earned_at, counts_from,
                                    expires_at, pending, source, order_id)
            SELECT e.m, e.points,
                   CASE WHEN rules.pending_days > 0 THEN e.points
                        ELSE e.points - least(e.debt, e.points) END,
                   now_, counts, expiry, rules.pending_days > 0, 'order', e.o
            FROM earned e ORDER BY e.m
            RETURNING id, point_lots.member_id, point_lots.points, remaining
        ), totals AS (
            UPDATE members mb
            SET points_balance = mb.points_balance
                    + CASE WHEN rules.pending_days > 0 THEN 0 ELSE l.points END,
                points_pending = mb.points_pending
                    + CASE WHEN rules.pending_days > 0 THEN l.points ELSE 0 END,
                points_debt = mb.points_debt - (l.points - l.remaining)
            FROM lots l WHERE mb.member_id = l.member_id
            RETURNING mb.member_id, mb.points_balance, mb.points_pending
        )
        INSERT INTO point_entries (member_id, at, kind, points, pending, balance_after,
                                   pending_after, order_id, actor, lot_id)
        SELECT l.member_id, now_,
               CASE WHEN rules.pending_days > 0 THEN 'earn_pending' ELSE 'earn' END,
               CASE WHEN rules.pending_days > 0 THEN 0 ELSE l.points END,
               CASE WHEN rules.pending_days > 0 THEN l.points ELSE 0 END,
               t.points_balance, t.points_pending, e.o, e.actor, l.id
        FROM lots l JOIN totals t ON t.member_id = l.member_id
        JOIN earned e ON e.m = l.member_id
        ORDER BY l.member_id;

        -- The paid spend of the local day.
        INSERT INTO member_spend_days AS d (member_id, day, paid, orders)
        SELECT s.m, today, s.paid, 1
        FROM unnest(f_member, f_paid) AS s(m, paid) ORDER BY s.m
        ON CONFLICT (member_id, day) DO UPDATE SET paid = d.paid + excluded.paid,
                                                   orders = d.orders + 1;

        -- First orders, and the rewards the orders make due.
        WITH firsts AS (
            UPDATE members mb SET first_order_id = s.o
            FROM unnest(f_member, f_order) AS s(m, o)
            WHERE mb.member_id = s.m AND mb.first_order_id IS NULL
            RETURNING mb.member_id
        )
        SELECT array_agg(s.m = ANY (SELECT fi.member_id FROM firsts fi) ORDER BY s.i)
        INTO f_first
        FROM unnest(f_member) WITH ORDINALITY AS s(m, i);
        PERFORM gw_rewards_committed_many(f_member, f_order, f_paid, f_first, now_, zone);

        -- Tiers reached by the order or the year's spend (upgrades only).
        tiers := (SELECT body -> 'tiers' FROM programme);
        IF tiers IS NOT NULL THEN
            WITH spend AS (
                SELECT s.m, s.o, s.paid, s.actor, mb.tier AS current_,
                       (SELECT coalesce(sum(d.paid), 0) FROM member_spend_days d
                        WHERE d.member_id = s.m AND d.day > today - 365) AS yearly
                FROM unnest(f_member, f_order, f_paid, f_actor) AS s(m, o, paid, actor)
                JOIN members mb ON mb.member_id = s.m
            ), reached AS (
                SELECT sp.*, (
                    SELECT t.name FROM unnest(ARRAY['silver', 'gold', 'diamond'])
                        WITH ORDINALITY AS t(name, rank_)
                    WHERE (tiers -> t.name ->> 'single_order')::bigint <= sp.paid
                       OR (tiers -> t.name ->> 'yearly_spend')::bigint <= sp.yearly
                    ORDER BY t.rank_ DESC LIMIT 1
                ) AS tier
                FROM spend sp
            ), up AS (
                UPDATE members mb SET tier = r.tier, tier_since = now_, updated_at = now()
                FROM reached r
                WHERE mb.member_id = r.m AND r.tier IS NOT NULL
                  AND array_position(ARRAY['standard', 'silver', 'gold', 'diamond'], r.tier)
                      > coalesce(array_position(ARRAY['standard', 'silver', 'gold', 'diamond'],
                                                r.current_), 1)
                RETURNING mb.member_id
            )
            INSERT INTO events (kind, at, member_id, actor, order_id, detail)
            SELECT 'tier_upgraded', now_, r.m, r.actor, r.o,
                   jsonb_build_object('from', r.current_, 'to', r.tier, 'single_order', r.paid,
                                      'spend_365d', r.yearly)
            FROM reached r JOIN up ON up.member_id = r.m
            ORDER BY r.m;
        END IF;

        -- A member's later orders in the batch, one by one after its first.
        FOR later IN
            SELECT u.m, u.o, (u.r ->> 'points_earned')::bigint AS points,
                   (u.r ->> 'total')::bigint AS paid, u.actor
            FROM unnest(s_member, s_order, s_result, s_actor) AS u(m, o, r, actor)
            WHERE u.m = ANY (registered) AND NOT u.o = ANY (f_order)
            ORDER BY u.m, u.o
        LOOP
            PERFORM gw_order_committed(later.m, later.o, later.points, later.paid, now_, zone,
                                       later.actor);
        END LOOP;
    END IF;

    RETURN QUERY
    SELECT u.o, u.m, u.e, u.r::text, u.n
    FROM unnest(s_order, s_member, s_expires, s_result, s_redeemed) AS u(o, m, e, r, n);
END $$;
