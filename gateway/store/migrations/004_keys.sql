-- API keys get a stable id (`gateway keys list` / `gateway keys revoke ID`, and the events' actor
-- `key:<id>` of a key without a name) and an optional name (`--name`: a clerk, a till, a service)
-- that events record as the actor. `revoked_at` is there since 001.
ALTER TABLE api_keys ADD COLUMN id bigint GENERATED ALWAYS AS IDENTITY UNIQUE;
ALTER TABLE api_keys ADD COLUMN name text CHECK (length(name) BETWEEN 1 AND 100);
