-- The membership programme (v1.1, issue 13): its rules, and the members' new fields.
-- Forward-only: existing members keep their tier, which they hold since they registered.

-- The programme is one row (`PUT /v1/programme` replaces it whole). `version` rises with each
-- PUT so that a worker keeps the rules in memory and reloads them when the version it reads
-- beside the pricing inputs moves. No row: the defaults of API.md ("Until it is set").
CREATE TABLE programme (
    id         boolean PRIMARY KEY DEFAULT true CHECK (id),
    body       jsonb NOT NULL,
    version    bigint NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);

-- points_balance = sum(remaining of counting lots) - points_debt; points_pending = sum(remaining
-- of pending lots). Kept under the member's row lock by every points move (009_points.sql);
-- a test recomputes both from point_entries and from point_lots.
ALTER TABLE members
    ADD COLUMN referred_by    text REFERENCES members (member_id),
    ADD COLUMN tier_since     timestamptz,
    ADD COLUMN points_balance bigint NOT NULL DEFAULT 0,
    ADD COLUMN points_pending bigint NOT NULL DEFAULT 0 CHECK (points_pending >= 0),
    ADD COLUMN points_debt    bigint NOT NULL DEFAULT 0 CHECK (points_debt >= 0);
UPDATE members SET tier_since = registered_at;
ALTER TABLE members
    ALTER COLUMN tier_since SET NOT NULL,
    ALTER COLUMN tier_since SET DEFAULT now();
CREATE INDEX members_referred_by ON members (referred_by) WHERE referred_by IS NOT NULL;
-- The tier review visits members whose anniversary of tier_since has come.
CREATE INDEX members_tier_since ON members (tier_since) WHERE tier <> 'standard';

-- A member's paid spend per local day (GATEWAY_TIME_ZONE): "the last 365 days" is a sum of at
-- most 366 rows. Written by the commit of an order, lowered by its refunds.
CREATE TABLE member_spend_days (
    member_id text NOT NULL REFERENCES members (member_id),
    day       date NOT NULL,
    paid      bigint NOT NULL,
    orders    integer NOT NULL,
    PRIMARY KEY (member_id, day)
);
