"""The member's pages' reads and writes, through the services the API uses.

The claim page is the hot path's front door: its HTML depends only on the campaign and the
language (the member and link tokens are read by its script from the URL), so it is rendered at
most once per `PAGE_TTL_S` per campaign and language in each worker; its live stock is one
HMGET of the campaign's meta hash; its claim runs the API claim's checks and `ClaimService`.
"""

from __future__ import annotations

import io
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any, Literal

import segno
from litestar.datastructures import State

from gateway.campaigns.controllers import check_campaign_id
from gateway.campaigns.schemas import Campaign
from gateway.campaigns.services import CampaignService
from gateway.claims.controllers import check_gates
from gateway.claims.services import ClaimService
from gateway.clock import clock
from gateway.errors import CampaignNotFound, ExchangeOnly, InvalidRequest, Unauthorized
from gateway.members.services import token_member
from gateway.points.exchanges import ExchangeService
from gateway.points.schemas import ExchangeRequest
from gateway.store import redis as keys
from gateway.store.buckets import totals
from gateway.transfers.schemas import TransferRequest
from gateway.transfers.services import TransferService
from gateway.wire import Id, Struct, decode, encoder

#: The claim page's claim, served by a hot lane (`ops/lanes.py`) like the API's claim.
PAGE_CLAIM_ROUTE = "/claim/{campaign_id:str}"
#: Seconds a rendered claim page (and the campaign it shows) is reused by a worker.
PAGE_TTL_S = 2.0
_CACHE_MAX = 2048

PageState = Literal["open", "not_live", "not_started", "ended", "sold_out"]


class PageClaim(Struct):
    """The claim page's claim: `request_id` is its idempotency key (a double tap, one coupon)."""

    member_token: str
    request_id: str
    token: str | None = None


class PageTransfer(Struct):
    """The wallet's transfer of one of the member's coupons to a friend."""

    member_token: str
    code: str
    to_member_id: Id
    request_id: str


class Ttl:
    """Values kept for `PAGE_TTL_S` seconds (per worker), at most `_CACHE_MAX` of them."""

    def __init__(self, ttl_s: float = PAGE_TTL_S) -> None:
        self.ttl_s = ttl_s
        self._items: dict[Any, tuple[float, Any]] = {}

    async def get(self, key: Any, load: Callable[[], Awaitable[Any]]) -> Any:
        now = clock.now_ms() / 1000  # the gateway's clock: tests move it instead of waiting
        hit = self._items.get(key)
        if hit is not None and hit[0] > now:
            return hit[1]
        value = await load()
        if len(self._items) >= _CACHE_MAX:
            self._items = {k: v for k, v in self._items.items() if v[0] > now}
            if len(self._items) >= _CACHE_MAX:
                self._items.clear()
        self._items[key] = (now + self.ttl_s, value)
        return value


campaigns_cache = Ttl()
pages_cache = Ttl()


async def page_campaign(state: State, campaign_id: str) -> Campaign:
    """The campaign as the API's `GET /v1/campaigns/{id}` shows it, reused for `PAGE_TTL_S`."""
    campaign_id = check_campaign_id(campaign_id)
    service: CampaignService = state.campaigns

    async def load() -> Campaign | None:
        try:
            return await service.get(campaign_id)
        except CampaignNotFound:
            return None  # remembered too: links to a made-up id cost Postgres once per TTL

    campaign: Campaign | None = await campaigns_cache.get(campaign_id, load)
    if campaign is None:
        raise not_found(campaign_id)
    return campaign


def page_state(campaign: Campaign, now_ms: int, remaining: int) -> PageState:
    """What the page offers right now, in the order the claim script checks."""
    if campaign.status == "closed":
        return "ended"
    if campaign.status != "live":
        return "not_live"
    if now_ms >= ms_of(campaign.claim_ends_at):
        return "ended"
    if now_ms < ms_of(campaign.claim_starts_at):
        return "not_started"
    if remaining <= 0:
        return "sold_out"
    return "open"


def ms_of(rfc3339: str) -> int:
    """An RFC 3339 time in ms since the epoch."""
    return int(datetime.fromisoformat(rfc3339).timestamp() * 1000)


