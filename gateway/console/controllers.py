"""The back office: the shell page at /console (its views are plain JavaScript calling the
API with the key kept in the tab's session storage) and the API routes it adds."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, get
from litestar.datastructures import State
from litestar.params import FromPath
from litestar.response import Template

from gateway import i18n
from gateway.auth.services import ROLES, caller_of
from gateway.campaigns.controllers import check_campaign_id
from gateway.clock import clock
from gateway.console import services
from gateway.console.schemas import Funnel, Live, WhoAmI
from gateway.errors import Unauthorized
from gateway.pages.security import PAGE_HEADERS

#: The catalogue's ids the console's script reads (handed over in a data- attribute); `offer.`
#: are the member's pages' words for an offer and its dates, shared by the poster; `tier.` and
#: `points.` the tiers' names and the points history's kinds, shared with the wallet.
SCRIPT_MESSAGES = ("console.", "site.", "offer.", "tier.", "points.")


class ConsolePage(Controller):
    path = "/console"
    include_in_schema = False
    response_headers = PAGE_HEADERS

    @get("/", media_type="text/html")
    async def shell(self, request: Request[Any, Any, Any]) -> Template:
        """The console's one page: a sign-in form and the views' frames, filled by
        /static/console/console.js. Static: no key reaches the server with it."""
        lang = i18n.language(request.headers.get("accept-language"))
        return Template(
            template_name="console/index.html",
            context={"lang": lang, "messages": i18n.messages(SCRIPT_MESSAGES, lang)},
        )


class ConsoleApi(Controller):
    path = "/v1"
    tags = ["console"]  # noqa: RUF012 - Litestar reads a plain list

    @get("/whoami", operation_id="whoAmI", opt={"roles": ROLES})
    async def whoami(self, request: Request[Any, Any, Any]) -> WhoAmI:
        """The caller's key: its role and name. The console asks it after sign-in to show an
        operator every view and a clerk only the in-store ones."""
        caller = caller_of(request.scope)
        if caller is None:  # the role check always leaves one; kept for the type checker
            raise Unauthorized("missing API key: send `Authorization: Bearer <key>`")
        return WhoAmI(role=caller.role, name=caller.actor)

    @get(
        "/campaigns/{campaign_id:str}/live", operation_id="campaignLive", opt={"roles": ("admin",)}
    )
    async def live(self, state: State, campaign_id: FromPath[str]) -> Live:
        """A campaign's live counters (stock, claimed, refusals by reason) from Redis alone, in
        one round trip: the console's live view polls it every second during a sale without
        loading Postgres. A draft (no hot state yet) is read from Postgres."""
        return await services.live(state.pool, state.redis, clock, check_campaign_id(campaign_id))

    @get(
        "/campaigns/{campaign_id:str}/funnel",
        operation_id="campaignFunnel",
        opt={"roles": ("admin",)},
    )
    async def funnel(self, state: State, campaign_id: FromPath[str]) -> Funnel:
        """A campaign's conversion funnel (转化漏斗), as the back office's reports chart it:
        `claimed` its coupons claimed or granted, `reserved` the orders that reserved one of
        them at a checkout (an order reserves once, whatever happens to it after),
        `committed` the orders committed with one (a later refund does not undo it), and
        `conversion_rate` committed / reserved rounded to 4 decimals (the campaign stats'
        `conversion_rate`; null while no order reserved one). Read from the ledger (the
        same counts as the stats); an unknown campaign is 404."""
        return await services.funnel(state.pool, check_campaign_id(campaign_id))
