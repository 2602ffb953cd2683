"""HTTP routes of the reports (admin). Each route's docstring defines its figures exactly: it
is the operation's description in the OpenAPI document."""

from __future__ import annotations

from typing import Annotated

from litestar import Controller, get
from litestar.datastructures import State
from litestar.params import QueryParameter

from gateway.clock import clock
from gateway.reports.schemas import ClerksReport, MembersReport, PointsReport, ReferralsReport
from gateway.reports.services import ReportService

# Strings, parsed by the service: a bad value is 400 naming the parameter (`from: ...`).
From = Annotated[
    str | None,
    QueryParameter(
        name="from",
        description="Start of the window, RFC 3339 with offset (default: `to` minus 30 days).",
    ),
]
To = Annotated[
    str | None,
    QueryParameter(
        name="to",
        description="End of the window, excluded, RFC 3339 with offset (default: now).",
    ),
]
AsOf = Annotated[
    str | None,
    QueryParameter(
        description="The time the figures are for, RFC 3339 with offset (default: now)."
    ),
]


def _reports(state: State) -> ReportService:
    return ReportService(state.pool, clock)


class ReportController(Controller):
    path = "/v1/reports"
    tags = ["reports"]  # noqa: RUF012 - Litestar reads a plain list

    @get("/clerks", operation_id="getClerksReport", opt={"roles": ("admin",)})
    async def clerks(self, state: State, start: From = None, end: To = None) -> ClerksReport:
        """Coupons handed out by each clerk, and how many were used (导购发券量与转化率).

        The window is [`from`, `to`) (default: the 30 days before now); a bad `from` or `to`,
        or `to` not after `from`, is 400 `invalid_request` naming it.
        - One row per API key name (`actor`: the `--name` of the key, or `key:<id>` for a key
          without one) that granted coupons in the window, most grants first, ties by name.
        - `granted`: coupons the key granted (`POST /v1/campaigns/{id}/grants`, each a `grant`
          event) with the grant's time in the window.
        - `redeemed`: of those coupons, the ones redeemed at any time up to now (the code has a
          `redeem` event: its order committed), even if the order was refunded later. A coupon
          the member gave on (转赠) is not redeemed, whatever the friend did with the new code.
        - `redemption_rate`: redeemed / granted, 4 decimals (null when nothing was granted).
        - `total`: the same over every row. Grants no key made (the programme's rewards) are
          not listed.
        """
        service = _reports(state)
        return await service.clerks(service.window(start, end))

    @get("/referrals", operation_id="getReferralsReport", opt={"roles": ("admin",)})
    async def referrals(self, state: State, start: From = None, end: To = None) -> ReferralsReport:
        """Referrals (推荐有礼) and the inviters' board (推荐排行榜).

        The window is [`from`, `to`) (default: the 30 days before now; a month's board: pass
        the month); bad values are 400 `invalid_request` naming the parameter.
        - `invitations`: members registered in the window with a `referred_by`.
        - `first_orders`: invitees (members with a `referred_by`, registered whenever) whose
          first committed order (the one that makes the referral reward due) committed in the
          window; a later refund does not undo it.
        - `rewards`: the referral rewards recorded in the window (one per side: the inviter's
          and the invitee's), `given` (its coupon granted, or points only), `refused` (its
          coupon refused: sold out, limit reached, campaign not live; its points were still
          given), `points` (points they gave), `coupons` (coupons they granted).
        - `top_inviters`: the 10 inviters with the most invitees whose first order committed
          in the window (`invitees_ordered`), ties by member id.
        """
        service = _reports(state)
        return await service.referrals(service.window(start, end))

    @get("/points", operation_id="getPointsReport", opt={"roles": ("admin",)})
    async def points(
        self,
        state: State,
        as_of: AsOf = None,
    ) -> PointsReport:
        """Points (积分) held, owed and about to expire, and how they moved in the 30 days
        before `as_of` (default now; a bad value is 400 `invalid_request` naming `as_of`).

        The lot figures read each lot's points left now, for the lots earned by `as_of`: for a
        past `as_of` they do not put back what was spent or moved since; for a future one they
        say what will be left if nothing else moves. A lot counts from its `counts_from` and
        for as long as `as_of` <= its `expires_at` (never, without one).
        - `outstanding`: points left in the lots that count at `as_of` (debt not deducted).
        - `pending`: points left in the lots still in their return window at `as_of`.
        - `owed`: the points members owe now (the sum of their debt: refunds that took back
          points already spent).
        - `expiring_30d`, `expiring_90d`: of `outstanding`, the points in lots that expire
          before `as_of` + 30 days (+ 90 days; the 90 include the 30).
        - `last_30_days`, the entries of (`as_of` - 30 days, `as_of`]: `earned` (by orders,
          pending or not, and by rewards), `spent` (on exchanges, less those refused and given
          back), `expired` (lots that expired in those 30 days, swept or not yet),
          `transferred` (given from member to member), `adjusted` (operators' adjustments,
          net), `reversed` (taken back by refunds).
        """
        return await _reports(state).points(as_of)

    @get("/members", operation_id="getMembersReport", opt={"roles": ("admin",)})
    async def members(self, state: State, start: From = None, end: To = None) -> MembersReport:
        """Members (会员): new, active, repeat rate and average order value, overall and per
        tier (each member under the tier it holds now; the four tiers are always listed).

        The window is [`from`, `to`) (default: the 30 days before now); bad values are 400
        `invalid_request` naming the parameter. An order is a committed order of a registered
        member that was not refunded whole (a partial refund leaves it counted, at its paid
        total).
        - `new_members`: members registered in the window.
        - `active_members`: members with at least one order committed in the 30 days before
          `to`, [`to` - 30 days, `to`), whatever `from` is.
        - `ordering_members`: members with at least one order committed in the window.
        - `repeat_members`: of those, members with two orders committed in the window at most
          30 days apart (复购: a second order within 30 days).
        - `repeat_rate`: repeat_members / ordering_members, 4 decimals (null without orders).
        - `orders`, `paid_total`: the window's orders and the sum of their paid totals
          (cents, after every discount, as committed).
        - `average_order_value` (客单价): paid_total / orders in cents, rounded down (null
          without orders).
        """
        service = _reports(state)
        return await service.members(service.window(start, end))
