"""HTTP routes of campaigns: CRUD, lifecycle, stock, links and QR codes."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Controller, Request, Response, get, patch, post
from litestar.datastructures import State
from litestar.params import FromPath, JSONBody, QueryParameter

from gateway.auth.services import actor
from gateway.campaigns.schemas import (
    Campaign,
    CampaignCreate,
    CampaignList,
    CampaignUpdate,
    Link,
    Status,
    StockChange,
    StockLevel,
)
from gateway.campaigns.services import CampaignService
from gateway.errors import CampaignNotFound
from gateway.wire import _ID_RE, TEXT_PATTERN, strict_body

ADMIN = {"roles": ("admin",)}


def _service(state: State) -> CampaignService:
    service: CampaignService = state.campaigns
    return service


def check_campaign_id(campaign_id: FromPath[str]) -> str:
    if not _ID_RE.match(campaign_id):
        raise CampaignNotFound(f"campaign {campaign_id[:70]!r} does not exist")
    return campaign_id


class CampaignController(Controller):
    path = "/v1/campaigns"
    tags = ["campaigns"]  # noqa: RUF012 - Litestar reads a plain list

    @post("/", operation_id="createCampaign", opt=ADMIN)
    async def create(
        self, request: Request[Any, Any, Any], state: State, data: JSONBody[CampaignCreate]
    ) -> Response[Campaign]:
        """Creates a campaign in `draft`."""
        data = await strict_body(request, CampaignCreate)
        return Response(await _service(state).create(data, actor(request)), status_code=201)

    @get("/", operation_id="listCampaigns", opt=ADMIN)
    async def list_campaigns(
        self,
        state: State,
        status: Annotated[Status | None, QueryParameter(description="Only this status.")] = None,
        q: Annotated[
            str | None,
            QueryParameter(
                description="Only names containing this text (case-insensitive).",
                min_length=1,
                max_length=200,
                pattern=TEXT_PATTERN,
            ),
        ] = None,
        limit: Annotated[int, QueryParameter(description="Page size.", ge=1, le=200)] = 50,
        before: Annotated[
            str | None,
            QueryParameter(description="The `next` cursor of the previous page.", max_length=200),
        ] = None,
    ) -> CampaignList:
        """Campaigns newest first, filtered by `status` and by `q` in the name, a page of
        `limit` (1..200, default 50) at a time: `next` is the cursor of the following page
        (pass it as `before`), null on the last. A bad parameter is 400 `invalid_request`
        naming it."""
        campaigns, cursor = await _service(state).list(limit, status, q, before)
        return CampaignList(campaigns=campaigns, next=cursor)

    @get("/{campaign_id:str}", operation_id="getCampaign", opt=ADMIN)
    async def get_campaign(self, state: State, campaign_id: FromPath[str]) -> Campaign:
        """A campaign with its live stats."""
        return await _service(state).get(check_campaign_id(campaign_id))

    @patch("/{campaign_id:str}", operation_id="updateCampaign", opt=ADMIN)
    async def update(
        self,
        request: Request[Any, Any, Any],
        state: State,
        campaign_id: FromPath[str],
        data: JSONBody[CampaignUpdate],
    ) -> Campaign:
        """Edits name, claim_ends_at, validity (for later claims) or low_stock_threshold."""
        data = await strict_body(request, CampaignUpdate)
        return await _service(state).update(check_campaign_id(campaign_id), data, actor(request))

    @post("/{campaign_id:str}/publish", operation_id="publishCampaign", opt=ADMIN, status_code=200)
    async def publish(
        self, request: Request[Any, Any, Any], state: State, campaign_id: FromPath[str]
    ) -> Campaign:
        """draft → live: loads the hot state into Redis."""
        return await _service(state).move(check_campaign_id(campaign_id), "publish", actor(request))

    @post("/{campaign_id:str}/pause", operation_id="pauseCampaign", opt=ADMIN, status_code=200)
    async def pause(
        self, request: Request[Any, Any, Any], state: State, campaign_id: FromPath[str]
    ) -> Campaign:
        """live → paused."""
        return await _service(state).move(check_campaign_id(campaign_id), "pause", actor(request))

    @post("/{campaign_id:str}/resume", operation_id="resumeCampaign", opt=ADMIN, status_code=200)
    async def resume(
        self, request: Request[Any, Any, Any], state: State, campaign_id: FromPath[str]
    ) -> Campaign:
        """paused → live."""
        return await _service(state).move(check_campaign_id(campaign_id), "resume", actor(request))

    @post("/{campaign_id:str}/close", operation_id="closeCampaign", opt=ADMIN, status_code=200)
    async def close(
        self, request: Request[Any, Any, Any], state: State, campaign_id: FromPath[str]
    ) -> Campaign:
        """→ closed (final)."""
        return await _service(state).move(check_campaign_id(campaign_id), "close", actor(request))

    @post("/{campaign_id:str}/stock", operation_id="changeStock", opt=ADMIN, status_code=200)
    async def stock(
        self,
        request: Request[Any, Any, Any],
        state: State,
        campaign_id: FromPath[str],
        data: JSONBody[StockChange],
    ) -> StockLevel:
        """Raises or lowers the stock at once; never below what is claimed."""
        data = await strict_body(request, StockChange)
        return await _service(state).change_stock(
            check_campaign_id(campaign_id), data, actor(request)
        )

    @get("/{campaign_id:str}/link", operation_id="campaignLink", opt=ADMIN)
    async def link(self, state: State, campaign_id: FromPath[str]) -> Link:
        """The signed claim link the campaign is shared with."""
        s = state.settings
        return await _service(state).link(
            check_campaign_id(campaign_id), s.public_url, s.link_secret
        )

    @get(
        "/{campaign_id:str}/qr.svg",
        operation_id="campaignQrSvg",
        opt=ADMIN,
        media_type="image/svg+xml",
    )
    async def qr_svg(self, state: State, campaign_id: FromPath[str]) -> bytes:
        """The claim link as an SVG QR code."""
        s = state.settings
        return await _service(state).qr(
            check_campaign_id(campaign_id), s.public_url, s.link_secret, "svg"
        )

    @get(
        "/{campaign_id:str}/qr.png", operation_id="campaignQrPng", opt=ADMIN, media_type="image/png"
    )
    async def qr_png(self, state: State, campaign_id: FromPath[str]) -> bytes:
        """The claim link as a PNG QR code."""
        s = state.settings
        return await _service(state).qr(
            check_campaign_id(campaign_id), s.public_url, s.link_secret, "png"
        )