async def live_stock(state: State, campaign_id: str) -> dict[str, Any]:
    """The campaign's remaining stock and status from its Redis hash: one HMGET, never
    Postgres. A campaign without hot state (a draft, an unknown id) has `remaining` null."""
    campaign_id = check_campaign_id(campaign_id)
    remaining, status, buckets = await state.redis.hmget(
        keys.meta_key(campaign_id), "remaining", "status", "buckets"
    )
    if buckets is not None and int(buckets) > 1:  # hot-stock buckets: the campaign's total
        remaining = (await totals(state.redis, campaign_id, int(buckets)))[1]
    return {
        "remaining": int(remaining) if remaining is not None else None,
        "status": status.decode() if isinstance(status, bytes) else None,
        "now": clock.now_ms(),
    }


def member_of(state: State, member_token: str | None) -> str:
    """The member a token names; 401 `unauthorized` for a missing, forged or expired one."""
    member_id = token_member(state.settings.member_token_secret, member_token, clock.now_ms())
    if member_id is None:
        raise Unauthorized("the member token is missing, not valid or expired: open the page again")
    return member_id


def _request_id(value: str) -> str:
    if not (1 <= len(value) <= 64 and value.isascii() and value.isprintable()):
        raise InvalidRequest("request_id: must be 1..64 printable ASCII characters")
    return value


async def page_claim(state: State, scope: Any, body: bytes, campaign_id: str) -> tuple[int, bytes]:
    """The claim page's claim: the API claim's semantics and refusals (`claims.controllers.
    claim_lane`), the member named by a member token, `request_id` as the idempotency key,
    rate limited per client address and per member. A campaign with a points price is
    exchanged instead (积分兑换, `ExchangeService`: the API exchange's semantics and refusals,
    `insufficient_points` among them), with the same key and limits."""
    data = decode(body, PageClaim)
    campaign_id = check_campaign_id(campaign_id)
    request_id = _request_id(data.request_id)
    # Per address first: a flood of forged tokens from one address is stopped before any work.
    state.claim_limits.check_address(scope, request_id)
    member_id = member_of(state, data.member_token)
    try:
        await check_gates(state, campaign_id, data.token)
        exchange = False
    except ExchangeOnly:  # raised after the link checks passed: this page exchanges instead
        exchange = True
    # One member's request ids never meet another's, nor an API caller's Idempotency-Key.
    idem = f"page:{member_id}:{request_id}"
    state.claim_limits.check_member(campaign_id, member_id, idem)
    # The body the idempotency check hashes: what this claim is, whatever the JSON's spacing.
    claim_body = encoder.encode(
        {"member_id": member_id, "channel": "online", "token": data.token, "page": request_id}
    )
    if exchange:
        exchanges: ExchangeService = state.exchanges
        request = ExchangeRequest(member_id=member_id, channel="online")
        actor = f"member:{member_id}"
        return 201, await exchanges.exchange(campaign_id, request, actor, idem, claim_body)
    service: ClaimService = state.claims
    coupon = await service.claim(campaign_id, member_id, "online", idem, claim_body)
    return 201, encoder.encode(coupon)


async def page_transfer(state: State, scope: Any, body: bytes) -> tuple[int, bytes]:
    """The wallet's transfer: `TransferService.transfer` for the member a token names, with
    its refusals; `request_id` is the idempotency key."""
    data = decode(body, PageTransfer)
    request_id = _request_id(data.request_id)
    state.claim_limits.check_address(scope, request_id)
    member_id = member_of(state, data.member_token)
    service: TransferService = state.transfers
    return await service.transfer(
        data.code,
        TransferRequest(from_member_id=member_id, to_member_id=data.to_member_id),
        f"member:{member_id}",
        f"page:{member_id}:{request_id}",
    )


def qr_svg(text: str, scale: int = 4) -> bytes:
    """The QR code of `text` as SVG (segno, server-side: no script draws it)."""
    out = io.BytesIO()
    segno.make(text, error="m").save(out, kind="svg", scale=scale, border=2)
    return out.getvalue()


def qr_data_uri(text: str, scale: int = 4) -> str:
    """The same QR code as a `data:` URI, for an `<img>` inside a page (the CSP allows it)."""
    return str(segno.make(text, error="m").svg_data_uri(scale=scale, border=2))


def not_found(campaign_id: str) -> CampaignNotFound:
    return CampaignNotFound(f"campaign {campaign_id[:70]!r} does not exist")
