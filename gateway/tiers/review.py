"""The tier review (保级): at each anniversary of a member's `tier_since`, a member whose paid
spend of the 365 days before it is below the tier's `yearly_spend` moves down (API.md "The
programme", `tiers.downgrade`).

The rules are one PL/pgSQL function, `gw_tier_review` (store/migrations/010_tier_review.sql):
anniversaries are calendar years in GATEWAY_TIME_ZONE, at local midnight (a tier held since
02-29 is reviewed on 02-28 in the years without one); a kept tier is reviewed again at the next
anniversary; a downgrade makes the anniversary the new `tier_since` and writes a
`tier_downgraded` event. Each batch is one statement in its own transaction that locks its
members with FOR UPDATE SKIP LOCKED, so workers running the review at once share the due
members and none is reviewed twice for one anniversary; a rerun finds nothing due. Candidates
are read in the order of the last anniversary passed, from its index (migration 018), so a
batch starts where the due members are and never visits again those reviewed before it: the
review's cost grows with the members due, not with members times batches.
"""

from __future__ import annotations

import asyncpg

from gateway.settings import get_settings
from gateway.wire import Out

#: The actor of `tier_downgraded` events written by the scheduled review.
REVIEW_ACTOR = "tier_review"

REVIEW_BATCH = """
SELECT reviewed_member, from_tier, to_tier, spend, anniversary
FROM gw_tier_review(to_timestamp($1 / 1000.0), $2, $3, $4)
"""


class ReviewReport(Out):
    """What one run of the review did: members reviewed, of which kept their tier and
    moved down."""

    reviewed: int
    kept: int
    downgraded: int


async def review_due(
    pool: asyncpg.Pool, now_ms: int, *, batch: int = 1000, actor: str = REVIEW_ACTOR
) -> ReviewReport:
    """Reviews every member whose anniversary has come by `now_ms`, `batch` at a time, until
    none is left that another worker is not already reviewing. A member with several
    anniversaries past (the review did not run for over a year) is reviewed at each in turn."""
    zone = get_settings().time_zone
    kept = downgraded = 0
    while True:
        rows = await pool.fetch(REVIEW_BATCH, now_ms, zone, batch, actor)
        if not rows:
            break
        for row in rows:
            if row["to_tier"] == row["from_tier"]:
                kept += 1
            else:
                downgraded += 1
    return ReviewReport(reviewed=kept + downgraded, kept=kept, downgraded=downgraded)
