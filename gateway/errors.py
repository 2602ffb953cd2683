"""One error hierarchy: each error carries its contract `code` and HTTP status."""

from __future__ import annotations

from typing import Any, ClassVar


class GatewayError(Exception):
    """Base of every error a client may see; rendered as `{"code", "detail", ...extra}`."""

    status: ClassVar[int] = 400
    code: ClassVar[str] = "invalid_request"

    def __init__(
        self, detail: str, *, code: str | None = None, status: int | None = None, **extra: Any
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        self.extra = extra
        if code is not None:  # refusals whose code is chosen at run time (claim reasons)
            self.code = code  # type: ignore[misc]  # instance override of the class default
        if status is not None:
            self.status = status  # type: ignore[misc]  # same

    def body(self) -> dict[str, Any]:
        return {"code": self.code, "detail": self.detail, **self.extra}

    def headers(self) -> dict[str, str]:
        """Response headers the error adds (most add none)."""
        return {}


class InvalidRequest(GatewayError):
    status = 400
    code = "invalid_request"


class Unauthorized(GatewayError):
    status = 401
    code = "unauthorized"


class Forbidden(GatewayError):
    status = 403
    code = "forbidden"


class InvalidToken(GatewayError):
    status = 403
    code = "invalid_token"


class NotOwner(GatewayError):
    status = 403
    code = "not_owner"


class NotFound(GatewayError):
    status = 404
    code = "not_found"


class MemberNotFound(NotFound):
    code = "member_not_found"


class CampaignNotFound(NotFound):
    code = "campaign_not_found"


class CouponNotFound(NotFound):
    code = "coupon_not_found"


class OrderNotFound(NotFound):
    code = "order_not_found"


class SegmentNotFound(NotFound):
    code = "segment_not_found"


class JobNotFound(NotFound):
    code = "job_not_found"


class Conflict(GatewayError):
    """409s: the request is well formed but the state refuses it."""

    status = 409
    code = "conflict"


class InvalidTransition(Conflict):
    code = "invalid_transition"


class StockBelowClaimed(Conflict):
    code = "stock_below_claimed"


class IdempotencyMismatch(Conflict):
    code = "idempotency_mismatch"


class OrderConflict(Conflict):
    code = "order_conflict"


class NotTransferable(Conflict):
    code = "not_transferable"


class NotActive(Conflict):
    code = "not_active"


class InsufficientPoints(Conflict):
    code = "insufficient_points"


class NotAllowed(Conflict):
    """The programme forbids the move (giving points when they are not transferable)."""

    code = "not_allowed"


class ExchangeOnly(Conflict):
    """A claim of a campaign whose coupons are exchanged for points."""

    code = "exchange_only"


class NotExchangeable(Conflict):
    """An exchange of a campaign without a points price."""

    code = "not_exchangeable"


class Unprocessable(GatewayError):
    status = 422
    code = "unprocessable"


class CouponsRejected(Unprocessable):
    code = "coupons_rejected"


class RecipientNotRegistered(Unprocessable):
    code = "recipient_not_registered"


class ReferrerNotRegistered(Unprocessable):
    code = "referrer_not_registered"


class ReferrerFixed(Conflict):
    """A member's referrer is set once, at registration (kept beside its 422 sibling)."""

    code = "referrer_fixed"


class SameMember(Unprocessable):
    code = "same_member"


class RateLimited(GatewayError):
    """429: over a rate limit; `Retry-After` says when a request would be admitted."""

    status = 429
    code = "rate_limited"

    def __init__(self, detail: str, *, retry_after: int) -> None:
        super().__init__(detail)
        self.retry_after = retry_after

    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after)}


class TooLarge(GatewayError):
    status = 413
    code = "request_too_large"


class Unavailable(GatewayError):
    status = 503
    code = "unavailable"


class LedgerUnavailable(Unavailable):
    code = "ledger_unavailable"
