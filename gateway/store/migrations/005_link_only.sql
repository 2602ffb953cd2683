-- Campaigns claimed through their signed link only (API v1.1, "Flash-sale protection"). Fixed at
-- creation; the hot state carries it too, so the claim path never asks Postgres.
ALTER TABLE campaigns ADD COLUMN IF NOT EXISTS link_only boolean NOT NULL DEFAULT false;
