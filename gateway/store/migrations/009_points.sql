-- The points ledger (积分, issue 13; DESIGN.md "The membership programme").
--
-- point_lots: one per earning, with what is left of it (`remaining`), when it counts
-- (`counts_from`: later than `earned_at` while the return window keeps it pending) and when it
-- expires (NULL: never). point_entries: append-only, every move with the member's balance and
-- pending points after it. point_allocations: which lots a spend (or a transfer) took its points
-- from, so a refused exchange puts them back where they were and a friend's points keep their
-- expiry.
--
-- Every move runs in one of the functions below, inside the caller's transaction, after
-- locking the member's row (gw_points_lock): moves of one member are serialised, so a check
-- and the deduction it allows always read the same lots. The member row keeps
-- points_balance / points_pending / points_debt, which each move changes with its entry.

CREATE TABLE point_lots (
    id          bigserial PRIMARY KEY,
    member_id   text NOT NULL REFERENCES members (member_id),
    points      bigint NOT NULL CHECK (points > 0),
    remaining   bigint NOT NULL CHECK (remaining >= 0 AND remaining <= points),
    earned_at   timestamptz NOT NULL,
    counts_from timestamptz NOT NULL,
    expires_at  timestamptz,
    pending     boolean NOT NULL,
    expired     boolean NOT NULL DEFAULT false,
    source      text NOT NULL,
    order_id    text,
    campaign_id text
);
-- A member's live lots, in spending order (soonest expiry first, never last).
CREATE INDEX point_lots_live ON point_lots (member_id, expires_at, counts_from, id)
    WHERE remaining > 0;
CREATE INDEX point_lots_order ON point_lots (order_id) WHERE order_id IS NOT NULL;
-- The sweeps: lots that are due to count, and lots that are due to expire.
CREATE INDEX point_lots_due ON point_lots (counts_from) WHERE pending AND remaining > 0;
CREATE INDEX point_lots_expiring ON point_lots (expires_at)
    WHERE NOT pending AND remaining > 0 AND expires_at IS NOT NULL;

CREATE TABLE point_entries (
    id            bigserial PRIMARY KEY,
    member_id     text NOT NULL REFERENCES members (member_id),
    at            timestamptz NOT NULL,
    kind          text NOT NULL CHECK (kind IN ('earn', 'earn_pending', 'activate', 'spend',
                      'reverse', 'expire', 'transfer_in', 'transfer_out', 'adjust', 'reward')),
    -- The change to the balance and to the pending points (an entry may move both: activate).
    points        bigint NOT NULL,
    pending       bigint NOT NULL,
    balance_after bigint NOT NULL,
    pending_after bigint NOT NULL,
    order_id      text,
    campaign_id   text,
    counterparty  text,
    reason        text,
    actor         text,
    lot_id        bigint REFERENCES point_lots (id)
);
CREATE INDEX point_entries_member ON point_entries (member_id, id DESC);
CREATE INDEX point_entries_order ON point_entries (order_id) WHERE order_id IS NOT NULL;

CREATE FUNCTION point_entries_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'point_entries is append-only';
END $$;
CREATE TRIGGER point_entries_append_only BEFORE UPDATE OR DELETE ON point_entries
    FOR EACH STATEMENT EXECUTE FUNCTION point_entries_append_only();

CREATE TABLE point_allocations (
    entry_id bigint NOT NULL REFERENCES point_entries (id),
    lot_id   bigint NOT NULL REFERENCES point_lots (id),
    points   bigint NOT NULL CHECK (points > 0),
    PRIMARY KEY (entry_id, lot_id)
);

