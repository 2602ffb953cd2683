-- Checkout redemptions and transfers (issue 5).

-- The transfer path walks `transferred_from` both ways.
CREATE INDEX coupons_transferred_from ON coupons (transferred_from)
    WHERE transferred_from IS NOT NULL;

-- An order's history (reserve, release, redeem, refund) is read by order id.
CREATE INDEX events_order ON events (order_id) WHERE order_id IS NOT NULL;

-- Idempotency keys are forgotten after GATEWAY_IDEMPOTENCY_TTL_S by the sweeper.
CREATE INDEX idempotency_age ON idempotency (created_at);

-- A redemption's row states: reserved -> committed | cancelled | expired; committed -> refunded;
-- expired -> cancelled (a late cancel is harmless: the coupons were released already).
ALTER TABLE redemptions
    ADD CONSTRAINT redemptions_state
    CHECK (state IN ('reserved', 'committed', 'cancelled', 'expired', 'refunded'));
