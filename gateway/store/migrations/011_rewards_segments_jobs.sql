-- Issue 14: rewards that run themselves, saved segments, grant jobs (DESIGN.md "The membership
-- programme": rewards are effects of events, through an outbox).

-- The outbox: a trigger (a registration, an order's commit, a scheduled scan for birthdays and
-- win-backs) writes one row per reward it makes due, in its own transaction, keyed by
-- (member, occasion) so that a replay, a retry or a second worker changes nothing. A worker
-- turns due rows into point entries and grants (gateway/rewards/), then marks them done.
-- `occasion` names the reward and its instance: 'welcome', 'first_order',
-- 'referral:invitee', 'referral:inviter:<invitee>', 'transfer:giver:<code>',
-- 'transfer:first_order:<order>', 'spend_step:order:<order>',
-- 'spend_step:month:<YYYY-MM>:<min_paid>', 'birthday:<YYYY>', 'win_back:<last order day>'.
CREATE TABLE reward_due (
    id           bigserial PRIMARY KEY,
    member_id    text NOT NULL REFERENCES members (member_id),
    occasion     text NOT NULL,
    kind         text NOT NULL CHECK (kind IN ('welcome', 'first_order', 'referral', 'transfer',
                     'spend_steps', 'birthday', 'win_back')),
    campaign_id  text,
    points       bigint NOT NULL DEFAULT 0 CHECK (points >= 0),
    order_id     text,
    counterparty text,
    due_at       timestamptz NOT NULL,
    state        text NOT NULL DEFAULT 'due' CHECK (state IN ('due', 'done')),
    attempts     integer NOT NULL DEFAULT 0,
    UNIQUE (member_id, occasion)
);
CREATE INDEX reward_due_pending ON reward_due (due_at) WHERE state = 'due';

-- What each due reward gave: its points (an entry of kind 'reward') and its coupon, or the
-- reason the coupon was refused (sold_out, limit_reached, not_live, ...). One row per due row.
CREATE TABLE rewards (
    id             bigserial PRIMARY KEY,
    due_id         bigint NOT NULL UNIQUE REFERENCES reward_due (id),
    member_id      text NOT NULL REFERENCES members (member_id),
    kind           text NOT NULL,
    occasion       text NOT NULL,
    at             timestamptz NOT NULL,
    points         bigint NOT NULL DEFAULT 0,
    point_entry_id bigint REFERENCES point_entries (id),
    campaign_id    text,
    coupon_code    text REFERENCES coupons (code),
    refused        text,
    order_id       text,
    counterparty   text
);
CREATE INDEX rewards_member ON rewards (member_id, id DESC);
CREATE INDEX rewards_kind_at ON rewards (kind, at);

-- Saved segments: a filter over the members' RFM measures (API.md "Segments").
CREATE TABLE segments (
    id         text PRIMARY KEY,
    name       text NOT NULL,
    filter     jsonb NOT NULL,
    actor      text,
    created_at timestamptz NOT NULL
);

-- Jobs (a grant to a segment): the members are listed when the job is made, each with its own
-- outcome, so a job resumes after a crash where it stopped and never grants a member twice
-- (each grant carries the idempotency key 'job:<job id>:<member id>').
CREATE TABLE jobs (
    id          text PRIMARY KEY,
    kind        text NOT NULL,
    campaign_id text REFERENCES campaigns (id),
    segment_id  text REFERENCES segments (id),
    channel     text,
    state       text NOT NULL CHECK (state IN ('running', 'done', 'failed')),
    total       integer NOT NULL DEFAULT 0,
    done        integer NOT NULL DEFAULT 0,
    granted     integer NOT NULL DEFAULT 0,
    rejected    jsonb NOT NULL DEFAULT '{}',
    error       text,
    actor       text,
    lease_owner text,
    lease_until timestamptz,
    started_at  timestamptz NOT NULL,
    finished_at timestamptz
);
CREATE INDEX jobs_running ON jobs (lease_until) WHERE state = 'running';

CREATE TABLE job_members (
    job_id      text NOT NULL REFERENCES jobs (id),
    member_id   text NOT NULL,
    state       text NOT NULL DEFAULT 'due' CHECK (state IN ('due', 'granted', 'rejected')),
    reason      text,
    coupon_code text,
    PRIMARY KEY (job_id, member_id)
);
CREATE INDEX job_members_due ON job_members (job_id, member_id) WHERE state = 'due';

-- Reports and segments read orders by their commit time.
CREATE INDEX redemptions_committed ON redemptions (committed_at)
    WHERE committed_at IS NOT NULL;
CREATE INDEX members_registered ON members (registered_at);