-- Points exchange (积分兑换): a campaign with a points price, and one row per exchange, written
-- with its spend in one transaction (state 'pending'), then 'done' with its coupon or
-- 'refused' with its points given back. A pending row older than the ledger's time-out is
-- finished by recovery (gateway/points/exchanges.py) with the claim's own idempotency key.
ALTER TABLE campaigns ADD COLUMN points_price bigint CHECK (points_price > 0);
CREATE TABLE exchanges (
    id          text PRIMARY KEY,
    campaign_id text NOT NULL REFERENCES campaigns (id),
    member_id   text NOT NULL REFERENCES members (member_id),
    channel     text NOT NULL,
    points      bigint NOT NULL,
    body_hash   text NOT NULL,
    state       text NOT NULL CHECK (state IN ('pending', 'done', 'refused')),
    entry_id    bigint REFERENCES point_entries (id),
    coupon_code text REFERENCES coupons (code),
    reason      text,
    created_at  timestamptz NOT NULL,
    updated_at  timestamptz NOT NULL
);
CREATE INDEX exchanges_pending ON exchanges (created_at) WHERE state = 'pending';
CREATE INDEX exchanges_campaign ON exchanges (campaign_id, state);

-- -- the rules ------------------------------------------------------------------------------

-- The points rules of the programme (the defaults of API.md without one).
CREATE FUNCTION gw_points_rules(
    OUT pending_days integer, OUT expiry_mode text, OUT expiry_days integer,
    OUT transferable boolean
) LANGUAGE sql STABLE AS $$
    SELECT coalesce((p.body -> 'points' ->> 'pending_days')::integer, 0),
           coalesce(p.body -> 'points' -> 'expiry' ->> 'mode', 'end_of_next_year'),
           (p.body -> 'points' -> 'expiry' ->> 'days')::integer,
           coalesce((p.body -> 'points' ->> 'transferable')::boolean, false)
    FROM (SELECT (SELECT body FROM programme) AS body) p
$$;

-- When a lot earned at `earned` (counting from `counts`) expires: the end of the next calendar
-- year of its earning in the zone (earned 2026-06-01: 2027-12-31 23:59:59 local), N days after
-- it counts, or never (NULL). A lot counts while now <= expires_at.
CREATE FUNCTION gw_lot_expiry(mode text, days integer, earned timestamptz, counts timestamptz,
                              zone text)
RETURNS timestamptz LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE mode
        WHEN 'never' THEN NULL
        WHEN 'days' THEN counts + make_interval(days => days)
        ELSE make_timestamptz(extract(year FROM earned AT TIME ZONE zone)::integer + 1,
                              12, 31, 23, 59, 59, zone)
    END
$$;

-- -- the moves ------------------------------------------------------------------------------

-- Appends an entry and moves the member's totals by (d_points, d_pending, d_debt).
CREATE FUNCTION gw_points_post(
    m text, k text, d_points bigint, d_pending bigint, d_debt bigint, at_ timestamptz,
    order_ text, campaign text, counterparty_ text, reason_ text, actor_ text, lot bigint
) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    b bigint;
    p bigint;
    entry bigint;
BEGIN
    UPDATE members SET points_balance = points_balance + d_points,
                       points_pending = points_pending + d_pending,
                       points_debt = points_debt + d_debt
    WHERE member_id = m
    RETURNING points_balance, points_pending INTO b, p;
    INSERT INTO point_entries (member_id, at, kind, points, pending, balance_after,
                               pending_after, order_id, campaign_id, counterparty, reason,
                               actor, lot_id)
    VALUES (m, at_, k, d_points, d_pending, b, p, order_, campaign, counterparty_, reason_,
            actor_, lot)
    RETURNING id INTO entry;
    RETURN entry;
END $$;

-- Locks the member's row and brings the ledger up to `now`: pending lots whose time has come
-- count (paying any debt first), then lots past their expiry leave the balance, each at its
-- own time. False when the member is not registered.
CREATE FUNCTION gw_points_lock(m text, now_ timestamptz) RETURNS boolean
LANGUAGE plpgsql AS $$
DECLARE
    debt bigint;
    lot record;
    pay bigint;
BEGIN
    SELECT points_debt INTO debt FROM members WHERE member_id = m FOR UPDATE;
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

-- A new lot of n points for a locked member. `pending_days` > 0 makes it pending (an order's
-- earning in its return window); otherwise it counts at once and pays any debt first.
-- `expires` overrides the programme's expiry (a transfer keeps its source lot's); pass
-- `keep_expiry` true to use it even when NULL (never). Returns the entry's id.
CREATE FUNCTION gw_points_credit(
    m text, n bigint, now_ timestamptz, zone text, k text, source_ text, pending_days integer,
    order_ text, campaign text, counterparty_ text, reason_ text, actor_ text,
    keep_expiry boolean DEFAULT false, expires timestamptz DEFAULT NULL
) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    rules record;
    counts timestamptz;
    expiry timestamptz;
    debt bigint;
    pay bigint;
    lot bigint;
