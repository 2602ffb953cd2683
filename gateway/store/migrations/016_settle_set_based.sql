-- The group commit's points, spend, rewards and tiers written set-based (issue 13's target:
-- reserve + commit with points within 10% of the same without them).
--
-- gw_settle (009) called gw_order_committed once per order: a dozen statements each through
-- PL/pgSQL, whatever the batch. Now the batch's members are locked in one statement and one
-- statement writes every member's rows (the lots, their entries, the member's row once: its
-- totals, its first order, its tier; the spend days; the upgrades' events), then one the
-- rewards the orders make due. Rows and their values are those gw_order_committed writes (it
-- stays, for a member's second order in the same batch, whose entries need the first's
-- balance). A member with lots due (pending to count, past expiry) is brought up to date by
-- gw_points_lock first, as before. The function's statements run with generic plans: their
-- custom plans (the first five calls' kind, kept when no cheaper) were planned again on every
-- call, which cost more than running them.
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
) RETURNS void LANGUAGE plpgsql SET plan_cache_mode = force_generic_plan AS $$
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
LANGUAGE plpgsql SET plan_cache_mode = force_generic_plan AS $$
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
    f_paid bigint[];
    f_first boolean[];
    body_ jsonb;
    pending_days integer;
    counts timestamptz;
    expiry timestamptz;
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
            WHERE p.member_id = r.m AND p.remaining > 0 AND p.pending AND p.counts_from <= now_
        ) OR EXISTS (
            SELECT 1 FROM point_lots p
            WHERE p.member_id = r.m AND p.remaining > 0 AND p.expires_at < now_
              AND NOT p.pending
        );

        -- The programme's rules (gw_points_rules' defaults).
        body_ := (SELECT p.body FROM programme p);
        pending_days := coalesce((body_ -> 'points' ->> 'pending_days')::integer, 0);
        counts := now_ + make_interval(days => pending_days);
        expiry := gw_lot_expiry(
            coalesce(body_ -> 'points' -> 'expiry' ->> 'mode', 'end_of_next_year'),
            (body_ -> 'points' -> 'expiry' ->> 'days')::integer, now_, counts, zone);

        -- Each registered member's first order of the batch (in order-id order), all in one
        -- statement: the order's points as a lot (pending for the return window; a debt paid
        -- first) and its entry, the member's row once (totals, first order, the tier reached
        -- by the order or the year's spend: upgrades only), the day's spend, the upgrade's
        -- event. Its later orders, if any, go one by one afterwards.
        WITH f AS (
            SELECT DISTINCT ON (u.m) u.m, u.o, (u.r ->> 'points_earned')::bigint AS points,
                   (u.r ->> 'total')::bigint AS paid, u.actor
            FROM unnest(s_member, s_order, s_result, s_actor) AS u(m, o, r, actor)
            WHERE u.m = ANY (registered)
            ORDER BY u.m, u.o
        ), st AS (
            SELECT f.*, mb.points_debt AS debt, mb.first_order_id IS NULL AS first_,
                   mb.tier AS current_,
                   f.paid + (SELECT coalesce(sum(d.paid), 0) FROM member_spend_days d
                             WHERE d.member_id = f.m AND d.day > today - 365) AS yearly
            FROM f JOIN members mb ON mb.member_id = f.m
        ), reached AS (
            SELECT st.*, (
                SELECT t.name FROM unnest(ARRAY['silver', 'gold', 'diamond'])
                    WITH ORDINALITY AS t(name, rank_)
                WHERE (body_ -> 'tiers' -> t.name ->> 'single_order')::bigint <= st.paid
                   OR (body_ -> 'tiers' -> t.name ->> 'yearly_spend')::bigint <= st.yearly
                ORDER BY t.rank_ DESC LIMIT 1
            ) AS tier
            FROM st
        ), up AS (
            SELECT r.*,
                   coalesce(array_position(ARRAY['standard', 'silver', 'gold', 'diamond'], r.tier)
                            > coalesce(array_position(ARRAY['standard', 'silver', 'gold',
                                                            'diamond'], r.current_), 1),
                            false) AS upgraded,
                   CASE WHEN r.points > 0 AND pending_days = 0 THEN least(r.debt, r.points)
                        ELSE 0 END AS pay,
                   CASE WHEN r.points > 0 AND pending_days = 0 THEN r.points ELSE 0 END AS d_points,
                   CASE WHEN r.points > 0 AND pending_days > 0 THEN r.points ELSE 0 END
                       AS d_pending
            FROM reached r
        ), lots AS (
            INSERT INTO point_lots (member_id, points, remaining, earned_at, counts_from,
                                    expires_at, pending, source, order_id)
            SELECT up.m, up.points, up.points - up.pay, now_, counts, expiry, pending_days > 0,
                   'order', up.o
            FROM up WHERE up.points > 0 ORDER BY up.m
            RETURNING id, point_lots.member_id
        ), totals AS (
            UPDATE members mb
            SET points_balance = mb.points_balance + up.d_points,
                points_pending = mb.points_pending + up.d_pending,
                points_debt = mb.points_debt - up.pay,
                first_order_id = coalesce(mb.first_order_id, up.o),
                tier = CASE WHEN up.upgraded THEN up.tier ELSE mb.tier END,
                tier_since = CASE WHEN up.upgraded THEN now_ ELSE mb.tier_since END,
                updated_at = CASE WHEN up.upgraded THEN now() ELSE mb.updated_at END
            FROM up WHERE mb.member_id = up.m
            RETURNING mb.member_id, mb.points_balance, mb.points_pending
        ), entries AS (
            INSERT INTO point_entries (member_id, at, kind, points, pending, balance_after,
                                       pending_after, order_id, actor, lot_id)
            SELECT l.member_id, now_,
                   CASE WHEN pending_days > 0 THEN 'earn_pending' ELSE 'earn' END,
                   up.d_points, up.d_pending, t.points_balance, t.points_pending, up.o,
                   up.actor, l.id
            FROM lots l JOIN totals t ON t.member_id = l.member_id
            JOIN up ON up.m = l.member_id
            ORDER BY l.member_id
        ), spend AS (
            INSERT INTO member_spend_days AS d (member_id, day, paid, orders)
            SELECT up.m, today, up.paid, 1 FROM up ORDER BY up.m
            ON CONFLICT (member_id, day) DO UPDATE SET paid = d.paid + excluded.paid,
                                                       orders = d.orders + 1
        ), upgrades AS (
            INSERT INTO events (kind, at, member_id, actor, order_id, detail)
            SELECT 'tier_upgraded', now_, up.m, up.actor, up.o,
                   jsonb_build_object('from', up.current_, 'to', up.tier, 'single_order',
                                      up.paid, 'spend_365d', up.yearly)
            FROM up WHERE up.upgraded ORDER BY up.m
        )
        SELECT array_agg(up.m ORDER BY up.m), array_agg(up.o ORDER BY up.m),
               array_agg(up.paid ORDER BY up.m), array_agg(up.first_ ORDER BY up.m)
        INTO f_member, f_order, f_paid, f_first
        FROM up;

        -- The rewards the orders make due (the month's steps read the spend written above).
        IF body_ -> 'rewards' IS NOT NULL THEN
            PERFORM gw_rewards_committed_many(f_member, f_order, f_paid, f_first, now_, zone);
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
