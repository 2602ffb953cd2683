"""The member's pages: the claim page (`/claim/{id}`) and the wallet (`/wallet`).

No API key: a claim link or its QR code opens the claim page, and the member is named by a
member token (`&m=`, from `POST /v1/members/{id}/tokens`). Templates get their data from the
services the API uses (`pages/services.py`); every string is escaped by Jinja.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from typing import Any
from urllib.parse import quote, urlencode

from litestar import Controller, MediaType, Request, Response, get, post
from litestar.datastructures import State
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import FromPath, FromQuery, JSONBody
from litestar.response import Redirect

from gateway.clock import clock
from gateway.coupons.schemas import Coupon
from gateway.coupons.services import member_coupons, parse_code
from gateway.errors import GatewayError, MemberNotFound
from gateway.http import ErrorBody, json_response
from gateway.i18n import Language, language, messages
from gateway.members.services import get_member, issue_token, token_member
from gateway.pages import offers
from gateway.pages.card import HISTORY_SHOWN, card
from gateway.pages.security import PAGE_HEADERS
from gateway.pages.services import (
    PageClaim,
    PageTransfer,
    live_stock,
    ms_of,
    page_campaign,
    page_claim,
    page_state,
    page_transfer,
    pages_cache,
    qr_data_uri,
    qr_svg,
)
from gateway.points.services import PointsService
from gateway.transfers.services import TransferService
from gateway.wire import check_id, zone

_WALLET_ORDER = ("active", "reserved", "redeemed", "expired", "transferred", "revoked")


def _lang(request: Request[Any, Any, Any]) -> Language:
    return language(request.headers.get("accept-language"))


def _refusal(description: str) -> ResponseSpec:
    return ResponseSpec(data_container=ErrorBody, description=description, generate_examples=False)


def _page(body: str, status: int = 200, cache: str = "no-store") -> Response[str]:
    return Response(
        body,
        status_code=status,
        media_type=MediaType.HTML,
        headers={"Cache-Control": cache, "Vary": "Accept-Language"},
    )


class ClaimPageController(Controller):
    path = "/claim"
    tags = ["member pages"]  # noqa: RUF012 - Litestar reads a plain list
    response_headers = PAGE_HEADERS

    @get("/{campaign_id:str}", include_in_schema=False)
    async def page(
        self,
        request: Request[Any, Any, Any],
        state: State,
        campaign_id: FromPath[str],
        token: FromQuery[str | None] = None,
        demo_member: FromQuery[str | None] = None,
    ) -> Response[Any]:
        """The claim page: the offer, its dates, the live stock, the button. The same HTML for
        every member (the script reads `m` and `token` from the URL), rendered at most once
        per campaign and language every 2 s per worker."""
        lang = _lang(request)
        if demo_member is not None and state.settings.demo_pages:
            return await _demo_sign_in(request, state, campaign_id, token, demo_member, lang)
        try:
            campaign = await page_campaign(state, campaign_id)
        except GatewayError as refused:
            if refused.status != 404:
                raise
            html = _render(request, "message.html", lang=lang, message="claim.not_found")
            return _page(html, 404)
        html = await pages_cache.get(
            (campaign_id, lang, state.settings.demo_pages),
            lambda: _claim_html(request, state, campaign, lang),
        )
        return _page(html, cache="public, max-age=2")

    @post(
        "/{campaign_id:str}",
        operation_id="claimFromPage",
        status_code=201,
        responses={
            400: _refusal("invalid_request: the field is named in detail"),
            401: _refusal("unauthorized: the member token is missing, forged or expired"),
            403: _refusal("invalid_token (also: no link token for a link_only campaign)"),
            404: _refusal("campaign_not_found, member_not_found (an exchange's member)"),
            409: _refusal(
                "not_live, not_started, ended, sold_out, limit_reached; insufficient_points "
                "(a campaign with a points price is exchanged)"
            ),
            429: _refusal("rate_limited (per member or per client address); see Retry-After"),
            503: _refusal("ledger_unavailable (retry with the same request_id)"),
        },
    )
    async def claim(
        self,
        request: Request[Any, Any, Any],
        state: State,
        campaign_id: FromPath[str],
        data: JSONBody[PageClaim],
    ) -> Response[Coupon]:
        """The claim page's claim, no API key: `{"token", "member_token", "request_id"}` → 201
        the coupon, with the v1 claim's semantics and refusals. `request_id` is the idempotency
        key (a double tap gives one coupon); rate limited per member and per client address.
        A campaign with a `points_price` is exchanged for the member's points instead (积分兑换:
        201 the coupon plus `points_spent`; 409 `insufficient_points`)."""
        return json_response(
            await page_claim(state, request.scope, await request.body(), campaign_id)
        )

    @get("/{campaign_id:str}/stock", operation_id="claimPageStock", cache_control=None)
    async def stock(self, state: State, campaign_id: FromPath[str]) -> Response[dict[str, Any]]:
        """The live remaining stock of the claim page: `{"remaining", "status", "now"}` from one
        Redis read (`remaining` null before publication). The page asks every 1.5 s."""
        return Response(await live_stock(state, campaign_id), headers={"Cache-Control": "no-store"})

    @get("/qr/{file:str}", include_in_schema=False)
    async def qr(self, file: FromPath[str]) -> Response[bytes]:
        """A coupon code's QR code (`/claim/qr/<CODE>.svg`), for the till's scanner."""
        code = parse_code(file.removesuffix(".svg")) if file.endswith(".svg") else None
        if code is None:
            return Response(b"", status_code=404)
        return Response(
            qr_svg(code, scale=6),
            media_type="image/svg+xml",
            headers={"Cache-Control": "private, max-age=86400"},
        )


async def _claim_html(
    request: Request[Any, Any, Any], state: State, campaign: Any, lang: Language
) -> str:
    stats = campaign.stats
    remaining = stats.remaining
    tz = zone()
    channels = campaign.channels
    scope = campaign.scope
    return _render(
        request,
        "claim.html",
        lang=lang,
        campaign=campaign,
        offer=offers.offer(campaign, lang),
        kind=offers.kind_name(campaign.kind, lang),
        validity=offers.validity(campaign, lang, tz),
        window=offers.claim_window(campaign, lang, tz),
        channels=("channels.both" if len(channels) == 2 else f"channels.{channels[0]}"),
        limited=bool(scope.get("skus") or scope.get("categories")),
        stores_limited=bool(scope.get("stores")),
        remaining=remaining,
        state=page_state(campaign, clock.now_ms(), remaining),
        starts_ms=ms_of(campaign.claim_starts_at),
        ends_ms=ms_of(campaign.claim_ends_at),
        now_ms=clock.now_ms(),
        demo=state.settings.demo_pages,
        messages=messages(("claim.", "refusal."), lang),
    )


def _render(request: Request[Any, Any, Any], name: str, **context: Any) -> str:
    engine = request.app.template_engine
    assert engine is not None
    return str(engine.get_template(name).render(request=request, **context))


async def _demo_sign_in(
    request: Request[Any, Any, Any],
    state: State,
    campaign_id: str,
    token: str | None,
    member_id: str,
    lang: Language,
) -> Response[Any]:
    """Demo mode only (GATEWAY_DEMO_PAGES=1): a member token for a typed member id."""
    try:
        check_id(member_id, "member_id")
        issued = await issue_token(
            state.pool,
            state.settings.member_token_secret,
            member_id,
            clock.now_ms(),
            state.settings.member_token_ttl_s,
        )
    except (GatewayError, MemberNotFound):
        html = _render(request, "message.html", lang=lang, message="claim.demo_unknown")
        return _page(html, 404)
    query = {"m": issued.token, **({"token": token} if token else {})}
    return Redirect(f"/claim/{quote(campaign_id, safe='')}?{urlencode(query)}")


class WalletPageController(Controller):
    path = "/wallet"
    tags = ["member pages"]  # noqa: RUF012 - Litestar reads a plain list
    response_headers = PAGE_HEADERS

    @get("/", include_in_schema=False)
    async def wallet(
        self, request: Request[Any, Any, Any], state: State, m: FromQuery[str | None] = None
    ) -> Response[str]:
        """The member's card (tier and the progress to the next one, what keeps it, points,
        their next expiry and recent history: one member read and one history read), then
        the coupons by state, each active one with its QR code; transfer to a friend; where a
        received coupon came from."""
        lang = _lang(request)
        member_id = token_member(state.settings.member_token_secret, m, clock.now_ms())
        if member_id is None:
            html = _render(request, "message.html", lang=lang, message="refusal.unauthorized")
            return _page(html, 401)
        now_ms = clock.now_ms()
        points: PointsService = state.points
        try:
            member, history, coupons = await asyncio.gather(
                get_member(state.pool, member_id, now_ms),
                points.history(member_id, HISTORY_SHOWN, None),
                member_coupons(state.pool, member_id, None),
            )
        except MemberNotFound:  # a valid token of a member the mall has since removed
            html = _render(request, "message.html", lang=lang, message="refusal.member_not_found")
            return _page(html, 404)
        groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
        transfers: TransferService = state.transfers
        tz = zone()
        for coupon in coupons:
            shown = coupon.state
            if shown == "active" and ms_of(coupon.valid_until) <= now_ms:
                shown = "expired"
            try:
                campaign = await page_campaign(state, coupon.campaign_id)
                offer = offers.offer(campaign, lang)
                name = campaign.name
            except GatewayError:
                offer, name = "", coupon.campaign_id
            path: list[str] = []
            if coupon.transferred_from:
                chain = await transfers.path(coupon.code)
                path = [link.member_id for link in chain.path]
            groups[shown].append(
                {
                    "coupon": coupon,
                    "name": name,
                    "offer": offer,
                    "kind": offers.kind_name(coupon.kind, lang),
                    "valid_from": offers.local_time(coupon.valid_from, tz),
                    "valid_until": offers.local_time(coupon.valid_until, tz),
                    "qr": qr_data_uri(coupon.code) if shown in ("active", "reserved") else None,
                    "path": path,
                }
            )
        html = _render(
            request,
            "wallet.html",
            lang=lang,
            member_id=member_id,
            card=card(member, history.entries, lang, tz),
            groups=[(state_, groups[state_]) for state_ in _WALLET_ORDER if groups.get(state_)],
            messages=messages(("wallet.", "refusal."), lang),
        )
        return _page(html)

    @post(
        "/transfers",
        operation_id="transferFromWallet",
        status_code=201,
        responses={
            400: _refusal("invalid_request"),
            401: _refusal("unauthorized: the member token is missing, forged or expired"),
            403: _refusal("not_owner"),
            404: _refusal("coupon_not_found"),
            409: _refusal("not_transferable, not_active"),
            422: _refusal("recipient_not_registered, same_member"),
            429: _refusal("rate_limited (per client address)"),
        },
    )
    async def transfer(
        self, request: Request[Any, Any, Any], state: State, data: JSONBody[PageTransfer]
    ) -> Response[Coupon]:
        """The wallet's transfer (转赠), no API key: `{"member_token", "code", "to_member_id",
        "request_id"}` → 201 the friend's new coupon; the v1 transfer's refusals."""
        return json_response(await page_transfer(state, request.scope, await request.body()))