BEGIN
    IF n <= 0 THEN
        RETURN NULL;
    END IF;
    rules := gw_points_rules();
    counts := now_ + make_interval(days => pending_days);
    IF keep_expiry THEN
        expiry := expires;
    ELSE
        expiry := gw_lot_expiry(rules.expiry_mode, rules.expiry_days, now_, counts, zone);
    END IF;
    IF pending_days > 0 THEN
        INSERT INTO point_lots (member_id, points, remaining, earned_at, counts_from,
                                expires_at, pending, source, order_id, campaign_id)
        VALUES (m, n, n, now_, counts, expiry, true, source_, order_, campaign)
        RETURNING id INTO lot;
        RETURN gw_points_post(m, 'earn_pending', 0, n, 0, now_, order_, campaign,
                              counterparty_, reason_, actor_, lot);
    END IF;
    SELECT points_debt INTO debt FROM members WHERE member_id = m;
    pay := least(debt, n);
    INSERT INTO point_lots (member_id, points, remaining, earned_at, counts_from, expires_at,
                            pending, source, order_id, campaign_id)
    VALUES (m, n, n - pay, now_, counts, expiry, false, source_, order_, campaign)
    RETURNING id INTO lot;
    RETURN gw_points_post(m, k, n, 0, -pay, now_, order_, campaign, counterparty_, reason_,
                          actor_, lot);
END $$;

-- Takes n points from a locked member's counting lots, soonest expiry first, and records
-- where they came from. NULL (nothing written) when the balance is short.
CREATE FUNCTION gw_points_debit(
    m text, n bigint, now_ timestamptz, k text, order_ text, campaign text,
    counterparty_ text, reason_ text, actor_ text
) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    balance bigint;
    entry bigint;
    lot record;
    left_ bigint := n;
    take bigint;
BEGIN
    SELECT points_balance INTO balance FROM members WHERE member_id = m;
    IF n <= 0 OR balance < n THEN
        RETURN NULL;
    END IF;
    entry := gw_points_post(m, k, -n, 0, 0, now_, order_, campaign, counterparty_, reason_,
                            actor_, NULL);
    FOR lot IN
        SELECT id, remaining FROM point_lots
        WHERE member_id = m AND remaining > 0 AND NOT pending
        ORDER BY expires_at NULLS LAST, counts_from, id
    LOOP
        EXIT WHEN left_ = 0;
        take := least(left_, lot.remaining);
        UPDATE point_lots SET remaining = remaining - take WHERE id = lot.id;
        INSERT INTO point_allocations (entry_id, lot_id, points) VALUES (entry, lot.id, take);
        left_ := left_ - take;
    END LOOP;
    IF left_ <> 0 THEN  -- the member's totals disagree with its lots: never expected
        RAISE EXCEPTION 'points ledger of % is inconsistent: % points not found', m, left_;
    END IF;
    RETURN entry;
END $$;

-- Pays a locked member's debt from its counting lots, soonest expiry first (the balance does
-- not change: points held and points owed cancel out). Keeps "a member with debt holds no
-- counting points" after a move that gives points back without earning them.
CREATE FUNCTION gw_points_pay_debt(m text) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    debt bigint;
    lot record;
    take bigint;
BEGIN
    SELECT points_debt INTO debt FROM members WHERE member_id = m;
    FOR lot IN
        SELECT id, remaining FROM point_lots
        WHERE member_id = m AND remaining > 0 AND NOT pending
        ORDER BY expires_at NULLS LAST, counts_from, id
    LOOP
        EXIT WHEN debt = 0;
        take := least(debt, lot.remaining);
        UPDATE point_lots SET remaining = remaining - take WHERE id = lot.id;
        debt := debt - take;
    END LOOP;
    UPDATE members SET points_debt = debt WHERE member_id = m;
END $$;

