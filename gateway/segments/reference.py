"""The RFM rules (四度分析), written to be read: the reference the SQL of `services.py` is held to.

Everything is measured over the window: the 365 local days (GATEWAY_TIME_ZONE) ending with
`as_of`'s local day, both included (as a member's yearly tier spend is). The member base is
every member registered at or before `as_of`.

- **R**ecency: local days from the last order in the window to `as_of`'s day (None: no order
  in the window). Bands: 0-90 `active` (活跃), 91-180 `dormant` (休眠), 181-360 `lapsed`
  (流失), `none` (no order in the window, or the last one 361-364 days before).
- **F**requency: orders committed in the window; an order refunded whole is not one.
- **M**onetary: their paid amount (cents), less what partial refunds gave back.
- **W**idth: distinct categories of the lines bought in the window (a line whose every unit was
  refunded was not bought).

F, M and W are scored 1-3 by terciles over the buyers (members with at least one order in the
window): sort the buyers' values ascending; `score_1_max` is the value at position ceil(n/3),
`score_2_max` at ceil(2n/3) (1-based). A value ≤ `score_1_max` scores 1, ≤ `score_2_max` 2,
above 3. The score depends only on the value, so equal values always share a score: a run of
ties across a boundary goes to the lower score (the top tercile may hold fewer than a third,
even nobody). A member with no order in the window scores 1 on all three, and is not counted
in the terciles (a base where most members never order would otherwise put every buyer in 3).

A member is in the first group whose rule holds (`GROUP_RULES`, in that order).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta, tzinfo

from gateway.segments.schemas import SegmentFilter

WINDOW_DAYS = 365
ACTIVE_DAYS = 90
DORMANT_DAYS = 180
LAPSED_DAYS = 360
NEW_MEMBER_DAYS = 30

#: (group, rule) in precedence order; the rules as the response states them.
GROUP_RULES: tuple[tuple[str, str], ...] = (
    ("champions", "R active, F 3, M 3"),
    ("loyal", "R active, F >= 2"),
    ("big_spenders", "M 3, R not active"),
    ("at_risk", "F >= 2, R dormant"),
    ("lapsed", "R lapsed"),
    ("new", "registered <= 30 days ago, <= 1 order"),
    ("others", "none of the above"),
)


@dataclass(frozen=True, slots=True)
class Member:
    member_id: str
    tier: str
    birthday: str | None  # "MM-DD"
    registered_at: datetime


@dataclass(frozen=True, slots=True)
class Line:
    category: str
    qty: int
    refunded: int  # units refunded so far


@dataclass(frozen=True, slots=True)
class Order:
    """A committed order: `refunded_whole` orders are `refunded` in the ledger; `paid` is what
    the member paid less what partial refunds gave back."""

    member_id: str
    committed_at: datetime
    paid: int
    refunded_whole: bool
    lines: tuple[Line, ...]


@dataclass(frozen=True, slots=True)
class Measures:
    member_id: str
    tier: str
    birthday: str | None
    registered_days: int
    orders: int
    spend: int
    recency_days: int | None
    categories: int


@dataclass(frozen=True, slots=True)
class Scores:
    band: str
    f: int
    m: int
    w: int
    group: str


def local_day(moment: datetime, zone: tzinfo) -> date:
    return moment.astimezone(zone).date()


def measure(
    members: Iterable[Member], orders: Iterable[Order], as_of: datetime, zone: tzinfo
) -> dict[str, Measures]:
    """Each member of the base (registered by `as_of`) with its four measures."""
    today = local_day(as_of, zone)
    first = today - timedelta(days=WINDOW_DAYS - 1)
    count: dict[str, int] = {}
    spend: dict[str, int] = {}
    last: dict[str, date] = {}
    bought: dict[str, set[str]] = {}
    for order in orders:
        day = local_day(order.committed_at, zone)
        if not first <= day <= today or order.refunded_whole:
            continue
        member = order.member_id
        count[member] = count.get(member, 0) + 1
        spend[member] = spend.get(member, 0) + order.paid
        last[member] = max(last.get(member, day), day)
        kinds = bought.setdefault(member, set())
        kinds.update(line.category for line in order.lines if line.refunded < line.qty)
    found = {}
    for m in members:
        if m.registered_at > as_of:
            continue
        seen = last.get(m.member_id)
        found[m.member_id] = Measures(
            member_id=m.member_id,
            tier=m.tier,
            birthday=m.birthday,
            registered_days=(today - local_day(m.registered_at, zone)).days,
            orders=count.get(m.member_id, 0),
            spend=spend.get(m.member_id, 0),
            recency_days=(today - seen).days if seen is not None else None,
            categories=len(bought.get(m.member_id, ())),
        )
    return found


def terciles(values: Sequence[int]) -> tuple[int, int] | None:
    """(score_1_max, score_2_max): the values at positions ceil(n/3) and ceil(2n/3) of the
    sorted values (1-based); None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    n = len(ordered)
    return ordered[-(-n // 3) - 1], ordered[-(-2 * n // 3) - 1]


def score(value: int, thresholds: tuple[int, int] | None, *, buyer: bool) -> int:
    if not buyer or thresholds is None or value <= thresholds[0]:
        return 1
    return 2 if value <= thresholds[1] else 3


def band(recency_days: int | None) -> str:
    if recency_days is None or recency_days > LAPSED_DAYS:
        return "none"
    if recency_days <= ACTIVE_DAYS:
        return "active"
    return "dormant" if recency_days <= DORMANT_DAYS else "lapsed"


def group(r: str, f: int, m: int, registered_days: int, orders: int) -> str:
    """The first group whose rule holds (GROUP_RULES' order)."""
    if r == "active" and f == 3 and m == 3:
        return "champions"
    if r == "active" and f >= 2:
        return "loyal"
    if m == 3 and r != "active":
        return "big_spenders"
    if f >= 2 and r == "dormant":
        return "at_risk"
    if r == "lapsed":
        return "lapsed"
    if registered_days <= NEW_MEMBER_DAYS and orders <= 1:
        return "new"
    return "others"


@dataclass(frozen=True, slots=True)
class Table:
    """The RFM table: thresholds per measure and each member's scores."""

    frequency: tuple[int, int] | None
    monetary: tuple[int, int] | None
    width: tuple[int, int] | None
    scores: dict[str, Scores]

    def counts(self) -> dict[str, dict[str, int]]:
        """Members per band, per score of each measure and per group (zeros included)."""
        out: dict[str, dict[str, int]] = {
            "recency": dict.fromkeys(("active", "dormant", "lapsed", "none"), 0),
            "frequency": dict.fromkeys("123", 0),
            "monetary": dict.fromkeys("123", 0),
            "width": dict.fromkeys("123", 0),
            "groups": dict.fromkeys((name for name, _ in GROUP_RULES), 0),
        }
        for s in self.scores.values():
            out["recency"][s.band] += 1
            out["frequency"][str(s.f)] += 1
            out["monetary"][str(s.m)] += 1
            out["width"][str(s.w)] += 1
            out["groups"][s.group] += 1
        return out


def table(measures: dict[str, Measures]) -> Table:
    buyers = [m for m in measures.values() if m.orders > 0]
    f_cut = terciles([m.orders for m in buyers])
    m_cut = terciles([m.spend for m in buyers])
    w_cut = terciles([m.categories for m in buyers])
    scores = {}
    for m in measures.values():
        buyer = m.orders > 0
        r = band(m.recency_days)
        f = score(m.orders, f_cut, buyer=buyer)
        s = score(m.spend, m_cut, buyer=buyer)
        w = score(m.categories, w_cut, buyer=buyer)
        scores[m.member_id] = Scores(r, f, s, w, group(r, f, s, m.registered_days, m.orders))
    return Table(f_cut, m_cut, w_cut, scores)


def matches(rule: SegmentFilter, m: Measures, group_name: str) -> bool:
    """Whether a member meets every condition of a segment's filter."""

    def within(value: int | None, low: int | None, high: int | None) -> bool:
        if value is None:
            return False
        return (low is None or value >= low) and (high is None or value <= high)

    checks = [
        rule.recency_days is None
        or within(m.recency_days, rule.recency_days.min, rule.recency_days.max),
        rule.orders is None or within(m.orders, rule.orders.min, rule.orders.max),
        rule.spend is None or within(m.spend, rule.spend.min, rule.spend.max),
        rule.categories is None or m.categories >= rule.categories.min,
        rule.tiers is None or m.tier in rule.tiers,
        rule.registered_days is None or m.registered_days <= rule.registered_days.max,
        rule.birthday_month is None
        or (m.birthday is not None and int(m.birthday[:2]) == rule.birthday_month),
        rule.group is None or group_name == rule.group,
    ]
    return all(checks)
