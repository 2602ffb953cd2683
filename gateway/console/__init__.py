"""The back office (/console): its shell page, and the small API routes it needs that the API
did not have (who a key is; a campaign's live counters from Redis alone; its funnel)."""