-- Gives a debit back to the lots it came from (a refused exchange), as a `reverse` entry; a
-- lot that expired meanwhile expires again at once, and a debt run up meanwhile (a refund)
-- is paid from them first. For a locked member.
CREATE FUNCTION gw_points_undo(spend bigint, now_ timestamptz, reason_ text, actor_ text)
RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    e record;
    entry bigint;
BEGIN
    SELECT member_id, points, order_id, campaign_id INTO e FROM point_entries WHERE id = spend;
    UPDATE point_lots l SET remaining = l.remaining + a.points, expired = false
    FROM point_allocations a WHERE a.entry_id = spend AND l.id = a.lot_id;
    entry := gw_points_post(e.member_id, 'reverse', -e.points, 0, 0, now_, e.order_id,
                            e.campaign_id, NULL, reason_, actor_, NULL);
    PERFORM gw_points_lock(e.member_id, now_);  -- re-expires what had expired
    PERFORM gw_points_pay_debt(e.member_id);
    RETURN entry;
END $$;

-- Takes back n points an order earned (its refund), for a locked member: from the order's own
-- lots while they last (pending first), then from the balance (soonest expiry first), and the
-- rest as debt (a negative balance, paid first by later earnings).
CREATE FUNCTION gw_points_reverse(
    m text, order_ text, n bigint, now_ timestamptz, reason_ text, actor_ text
) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    lot record;
    left_ bigint := n;
    take bigint;
    balance bigint;
BEGIN
    IF n <= 0 THEN
        RETURN;
    END IF;
    FOR lot IN
        SELECT id, remaining, pending FROM point_lots
        WHERE member_id = m AND order_id = order_ AND remaining > 0 AND source = 'order'
        ORDER BY pending DESC, id
    LOOP
        EXIT WHEN left_ = 0;
        take := least(left_, lot.remaining);
        UPDATE point_lots SET remaining = remaining - take WHERE id = lot.id;
        IF lot.pending THEN
            PERFORM gw_points_post(m, 'reverse', 0, -take, 0, now_, order_, NULL, NULL,
                                   reason_, actor_, lot.id);
        ELSE
            PERFORM gw_points_post(m, 'reverse', -take, 0, 0, now_, order_, NULL, NULL,
                                   reason_, actor_, lot.id);
        END IF;
        left_ := left_ - take;
    END LOOP;
    IF left_ = 0 THEN
        RETURN;
    END IF;
    SELECT points_balance INTO balance FROM members WHERE member_id = m;
    take := least(left_, greatest(balance, 0));
    IF take > 0 THEN
        PERFORM gw_points_debit(m, take, now_, 'reverse', order_, NULL, NULL, reason_, actor_);
        left_ := left_ - take;
    END IF;
    IF left_ > 0 THEN
        PERFORM gw_points_post(m, 'reverse', -left_, 0, left_, now_, order_, NULL, NULL,
                               reason_, actor_, NULL);
    END IF;
END $$;

-- Gives n points of a locked member to another (locked by the caller in member-id order): the
-- giver's lots soonest expiry first; the friend gets one lot per lot taken, with its expiry.
-- Returns the two entries' ids; NULLs when the giver's balance is short.
CREATE FUNCTION gw_points_transfer(
    giver text, friend text, n bigint, now_ timestamptz, actor_ text,
    OUT out_entry bigint, OUT in_entry bigint
) LANGUAGE plpgsql AS $$
DECLARE
    a record;
    debt bigint;
    pay bigint;
    lot bigint;
BEGIN
    out_entry := gw_points_debit(giver, n, now_, 'transfer_out', NULL, NULL, friend, NULL,
                                 actor_);
    IF out_entry IS NULL THEN
        RETURN;
    END IF;
    SELECT points_debt INTO debt FROM members WHERE member_id = friend;
    pay := least(debt, n);
    in_entry := gw_points_post(friend, 'transfer_in', n, 0, -pay, now_, NULL, NULL, giver,
                               NULL, actor_, NULL);
    FOR a IN
        SELECT l.expires_at, al.points FROM point_allocations al
        JOIN point_lots l ON l.id = al.lot_id
        WHERE al.entry_id = out_entry ORDER BY l.expires_at NULLS LAST, l.id
    LOOP
        -- The debt is paid from the first lots given.
        INSERT INTO point_lots (member_id, points, remaining, earned_at, counts_from,
                                expires_at, pending, source)
        VALUES (friend, a.points, a.points - least(pay, a.points), now_, now_, a.expires_at,
                false, 'transfer')
        RETURNING id INTO lot;
        pay := pay - least(pay, a.points);
        INSERT INTO point_allocations (entry_id, lot_id, points) VALUES (in_entry, lot, a.points);
    END LOOP;
