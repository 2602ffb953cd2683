"""The programme in Postgres (one row, `version` rising with each PUT) and its process cache."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import asyncpg
import msgspec

from gateway.errors import InvalidRequest
from gateway.programme.multipliers import Rule, compile_rules
from gateway.programme.schemas import DEFAULT, Programme, TierThreshold

UPSERT_PROGRAMME = """
INSERT INTO programme (id, body, version) VALUES (true, $1::text::jsonb, 1)
ON CONFLICT (id) DO UPDATE
SET body = EXCLUDED.body, version = programme.version + 1, updated_at = now()
RETURNING version
"""
GET_PROGRAMME = "SELECT body::text AS body, version FROM programme"
CAMPAIGN_STATUSES = "SELECT id, status FROM campaigns WHERE id = ANY($1::text[])"
INSERT_EVENT = "INSERT INTO events (kind, actor, detail) VALUES ('programme_set', $1, $2)"

TIER_ORDER = ("silver", "gold", "diamond")
THRESHOLD_KINDS = ("single_order", "yearly_spend")

_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder(Programme)


# -- rules msgspec cannot say -----------------------------------------------------------------


def check_rules(programme: Programme) -> None:
    """What the types cannot say: time windows that end after they start, thresholds that rise
    with the tier, spend steps named once. Raises a 400 naming the field."""
    for i, rule in enumerate(programme.points.multipliers):
        starts, ends = rule.when.starts_at, rule.when.ends_at
        if starts is not None and ends is not None and ends <= starts:
            raise InvalidRequest(f"points.multipliers[{i}].when.ends_at: must be after starts_at")
    tiers = programme.tiers
    set_tiers: list[tuple[str, TierThreshold]] = [
        (name, threshold)
        for name, threshold in zip(
            TIER_ORDER, (tiers.silver, tiers.gold, tiers.diamond), strict=True
        )
        if threshold is not None
    ]
    for kind in THRESHOLD_KINDS:
        below: tuple[str, int] | None = None  # the highest lower tier that sets this kind
        for name, threshold in set_tiers:
            value: int | None = getattr(threshold, kind)
            if value is None:
                continue
            if below is not None and value <= below[1]:
                raise InvalidRequest(
                    f"tiers.{name}.{kind}: must be above tiers.{below[0]}.{kind} ({below[1]})"
                )
            below = (name, value)
    seen: dict[tuple[str, int], int] = {}
    for i, step in enumerate(programme.rewards.spend_steps):
        key = (step.period, step.min_paid)
        if key in seen:
            raise InvalidRequest(
                f"rewards.spend_steps[{i}]: same period and min_paid as spend_steps[{seen[key]}]"
            )
        seen[key] = i


def campaign_fields(programme: Programme) -> Iterator[tuple[str, str]]:
    """(field path, campaign id) of every campaign the rewards name."""
    rewards = programme.rewards
    grants = (
        ("welcome", rewards.welcome.campaign_id),
        ("first_order", rewards.first_order.campaign_id),
        ("referral.inviter", rewards.referral.inviter.campaign_id),
        ("referral.invitee", rewards.referral.invitee.campaign_id),
    )
    for path, campaign_id in grants:
        if campaign_id is not None:
            yield f"rewards.{path}.campaign_id", campaign_id
    if rewards.transfer.first_order_campaign_id is not None:
        yield "rewards.transfer.first_order_campaign_id", rewards.transfer.first_order_campaign_id
    for i, step in enumerate(rewards.spend_steps):
        yield f"rewards.spend_steps[{i}].campaign_id", step.campaign_id
    if rewards.birthday.campaign_id is not None:
        yield "rewards.birthday.campaign_id", rewards.birthday.campaign_id
    if rewards.win_back.campaign_id is not None:
        yield "rewards.win_back.campaign_id", rewards.win_back.campaign_id


async def _check_campaigns(conn: asyncpg.Connection, programme: Programme) -> None:
    fields = list(campaign_fields(programme))
    if not fields:
        return
    rows = await conn.fetch(CAMPAIGN_STATUSES, sorted({cid for _, cid in fields}))
    statuses = {row["id"]: row["status"] for row in rows}
    for path, campaign_id in fields:
        status = statuses.get(campaign_id)
        if status is None:
            raise InvalidRequest(f"{path}: campaign {campaign_id!r} does not exist")
        if status != "live":
            raise InvalidRequest(f"{path}: campaign {campaign_id!r} is {status}, not live")


# -- the process cache ------------------------------------------------------------------------


class Current(msgspec.Struct, frozen=True, kw_only=True):
    """A programme as this process holds it: the document, its version (0: never set, the
    defaults) and its multiplier rules compiled for pricing."""

    programme: Programme
    version: int
    rules: tuple[Rule, ...]


def current_of(programme: Programme, version: int) -> Current:
    return Current(
        programme=programme, version=version, rules=compile_rules(programme.points.multipliers)
    )


class ProgrammeCache:
    """The programme of this process, reloaded only when a newer version has been seen.

    Pricing reads the programme's version in the statement it already runs per tick
    (`checkout/sql.py` PRICING_INPUTS) and reports it with `seen_version`; `get` then costs a
    query only when that version is newer than the one held. A PUT in this process installs its
    programme at once (`install`). Versions only rise, so an older answer never replaces a newer
    one, whichever finishes first. Plain attributes, no lock: two concurrent reloads of the
    same version are harmless, and the cache is shared by apps on other threads' loops (tests).
    """

    def __init__(self) -> None:
        self._current: Current | None = None
        self._seen = 0

    def seen_version(self, version: int) -> None:
        """`version` was read elsewhere: the next `get` reloads if it is newer than ours."""
        if version > self._seen:
            self._seen = version

    def install(self, programme: Programme, version: int) -> Current:
        current = self._current
        if current is None or version >= current.version:
            current = self._current = current_of(programme, version)
        self.seen_version(version)
        return current

    async def get(self, conn: asyncpg.Pool | asyncpg.Connection) -> Current:
        """The programme, as fresh as the newest version seen (no query when it is held)."""
        current = self._current
        if current is not None and current.version >= self._seen:
            return current
        programme, version = await load(conn)
        return self.install(programme, version)

    def clear(self) -> None:
        """Forget the programme (tests that rewrite the table behind the API's back)."""
        self._current = None
        self._seen = 0


#: One per process: the checkout's pricing inputs read it, `PUT /v1/programme` refreshes it.
cache = ProgrammeCache()


# -- reads and writes -------------------------------------------------------------------------


async def load(conn: asyncpg.Pool | asyncpg.Connection) -> tuple[Programme, int]:
    """The stored programme and its version; the defaults and 0 when none was ever set."""
    row = await conn.fetchrow(GET_PROGRAMME)
    if row is None:
        return DEFAULT, 0
    return _decoder.decode(row["body"]), row["version"]


async def get_programme(pool: asyncpg.Pool) -> Programme:
    """The stored programme, read from Postgres (another worker may have set it a moment
    ago); the cache takes it too."""
    programme, version = await load(pool)
    return cache.install(programme, version).programme


async def put_programme(pool: asyncpg.Pool, programme: Programme, actor: str) -> Programme:
    """Validates and stores the whole programme (its version rises), with a `programme_set`
    event; this process's cache holds it at once, other workers reload it at their next
    pricing batch."""
    check_rules(programme)
    body: dict[str, Any] = msgspec.to_builtins(programme)
    async with pool.acquire() as conn, conn.transaction():
        await _check_campaigns(conn, programme)
        version = await conn.fetchval(UPSERT_PROGRAMME, _encoder.encode(programme).decode())
        await conn.execute(INSERT_EVENT, actor, {"version": version, "programme": body})
    cache.install(programme, version)
    return programme
