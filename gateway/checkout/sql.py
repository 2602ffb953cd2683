"""Checkout's SQL, one named constant per statement (parameters as `$n`, never formatted in).

Every move of a coupon is one conditional UPDATE (`... WHERE state = 'active'`, taking row locks
in code order so two orders never deadlock) whose events rows are written by the same statement.
"""

# The pricing inputs of every cart priced in one event-loop tick, in one round trip: a row per
# member found (its tier policy, NULL without one) and a row per coupon found (its mutable state
# and who holds it). What a campaign's coupons do is read once per process (CAMPAIGN_TERMS).
# `key` is the member's id or the coupon's code; a half's other columns are NULL.
# Every row also carries the programme's version (0: never set), so that a worker notices a
# new programme without a round trip of its own (programme/services.py, ProgrammeCache).
PRICING_INPUTS = """
SELECT true AS is_member, m.member_id AS key, m.birthday, NULL::text AS holder,
       NULL::text AS state, NULL::text AS campaign_id, NULL::bigint AS valid_from,
       NULL::bigint AS valid_until, t.percent_off, t.birthday_percent_off, t.points_per_yuan,
       t.coupons_on_member_price,
       coalesce((SELECT version FROM programme), 0) AS programme_version
FROM members m LEFT JOIN tiers t ON t.tier = m.tier
WHERE m.member_id = ANY($1::text[])
UNION ALL
SELECT false, k.code, NULL, k.member_id, k.state, k.campaign_id,
       floor(extract(epoch FROM k.valid_from))::bigint,
       floor(extract(epoch FROM k.valid_until))::bigint,
       NULL, NULL, NULL, NULL, coalesce((SELECT version FROM programme), 0)
FROM coupons k
WHERE k.code = ANY($2::text[])
"""
# A campaign's pricing terms never change once it exists (PATCH edits only its name, claim
# window end, validity of future claims and low-stock threshold), so a process may keep them.
CAMPAIGN_TERMS = """
SELECT id, kind, amount_off, percent_off, max_discount, min_spend, sku, points, scope, channels,
       stackable
FROM campaigns WHERE id = ANY($1::text[])
"""
COUPON_STATES = "SELECT code, state FROM coupons WHERE code = ANY($1::text[])"

GET_REDEMPTION = "SELECT * FROM redemptions WHERE order_id = $1"
LOCK_REDEMPTION = "SELECT * FROM redemptions WHERE order_id = $1 FOR UPDATE"
SET_STATE = """
UPDATE redemptions SET state = $2, updated_at = now() WHERE order_id = $1 RETURNING *
"""
SET_REFUNDED = """
UPDATE redemptions
SET refunded = $2, refunded_discount = refunded_discount + $3, state = $4, updated_at = now()
WHERE order_id = $1 RETURNING *
"""
EXPIRE_ORDERS = """
UPDATE redemptions SET state = 'expired', updated_at = now()
WHERE order_id = ANY($1::text[]) AND state = 'reserved' AND expires_at <= to_timestamp($2 / 1000.0)
RETURNING order_id
"""
EXPIRE_DUE = """
UPDATE redemptions SET state = 'expired', updated_at = now()
WHERE order_id IN (
    SELECT order_id FROM redemptions
    WHERE state = 'reserved' AND expires_at <= to_timestamp($1 / 1000.0)
    ORDER BY expires_at LIMIT $2 FOR UPDATE SKIP LOCKED
) AND state = 'reserved'
RETURNING order_id
"""

