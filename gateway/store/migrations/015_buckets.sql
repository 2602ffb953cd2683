-- Hot-stock buckets (issue 15, API.md v1.1 "Hot campaigns on Redis Cluster"): a campaign's
-- stock may be split over K buckets of the Redis Cluster, each with its own hash tag. Set at
-- creation; 1 (the default) is the single-slot layout of before.
ALTER TABLE campaigns
    ADD COLUMN buckets smallint NOT NULL DEFAULT 1 CHECK (buckets BETWEEN 1 AND 64);