END $$;

-- An order's commit, for a registered member (locked here): its points (one lot, pending for
-- the programme's return window), its paid spend on the local day, and the tier it reaches
-- (upgrade only; `tier_upgraded` event). Returns the member's tier after it.
CREATE FUNCTION gw_order_committed(
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

-- The group commit of checkout (was checkout/sql.py's SETTLE statement), now with each
-- order's points and tier spend in the same transaction: every order whose commit arrived in
-- one event-loop tick, reserved -> committed, its coupons reserved -> redeemed (each a
-- conditional UPDATE) with their events, then per order (in member-id order, so batches take
-- member locks in one order) its earning. $1/$3: order ids (distinct) and their actors.
CREATE FUNCTION gw_settle(order_ids text[], now_ms bigint, actors text[], zone text)
RETURNS TABLE (order_id text, member_id text, expires_at timestamptz, result text,
               redeemed bigint)
LANGUAGE plpgsql AS $$
DECLARE
    now_ timestamptz := to_timestamp(now_ms / 1000.0);
    rows_ record;
    done jsonb;
BEGIN
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
    SELECT coalesce(jsonb_agg(jsonb_build_object(
               'order_id', s.order_id, 'member_id', s.member_id, 'expires_at', s.expires_at,
               'result', s.result,
               'redeemed', (SELECT count(*) FROM recorded rc WHERE rc.order_id = s.order_id),
               'actor', (SELECT w.actor FROM wanted w WHERE w.order_id = s.order_id))
               ORDER BY s.member_id, s.order_id), '[]')
    INTO done FROM settled s;
    FOR rows_ IN SELECT * FROM jsonb_array_elements(done) AS x(o) LOOP
        PERFORM gw_order_committed(rows_.o ->> 'member_id', rows_.o ->> 'order_id',
                                   (rows_.o -> 'result' ->> 'points_earned')::bigint,
                                   (rows_.o -> 'result' ->> 'total')::bigint, now_, zone,
                                   rows_.o ->> 'actor');
        order_id := rows_.o ->> 'order_id';
        member_id := rows_.o ->> 'member_id';
        expires_at := (rows_.o ->> 'expires_at')::timestamptz;
        result := (rows_.o -> 'result')::text;
        redeemed := (rows_.o ->> 'redeemed')::bigint;
        RETURN NEXT;
    END LOOP;
END $$;

-- What an order earns by, kept with its redemption at reserve (its tier's points_per_yuan and
-- each line's multiplier), so that a refund takes back exactly what each refunded line earned;
-- and when it committed (its spend's day).
ALTER TABLE redemptions
    ADD COLUMN earning jsonb,
    ADD COLUMN committed_at timestamptz;

-- A refund's points and spend, for the order's member (locked here): `points` taken back
-- (gw_points_reverse), `paid` off the spend of the order's commit day, and the order no longer
-- counted when the whole order is refunded.
CREATE FUNCTION gw_order_refunded(
    m text, order_ text, points_ bigint, paid_ bigint, whole boolean, now_ timestamptz,
    zone text, actor_ text
) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    day_ date;
BEGIN
    IF NOT gw_points_lock(m, now_) THEN
        RETURN;
    END IF;
    PERFORM gw_points_reverse(m, order_, points_, now_, 'refund', actor_);
    SELECT (coalesce(committed_at, now_) AT TIME ZONE zone)::date INTO day_
    FROM redemptions WHERE order_id = order_;
    UPDATE member_spend_days d SET paid = d.paid - least(d.paid, paid_),
                                 orders = d.orders - CASE WHEN whole THEN 1 ELSE 0 END
    WHERE d.member_id = m AND d.day = day_;
END $$;
