-- The durable ledger and source of truth (DESIGN.md).
CREATE TABLE members (
    member_id     text PRIMARY KEY,
    tier          text NOT NULL,
    birthday      text,
    registered_at timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE api_keys (
    key_hash   bytea PRIMARY KEY,
    role       text NOT NULL CHECK (role IN ('admin', 'clerk', 'front', 'checkout')),
    created_at timestamptz NOT NULL DEFAULT now(),
    revoked_at timestamptz
);

CREATE TABLE tiers (
    tier                    text PRIMARY KEY,
    percent_off             integer NOT NULL,
    birthday_percent_off    integer NOT NULL,
    points_per_yuan         integer NOT NULL,
    coupons_on_member_price boolean NOT NULL,
    updated_at              timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE campaigns (
    id                  text PRIMARY KEY,
    name                text NOT NULL,
    kind                text NOT NULL,
    amount_off          bigint,
    percent_off         integer,
    max_discount        bigint,
    min_spend           bigint,
    sku                 text,
    points              bigint,
    scope               jsonb NOT NULL,
    channels            text[] NOT NULL,
    claim_starts_at     timestamptz NOT NULL,
    claim_ends_at       timestamptz NOT NULL,
    validity            jsonb NOT NULL,
    stock_total         bigint NOT NULL,
    per_member_limit    integer NOT NULL,
    transferable        boolean NOT NULL,
    stackable           boolean NOT NULL,
    low_stock_threshold bigint NOT NULL,
    status              text NOT NULL DEFAULT 'draft',
    created_at          timestamptz NOT NULL DEFAULT clock_timestamp(),
    updated_at          timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX campaigns_newest ON campaigns (created_at DESC, id DESC);

CREATE TABLE coupons (
    code             text PRIMARY KEY,
    campaign_id      text NOT NULL REFERENCES campaigns (id),
    member_id        text NOT NULL,
    state            text NOT NULL DEFAULT 'active',
    valid_from       timestamptz NOT NULL,
    valid_until      timestamptz NOT NULL,
    claimed_at       timestamptz NOT NULL,
    channel          text NOT NULL,
    transferable     boolean NOT NULL,
    transferred_from text REFERENCES coupons (code),
    source           text NOT NULL CHECK (source IN ('claim', 'grant', 'transfer')),
    order_id         text,
    updated_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX coupons_member ON coupons (member_id, state);
CREATE INDEX coupons_campaign ON coupons (campaign_id, state);
CREATE INDEX coupons_order ON coupons (order_id) WHERE order_id IS NOT NULL;

-- Append-only history; `dedup_key` makes replayed ledger batches harmless.
CREATE TABLE events (
    id              bigserial PRIMARY KEY,
    at              timestamptz NOT NULL DEFAULT now(),
    kind            text NOT NULL,
    campaign_id     text,
    coupon_code     text,
    member_id       text,
    actor           text,
    order_id        text,
    idempotency_key text,
    detail          jsonb,
    dedup_key       text UNIQUE
);
CREATE INDEX events_campaign ON events (campaign_id, kind);
CREATE INDEX events_coupon ON events (coupon_code);

CREATE FUNCTION events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'events is append-only';
END $$;
CREATE TRIGGER events_append_only BEFORE UPDATE OR DELETE ON events
    FOR EACH STATEMENT EXECUTE FUNCTION events_append_only();

CREATE TABLE redemptions (
    order_id    text PRIMARY KEY,
    member_id   text NOT NULL,
    state       text NOT NULL,
    cart_hash   bytea NOT NULL,
    cart        jsonb NOT NULL,
    result      jsonb NOT NULL,
    refunded    jsonb NOT NULL DEFAULT '[]',
    refunded_discount bigint NOT NULL DEFAULT 0,
    reserved_at timestamptz NOT NULL,
    expires_at  timestamptz NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX redemptions_expiry ON redemptions (expires_at) WHERE state = 'reserved';

CREATE TABLE idempotency (
    scope       text NOT NULL,
    key         text NOT NULL,
    body_hash   bytea NOT NULL,
    status      integer NOT NULL,
    response    bytea NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (scope, key)
);
