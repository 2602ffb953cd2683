"""The pricing rules, written to be read. docs/PRICING.md explains them; this is their code.

`price(request)` takes the dict that the checkout service sends and returns the quote dict,
exactly as `gateway._native.price` does (the differential tests hold them to it). Bad input raises
`ValueError` naming the first bad field in document order, with the same message as the engine.

Money is int cents, rates are basis points (1500 = 15% off = 8.5折), and every percentage is
rounded down to the cent: `amount * rate // 10000`.

The one deliberate difference from the engine is speed: to choose the best set of codes this
reference prices every candidate set, which is exponential in the number of stackable codes.
The engine reaches the same answer with a branch and bound.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from itertools import combinations
from typing import TypedDict

FULL_RATE = 10_000
MAX_LINES = 200
MAX_CODES = 20
MAX_UNIT_PRICE = 1_000_000_000
MAX_QTY = 999
MAX_POINTS_MULTIPLIER = 10
INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1

CHANNELS = ("online", "store")
STATES = ("active", "reserved", "redeemed", "expired", "transferred", "revoked")
KINDS = ("percent", "amount", "threshold", "exchange", "gift", "points")

# Every reason a code can be rejected with, in precedence order: a code gets the first that
# applies. The state of the coupon (transferred ... expired) comes before its dates, so that a
# used coupon says "redeemed" rather than "expired".
REASONS = (
    "duplicate",
    "not_found",
    "not_owner",
    "transferred",
    "revoked",
    "redeemed",
    "reserved",
    "expired",  # the coupon's state
    "not_yet_valid",
    # "expired" again: now >= valid_until
    "wrong_channel",
    "wrong_store",
    "out_of_scope",
    "below_threshold",
    "not_stackable",
)

# Application order inside a set: exchange first (the free unit leaves the cart), then percent
# coupons, then amount and threshold coupons. Gift and points coupons take no money.
PHASE = {"exchange": 0, "percent": 1, "amount": 2, "threshold": 2, "gift": 3, "points": 3}
NON_MONETARY = ("gift", "points")


class LineShare(TypedDict):
    line: int
    sku: str
    discount: int


class AppliedCoupon(TypedDict):
    code: str
    discount: int
    lines: list[LineShare]
    gift_sku: str | None
    points: int


class RejectedCode(TypedDict):
    code: str
    reason: str


class Quote(TypedDict):
    subtotal: int
    member_discount: int
    member_lines: list[LineShare]
    coupon_discount: int
    total: int
    points_earned: int
    applied: list[AppliedCoupon]
    rejected: list[RejectedCode]


# ---------------------------------------------------------------------------------------------
# The request, checked
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Line:
    sku: str
    category: str
    unit_price: int
    qty: int
    points_multiplier: int = 1  # the line earns this many times its points (1..10)


@dataclass(frozen=True)
class Member:
    tier_percent_off: int
    birthday_percent_off: int
    is_birthday: bool
    coupons_on_member_price: bool
    points_per_yuan: int


@dataclass(frozen=True)
class Coupon:
    owner_matches: bool
    state: str
    kind: str
    amount_off: int | None
    percent_off: int | None
    max_discount: int | None
    min_spend: int | None
    sku: str | None
    points: int | None
    scope_skus: list[str]
    scope_categories: list[str]
    scope_stores: list[str]
    channels: list[str]
    valid_from: int
    valid_until: int
    stackable: bool


@dataclass(frozen=True)
class Candidate:
    code: str
    coupon: Coupon | None  # None: the ledger has no such code


@dataclass(frozen=True)
class Request:
    now: int
    channel: str
    store_id: str | None
    lines: list[Line]
    member: Member
    coupons: list[Candidate]


class _Fields:
    """Reads one dict of the request, naming the field in every error."""

    def __init__(self, value: object, path: str) -> None:
        if not isinstance(value, dict):
            raise ValueError(f"{path}: must be a dict")
        self.data: Mapping[object, object] = value
        self.prefix = "" if path == "request" else f"{path}."

    def path(self, key: str) -> str:
        return self.prefix + key

    def required(self, key: str) -> object:
        if key not in self.data:
            raise ValueError(f"{self.path(key)}: missing")
        return self.data[key]

    def integer(self, key: str) -> int:
        return _int(self.required(key), self.path(key))

    def optional_integer(self, key: str) -> int | None:
        value = self.data.get(key)
        return None if value is None else _int(value, self.path(key))

    def boolean(self, key: str) -> bool:
        value = self.required(key)
        if not isinstance(value, bool):
            raise ValueError(f"{self.path(key)}: must be a bool")
        return value

    def text(self, key: str) -> str:
        return _str(self.required(key), self.path(key))

    def optional_text(self, key: str) -> str | None:
        value = self.data.get(key)
        return None if value is None else _str(value, self.path(key))

    def sequence(self, key: str) -> list[object]:
        return _list(self.required(key), self.path(key))

    def texts(self, key: str) -> list[str]:
        if key not in self.data:
            return []
        items = _list(self.data[key], self.path(key))
        return [_str(item, f"{self.path(key)}[{j}]") for j, item in enumerate(items)]


def _int(value: object, path: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{path}: must be an integer")
    if not INT64_MIN <= value <= INT64_MAX:
        raise ValueError(f"{path}: must be a 64-bit integer")
    return value


def _str(value: object, path: str) -> str:
    if not isinstance(value, str):
        raise ValueError(f"{path}: must be a string")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError(f"{path}: must be valid UTF-8 text") from None
    return value


def _list(value: object, path: str) -> list[object]:
    if not isinstance(value, list | tuple):
        raise ValueError(f"{path}: must be a list")
    return list(value)


def _parse_line(value: object, i: int) -> Line:
    f = _Fields(value, f"lines[{i}]")
    line = Line(
        f.text("sku"),
        f.text("category"),
        f.integer("unit_price"),
        f.integer("qty"),
        # Absent: 1. Present it must be an integer (None is no integer).
        f.integer("points_multiplier") if "points_multiplier" in f.data else 1,
    )
    if not 0 <= line.unit_price <= MAX_UNIT_PRICE:
        raise ValueError(f"lines[{i}].unit_price: must be 0..1000000000")
    if not 1 <= line.qty <= MAX_QTY:
        raise ValueError(f"lines[{i}].qty: must be 1..999")
    if not 1 <= line.points_multiplier <= MAX_POINTS_MULTIPLIER:
        raise ValueError(f"lines[{i}].points_multiplier: must be 1..10")
    return line


def _parse_member(value: object) -> Member:
    f = _Fields(value, "member")
    member = Member(
        tier_percent_off=f.integer("tier_percent_off"),
        birthday_percent_off=f.integer("birthday_percent_off"),
        is_birthday=f.boolean("is_birthday"),
        coupons_on_member_price=f.boolean("coupons_on_member_price"),
        points_per_yuan=f.integer("points_per_yuan"),
    )
    if not 0 <= member.tier_percent_off <= FULL_RATE:
        raise ValueError("member.tier_percent_off: must be 0..10000")
    if not 0 <= member.birthday_percent_off <= FULL_RATE:
        raise ValueError("member.birthday_percent_off: must be 0..10000")
    if member.points_per_yuan < 0:
        raise ValueError("member.points_per_yuan: must be >= 0")
    return member


# The field each kind cannot do without.
_REQUIRED_BY_KIND = {
    "percent": "percent_off",
    "amount": "amount_off",
    "threshold": "amount_off",
    "exchange": "sku",
    "gift": "sku",
    "points": "points",
}


def _parse_candidate(value: object, i: int) -> Candidate:
    f = _Fields(value, f"coupons[{i}]")
    code = f.text("code")
    if not f.boolean("found"):
        return Candidate(code, None)  # nothing else about an unknown code is meaningful
    owner_matches = f.boolean("owner_matches")
    state = f.text("state")
    if state not in STATES:
        raise ValueError(f"coupons[{i}].state: must be one of {', '.join(STATES)}")
    kind = f.text("kind")
    if kind not in KINDS:
        raise ValueError(f"coupons[{i}].kind: must be one of {', '.join(KINDS)}")
    coupon = Coupon(
        owner_matches=owner_matches,
        state=state,
        kind=kind,
        amount_off=f.optional_integer("amount_off"),
        percent_off=f.optional_integer("percent_off"),
        max_discount=f.optional_integer("max_discount"),
        min_spend=f.optional_integer("min_spend"),
        sku=f.optional_text("sku"),
        points=f.optional_integer("points"),
        scope_skus=f.texts("scope_skus"),
        scope_categories=f.texts("scope_categories"),
        scope_stores=f.texts("scope_stores"),
        channels=f.texts("channels"),
        valid_from=f.integer("valid_from"),
        valid_until=f.integer("valid_until"),
        stackable=f.boolean("stackable"),
    )
    for name in ("amount_off", "percent_off", "max_discount", "min_spend", "points"):
        amount = getattr(coupon, name)
        if name == "percent_off" and amount is not None and not 0 <= amount <= FULL_RATE:
            raise ValueError(f"coupons[{i}].percent_off: must be 0..10000")
        if amount is not None and amount < 0:
            raise ValueError(f"coupons[{i}].{name}: must be >= 0")
    needed = _REQUIRED_BY_KIND[kind]
    if getattr(coupon, needed) is None:
        raise ValueError(f"coupons[{i}].{needed}: required for kind {kind}")
    return Candidate(code, coupon)


def parse_request(value: object) -> Request:
    """Checks the request dict field by field, in document order."""
    f = _Fields(value, "request")
    now = f.integer("now")
    channel = f.text("channel")
    if channel not in CHANNELS:
        raise ValueError("channel: must be 'online' or 'store'")
    store_id = f.optional_text("store_id")
    line_values = f.sequence("lines")
    if not 1 <= len(line_values) <= MAX_LINES:
        raise ValueError("lines: must hold 1..200 lines")
    lines = [_parse_line(v, i) for i, v in enumerate(line_values)]
    member = _parse_member(f.required("member"))
    coupon_values = _list(f.data["coupons"], "coupons") if "coupons" in f.data else []
    if len(coupon_values) > MAX_CODES:
        raise ValueError("coupons: must hold 0..20 codes")
    coupons = [_parse_candidate(v, i) for i, v in enumerate(coupon_values)]
    return Request(now, channel, store_id, lines, member, coupons)


# ---------------------------------------------------------------------------------------------
# The rules
# ---------------------------------------------------------------------------------------------


def percent_of(amount: int, rate: int) -> int:
    """A percentage of an amount, rounded down to the cent."""
    return amount * rate // FULL_RATE


def split_largest_remainder(amount: int, weights: Sequence[int]) -> list[int]:
    """Splits `amount` over `weights` in proportion, in whole cents.

    Each share is first rounded down; the cents left over go one each to the largest
    remainders, ties to the lower index. The shares sum to `amount`, and none exceeds its weight
    when `amount <= sum(weights)`.
    """
    total = sum(weights)
    if amount <= 0 or total <= 0:
        return [0] * len(weights)
    shares = [amount * w // total for w in weights]
    remainders = [amount * w % total for w in weights]
    left_over = amount - sum(shares)
    by_remainder = sorted(range(len(weights)), key=lambda i: (-remainders[i], i))
    for i in by_remainder[:left_over]:
        shares[i] += 1
    return shares


@dataclass(frozen=True)
class Offer:
    """A code that passed every individual check: whether it applies depends on the others."""

    index: int  # position of the code in the request
    coupon: Coupon
    eligible: list[int]  # lines it works on, ascending


def _in_scope(coupon: Coupon, line: Line) -> bool:
    if not coupon.scope_skus and not coupon.scope_categories:
        return True
    return line.sku in coupon.scope_skus or line.category in coupon.scope_categories


def rejection_reason(request: Request, coupon: Coupon, seen: list[int]) -> str | list[int]:
    """The first individual check a found coupon fails, or its eligible lines if none.

    `seen` holds the line amounts as the coupons see them (after the member discount when
    coupons apply on the member price); thresholds are tested on them.
    """
    if not coupon.owner_matches:
        return "not_owner"  # say nothing more about someone else's coupon
    if coupon.state != "active":
        return coupon.state  # transferred, revoked, redeemed, reserved or expired
    if request.now < coupon.valid_from:
        return "not_yet_valid"
    if request.now >= coupon.valid_until:
        return "expired"
    if coupon.channels and request.channel not in coupon.channels:
        return "wrong_channel"
    in_listed_store = request.store_id is not None and request.store_id in coupon.scope_stores
    if request.channel == "store" and coupon.scope_stores and not in_listed_store:
        return "wrong_store"
    eligible = [
        i
        for i, line in enumerate(request.lines)
        if _in_scope(coupon, line) and (coupon.kind != "exchange" or line.sku == coupon.sku)
    ]
    if not eligible:
        return "out_of_scope"
    if coupon.min_spend is not None and sum(seen[i] for i in eligible) < coupon.min_spend:
        return "below_threshold"
    return eligible


@dataclass
class AppliedOffer:
    offer: Offer
    discount: int
    shares: dict[int, int]  # line -> share, non-zero only


def apply_set(offers: Sequence[Offer], seen: list[int], qty: list[int]) -> list[AppliedOffer]:
    """Applies a set of coupons in order, each to what is left of its eligible lines."""
    left = list(seen)
    results = []
    for offer in sorted(offers, key=lambda o: (PHASE[o.coupon.kind], o.index)):
        coupon = offer.coupon
        shares: dict[int, int] = {}
        if coupon.kind == "exchange":
            # One unit free at the price being paid for it, from the line where that is worth
            # most (the first such line on a tie), and never more than is left of the line.
            worth = {line: min(seen[line] // qty[line], left[line]) for line in offer.eligible}
            line = max(offer.eligible, key=lambda i: (worth[i], -i))
            discount = worth[line]
            if discount > 0:
                shares[line] = discount
        elif coupon.kind in NON_MONETARY:
            discount = 0
        else:
            remaining = sum(left[i] for i in offer.eligible)
            if coupon.kind == "percent":
                assert coupon.percent_off is not None
                discount = percent_of(remaining, coupon.percent_off)
                if coupon.max_discount is not None:
                    discount = min(discount, coupon.max_discount)
            else:  # amount, threshold
                assert coupon.amount_off is not None
                discount = min(coupon.amount_off, remaining)
            split = split_largest_remainder(discount, [left[i] for i in offer.eligible])
            shares = {line: s for line, s in zip(offer.eligible, split, strict=True) if s > 0}
        for line, share in shares.items():
            left[line] -= share
        results.append(AppliedOffer(offer, discount, shares))
    return results


@dataclass(frozen=True)
class Plan:
    """A candidate set of codes and what it is worth."""

    savings: int  # money off, cents
    non_monetary: int  # gift and points coupons in the set
    indices: tuple[int, ...]  # the codes' positions, ascending

    def rank(self) -> tuple[int, int, int, tuple[int, ...]]:
        """Smaller is better: most money saved, then most gift and points coupons (worth
        something to the holder), then fewest coupons, then the codes sent first."""
        return (-self.savings, -self.non_monetary, len(self.indices), self.indices)


def candidate_sets(offers: Sequence[Offer]) -> list[list[Offer]]:
    """Each non-stackable code alone, and every non-empty set of stackable codes."""
    stackable = [o for o in offers if o.coupon.stackable]
    sets = [[o] for o in offers if not o.coupon.stackable]
    for size in range(1, len(stackable) + 1):
        sets.extend(list(group) for group in combinations(stackable, size))
    return sets


def best_plan(offers: Sequence[Offer], seen: list[int], qty: list[int]) -> Plan:
    """The best candidate set (the empty plan when nothing can apply)."""
    best = Plan(0, 0, ())
    for group in candidate_sets(offers):
        plan = Plan(
            savings=sum(a.discount for a in apply_set(group, seen, qty)),
            non_monetary=sum(1 for o in group if o.coupon.kind in NON_MONETARY),
            indices=tuple(sorted(o.index for o in group)),
        )
        if not best.indices or plan.rank() < best.rank():
            best = plan
    return best


def price_request(request: Request) -> Quote:
    """Prices a checked request."""
    lines = request.lines
    amounts = [line.unit_price * line.qty for line in lines]
    qty = [line.qty for line in lines]
    subtotal = sum(amounts)

    # The member discount: the tier rate, or on the birthday the better of tier and birthday
    # rates (never both), taken once on the subtotal and split over the lines.
    member = request.member
    rate = member.tier_percent_off
    if member.is_birthday:
        rate = max(rate, member.birthday_percent_off)
    member_discount = percent_of(subtotal, rate)
    member_shares = split_largest_remainder(member_discount, amounts)

    # What the coupons work on: the member price (折上折), or the list price when the cart gets
    # either the member discount or its coupons.
    if member.coupons_on_member_price:
        seen = [a - m for a, m in zip(amounts, member_shares, strict=True)]
    else:
        seen = list(amounts)

    reasons: dict[int, str] = {}
    offers: list[Offer] = []
    codes_so_far: set[str] = set()
    for index, candidate in enumerate(request.coupons):
        if candidate.code in codes_so_far:
            reasons[index] = "duplicate"
            continue
        codes_so_far.add(candidate.code)
        if candidate.coupon is None:
            reasons[index] = "not_found"
            continue
        outcome = rejection_reason(request, candidate.coupon, seen)
        if isinstance(outcome, str):
            reasons[index] = outcome
        else:
            offers.append(Offer(index, candidate.coupon, outcome))

    chosen = best_plan(offers, seen, qty)
    member_applies = True
    if not member.coupons_on_member_price and member_discount > 0:
        # Member discount or coupons, whichever saves more; next to the member discount only
        # gift and points coupons apply. A tie keeps the member discount (same price, and the
        # coupons stay in the wallet).
        gifts_only = [o for o in offers if o.coupon.kind in NON_MONETARY]
        with_member = best_plan(gifts_only, seen, qty)
        with_member = Plan(member_discount, with_member.non_monetary, with_member.indices)
        if chosen.rank() < with_member.rank():
            member_applies = False
        else:
            chosen = with_member

    chosen_offers = [o for o in offers if o.index in chosen.indices]
    for o in offers:
        if o.index not in chosen.indices:
            reasons[o.index] = "not_stackable"

    def shares_out(shares: Mapping[int, int]) -> list[LineShare]:
        return [
            LineShare(line=i, sku=lines[i].sku, discount=shares[i])
            for i in sorted(shares)
            if shares[i] > 0
        ]

    applied: list[AppliedCoupon] = []
    for result in sorted(apply_set(chosen_offers, seen, qty), key=lambda a: a.offer.index):
        coupon = result.offer.coupon
        applied.append(
            AppliedCoupon(
                code=request.coupons[result.offer.index].code,
                discount=result.discount,
                lines=shares_out(result.shares),
                gift_sku=coupon.sku if coupon.kind == "gift" else None,
                points=(coupon.points or 0) if coupon.kind == "points" else 0,
            )
        )
    if not member_applies:
        member_discount = 0
        member_shares = [0] * len(lines)
    coupon_discount = sum(a["discount"] for a in applied)
    total = subtotal - member_discount - coupon_discount

    # Points, per line: what was paid for the line (its amount less its member share and its
    # share of every applied coupon) times points per yuan and the line's multiplier, floored
    # per line; plus the points of the applied points coupons.
    paid = [a - m for a, m in zip(amounts, member_shares, strict=True)]
    for coupon_applied in applied:
        for share in coupon_applied["lines"]:
            paid[share["line"]] -= share["discount"]
    points_earned = sum(
        amount * member.points_per_yuan * line.points_multiplier // 100
        for amount, line in zip(paid, lines, strict=True)
    ) + sum(a["points"] for a in applied)
    return Quote(
        subtotal=subtotal,
        member_discount=member_discount,
        member_lines=shares_out(dict(enumerate(member_shares))),
        coupon_discount=coupon_discount,
        total=total,
        points_earned=points_earned,
        applied=applied,
        rejected=[
            RejectedCode(code=request.coupons[i].code, reason=reasons[i]) for i in sorted(reasons)
        ],
    )


def price(request: object) -> Quote:
    """Prices one cart: the request dict in, the quote dict out."""
    return price_request(parse_request(request))


def price_many(requests: object) -> list[Quote]:
    """Prices a batch; a bad request fails the batch, its error prefixed `requests[i].`."""
    items = _list(requests, "requests")
    checked = []
    for i, item in enumerate(items):
        try:
            checked.append(parse_request(item))
        except ValueError as error:
            raise ValueError(f"requests[{i}].{error}") from None
    return [price_request(r) for r in checked]
