"""Wire types of the console's API routes."""

from __future__ import annotations

from gateway.wire import Out


class WhoAmI(Out):
    """The caller's key: its role, and its name (`--name`, or `key:<id>` without one)."""

    role: str
    name: str


class Live(Out):
    """A campaign's live counters, read from its hot state in Redis (one round trip).

    `claimed` is `stock_total - remaining`; a client that samples it every second has the
    claims per second. `refusals` counts the claim script's refusals by reason since the
    campaign was published (`sold_out`, `limit_reached`, `not_live`, ...)."""

    campaign_id: str
    status: str
    stock_total: int
    remaining: int
    claimed: int
    refusals: dict[str, int]
    #: When the counters were read (the gateway's clock), so that rates need no client clock.
    at: str


class Funnel(Out):
    """A campaign's conversion funnel (转化漏斗), read from the ledger: coupons `claimed`
    (claims and grants), the orders that `reserved` one of them, the orders `committed` with
    one, and `conversion_rate` = committed / reserved (the campaign stats' conversion_rate;
    null while no order reserved one)."""

    campaign_id: str
    claimed: int
    reserved: int
    committed: int
    conversion_rate: float | None
