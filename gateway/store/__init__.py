"""Redis (hot state, Lua scripts) and Postgres (durable ledger) access."""
