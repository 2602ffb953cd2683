-- The fence a rebuild of a campaign's Redis counters waits at (gateway/store/fence.py).
-- Every gateway worker reports, twice a second, the campaigns whose claims it holds between
-- Redis and Postgres, and the newest fence it had seen before taking that snapshot. A rebuild
-- raises a fence and waits until every live worker has reported a later snapshot without the
-- campaign in it: then every coupon any worker promised is in the ledger it counts.
CREATE TABLE ledger_workers (
    worker_id  text PRIMARY KEY,
    seen_at    timestamptz NOT NULL DEFAULT now(),
    fence_seen bigint NOT NULL DEFAULT 0,
    inflight   text[] NOT NULL DEFAULT '{}'
);

CREATE TABLE ledger_fences (
    seq         bigserial PRIMARY KEY,
    campaign_id text NOT NULL,
    raised_at   timestamptz NOT NULL DEFAULT now()
);