# A reservation in one statement (one round trip, its own transaction): lock the order's codes
# that are still `active` and its member's, in code order; only when that is every code, create
# the order (unless it exists: the unique order_id serialises requests about one order), move
# the coupons active -> reserved (each a conditional UPDATE) and write their events. No row back:
# nothing changed, because a code was lost to another order or the order already exists.
# Cart and quote go in as JSON text encoded by msgspec and do not come back: the caller has them.
# $10: what the order earns points by (`earning`: points_per_yuan, each line's multiplier).
RESERVE = """
WITH target AS (
    SELECT code FROM coupons
    WHERE code = ANY($1::text[]) AND member_id = $2 AND state = 'active'
    ORDER BY code FOR UPDATE
), placed AS (
    INSERT INTO redemptions (order_id, member_id, state, cart_hash, cart, result, reserved_at,
                             expires_at, earning)
    SELECT $3, $2, 'reserved', $6, $7::text::jsonb, $8::text::jsonb, to_timestamp($4 / 1000.0),
           to_timestamp($9 / 1000.0), $10::text::jsonb
    WHERE (SELECT count(*) FROM target) = cardinality($1::text[])
    ON CONFLICT (order_id) DO NOTHING
    RETURNING *
), moved AS (
    UPDATE coupons k SET state = 'reserved', order_id = $3, updated_at = now()
    FROM target, placed WHERE k.code = target.code AND k.state = 'active'
    RETURNING k.code, k.campaign_id, k.member_id
), recorded AS (
    INSERT INTO events (kind, at, campaign_id, coupon_code, member_id, actor, order_id)
    SELECT 'reserve', to_timestamp($4 / 1000.0), campaign_id, code, member_id, $5, $3 FROM moved
    RETURNING 1
)
SELECT placed.expires_at, (SELECT count(*) FROM recorded) AS reserved FROM placed
"""
# reserved -> redeemed, for one order.
REDEEM = """
WITH target AS (
    SELECT code FROM coupons WHERE order_id = $1 AND state = 'reserved' ORDER BY code FOR UPDATE
), moved AS (
    UPDATE coupons k SET state = 'redeemed', updated_at = now()
    FROM target WHERE k.code = target.code AND k.state = 'reserved'
    RETURNING k.code, k.campaign_id, k.member_id
)
INSERT INTO events (kind, at, campaign_id, coupon_code, member_id, actor, order_id)
SELECT 'redeem', to_timestamp($2 / 1000.0), campaign_id, code, member_id, $3, $1 FROM moved
RETURNING coupon_code
"""
# The common commit, of every order committed in the same event-loop tick, in one statement
# (group commit: one transaction, one WAL flush): each order reserved -> committed, its coupons
# reserved -> redeemed (each a conditional UPDATE), their events, and each order's points and
# tier spend (`gw_settle`, 009_points.sql, where the statement lives beside the points ledger
# it calls). Orders are locked in order_id order, coupons in code order and members in
# member_id order, as everywhere, so batches never deadlock. An order that is not reserved, or
# timed out, gives no row. $1/$3: order ids (distinct) and their actors; $4: the time zone.
SETTLE = "SELECT * FROM gw_settle($1::text[], $2::bigint, $3::text[], $4::text)"
# The commit of one order outside the group commit (under its row lock): its points and spend.
ORDER_COMMITTED = """
SELECT gw_order_committed($1, $2, $3, $4, to_timestamp($5 / 1000.0), $6, $7)
"""
SET_COMMITTED = """
UPDATE redemptions SET state = 'committed', committed_at = to_timestamp($2 / 1000.0),
    updated_at = now()
WHERE order_id = $1 RETURNING *
"""
# A refund's points taken back and its paid amount off the order's day of spend.
ORDER_REFUNDED = """
SELECT gw_order_refunded($1, $2, $3, $4, $5, to_timestamp($6 / 1000.0), $7, $8)
"""
# A coupon an order lets go of is `active` again, or `expired` once past its validity ($2: now
# in ms). One definition for RELEASE and GIVE_BACK: a constant fragment, no value formatted in.
LET_GO = """
    SET state = CASE WHEN k.valid_until > to_timestamp($2 / 1000.0) THEN 'active'
                     ELSE 'expired' END,
        order_id = NULL, updated_at = now()
"""
# reserved -> active (release) or, past its validity, expired; for cancels and time-outs.
RELEASE = (
    """
WITH target AS (
    SELECT code, order_id FROM coupons
    WHERE order_id = ANY($1::text[]) AND state = 'reserved' ORDER BY code FOR UPDATE
), moved AS (
    UPDATE coupons k"""  # noqa: S608 - LET_GO is a constant: no value is formatted in
    + LET_GO
    + """    FROM target WHERE k.code = target.code AND k.state = 'reserved'
    RETURNING k.code, k.campaign_id, k.member_id, k.state, target.order_id
)
INSERT INTO events (kind, at, campaign_id, coupon_code, member_id, actor, order_id, detail)
SELECT CASE WHEN state = 'active' THEN 'release' ELSE 'expire' END, to_timestamp($2 / 1000.0),
       campaign_id, code, member_id, $4, order_id, jsonb_build_object('reason', $3::text)
FROM moved
RETURNING coupon_code
"""
)
# redeemed -> active (or expired, past validity) when the whole order is refunded.
GIVE_BACK = (
    """
WITH target AS (
    SELECT code FROM coupons WHERE order_id = $1 AND state = 'redeemed' ORDER BY code FOR UPDATE
), moved AS (
    UPDATE coupons k"""  # noqa: S608 - LET_GO is a constant: no value is formatted in
    + LET_GO
    + """    FROM target WHERE k.code = target.code AND k.state = 'redeemed'
    RETURNING k.code, k.campaign_id, k.member_id, k.state
)
INSERT INTO events (kind, at, campaign_id, coupon_code, member_id, actor, order_id, detail)
SELECT 'refund', to_timestamp($2 / 1000.0), campaign_id, code, member_id, $3, $1,
       jsonb_build_object('state', state)
FROM moved
RETURNING coupon_code
"""
)
ORDER_EVENT = """
INSERT INTO events (kind, at, member_id, actor, order_id, detail)
VALUES ($1, to_timestamp($2 / 1000.0), $3, $4, $5, $6)
"""
