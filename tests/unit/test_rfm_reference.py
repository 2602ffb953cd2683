"""The RFM rules of `gateway.segments.reference` on hand-made members: the window's edges,
refunds, the tercile positions and their ties, the bands' edges and the groups' order.
(tests/integration/test_segments.py holds the SQL to this reference over a generated history.)"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import msgspec
from hypothesis import given
from hypothesis import strategies as st

from gateway.segments.reference import (
    Line,
    Measures,
    Member,
    Order,
    band,
    group,
    matches,
    measure,
    score,
    table,
    terciles,
)
from gateway.segments.schemas import SegmentFilter

SHANGHAI = ZoneInfo("Asia/Shanghai")
# 2027-05-10 20:00 in Shanghai.
AS_OF = datetime(2027, 5, 10, 12, 0, tzinfo=UTC)


def local(day: str, hour: int = 12) -> datetime:
    return datetime.fromisoformat(f"{day}T{hour:02d}:00:00+08:00")


def member(member_id: str, registered: str = "2020-01-01", **kw: str | None) -> Member:
    tier = kw.get("tier") or "standard"
    return Member(member_id, tier, kw.get("birthday"), local(registered))


def order(
    member_id: str, at: datetime, paid: int = 1000, *lines: Line, whole: bool = False
) -> Order:
    return Order(member_id, at, paid, whole, lines or (Line("tops", 1, 0),))


def test_the_window_is_365_local_days_ending_with_as_ofs_day() -> None:
    members = [member("a"), member("b"), member("c"), member("d")]
    orders = [
        order("a", local("2026-05-11", 0)),  # the first day of the window, at local midnight
        order("b", local("2026-05-10", 23)),  # the day before it
        order("c", local("2027-05-10", 23)),  # later on as_of's own day: a day counts whole
        order("d", local("2027-05-11", 0)),  # the day after
    ]
    found = measure(members, orders, AS_OF, SHANGHAI)
    assert (found["a"].orders, found["a"].recency_days) == (1, 364)
    assert (found["b"].orders, found["b"].recency_days) == (0, None)
    assert (found["c"].orders, found["c"].recency_days) == (1, 0)
    assert (found["d"].orders, found["d"].recency_days) == (0, None)


def test_refunds_take_orders_spend_and_categories_away() -> None:
    orders = [
        order("a", local("2027-05-01"), 5000, Line("shoes", 1, 0), whole=True),
        order("a", local("2027-04-01"), 700, Line("tops", 2, 1), Line("bags", 1, 1)),
    ]
    found = measure([member("a")], orders, AS_OF, SHANGHAI)["a"]
    # The whole refund is no order and moves recency back; the bag's every unit went back.
    assert (found.orders, found.spend, found.recency_days, found.categories) == (1, 700, 39, 1)


def test_members_registered_after_as_of_are_not_in_the_base() -> None:
    late = Member("late", "gold", None, AS_OF + timedelta(seconds=1))
    found = measure([member("a"), late], [], AS_OF, SHANGHAI)
    assert set(found) == {"a"}
    assert found["a"].registered_days == (date(2027, 5, 10) - date(2020, 1, 1)).days


def test_terciles_are_the_values_at_ceil_n_over_3_and_ceil_2n_over_3() -> None:
    assert terciles([]) is None
    assert terciles([7]) == (7, 7)
    assert terciles([3, 1, 2]) == (1, 2)
    assert terciles([6, 5, 4, 3, 2, 1]) == (2, 4)
    assert terciles([1, 2, 3, 4, 5, 6, 7]) == (3, 5)


def test_ties_share_the_lower_score_and_the_top_third_may_be_empty() -> None:
    values = [1, 1, 1, 1, 2, 3]
    cut = terciles(values)
    assert cut == (1, 1)
    assert [score(v, cut, buyer=True) for v in values] == [1, 1, 1, 1, 3, 3]
    flat = [5] * 6
    assert {score(v, terciles(flat), buyer=True) for v in flat} == {1}
    # Somebody who never ordered scores 1 whatever the value compared.
    assert score(10**9, (1, 2), buyer=False) == 1


@given(st.lists(st.integers(min_value=0, max_value=50), min_size=1, max_size=200))
def test_each_threshold_is_the_smallest_value_covering_its_share(values: list[int]) -> None:
    cut = terciles(values)
    assert cut is not None
    n = len(values)
    for threshold, share in zip(cut, (-(-n // 3), -(-2 * n // 3)), strict=True):
        assert sum(v <= threshold for v in values) >= share
        assert sum(v < threshold for v in values) < share
    scores = [score(v, cut, buyer=True) for v in values]
    for v, s in zip(values, scores, strict=True):  # a score depends on the value alone
        assert all(s2 == s for v2, s2 in zip(values, scores, strict=True) if v2 == v)


@given(st.sets(st.integers(min_value=0, max_value=10**6), min_size=1, max_size=200))
def test_distinct_values_split_into_thirds_of_ceil_sizes(distinct: set[int]) -> None:
    values = list(distinct)
    n = len(values)
    cut = terciles(values)
    counts = [sum(score(v, cut, buyer=True) == s for v in values) for s in (1, 2, 3)]
    assert counts == [-(-n // 3), -(-2 * n // 3) - -(-n // 3), n - -(-2 * n // 3)]


def test_recency_bands_at_their_edges() -> None:
    edges = {0: "active", 90: "active", 91: "dormant", 180: "dormant", 181: "lapsed",
             360: "lapsed", 361: "none", 364: "none", None: "none"}  # fmt: skip
    assert {days: band(days) for days in edges} == edges


def test_a_member_is_in_the_first_group_that_matches() -> None:
    # (band, F, M, registered days, orders) -> group
    cases = {
        ("active", 3, 3, 1000, 9): "champions",  # also loyal
        ("active", 2, 3, 1000, 4): "loyal",
        ("dormant", 3, 3, 1000, 9): "big_spenders",  # also at risk
        ("none", 1, 3, 1000, 1): "big_spenders",
        ("dormant", 2, 1, 1000, 3): "at_risk",
        ("lapsed", 3, 2, 10, 5): "lapsed",
        ("lapsed", 1, 3, 10, 1): "big_spenders",
        ("active", 1, 1, 30, 1): "new",
        ("none", 1, 1, 30, 0): "new",
        ("none", 1, 1, 31, 0): "others",
        ("active", 1, 2, 3, 2): "others",  # two orders: not new any more
        ("dormant", 1, 2, 1000, 1): "others",
    }
    for (r, f, m, days, orders), expected in cases.items():
        assert group(r, f, m, days, orders) == expected, (r, f, m, days, orders)


def test_the_table_scores_buyers_by_terciles_and_others_as_1() -> None:
    members = [member(name, "2027-05-01") for name in "abcdef"]
    orders = [order("a", local("2027-05-09"), 100 * k) for k in range(1, 4)]
    orders += [order("b", local("2027-05-09"), 50), order("c", local("2026-12-01"), 9000)]
    orders += [order("c", local("2026-12-02"), 1)]
    result = table(measure(members, orders, AS_OF, SHANGHAI))
    assert result.frequency == (1, 2) and result.monetary == (50, 600)
    got = {k: (s.band, s.f, s.m, s.group) for k, s in result.scores.items()}
    assert got == {
        "a": ("active", 3, 2, "loyal"),
        "b": ("active", 1, 1, "new"),
        "c": ("dormant", 2, 3, "big_spenders"),
        "d": ("none", 1, 1, "new"),
        "e": ("none", 1, 1, "new"),
        "f": ("none", 1, 1, "new"),
    }
    assert sum(result.counts()["groups"].values()) == 6


def test_filters_match_like_the_api_says() -> None:
    buyer = Measures("a", "gold", "02-29", 40, 3, 12000, 100, 2)
    never = Measures("b", "silver", None, 5, 0, 0, None, 0)

    def rule(**raw: object) -> SegmentFilter:
        return msgspec.convert(raw, SegmentFilter)

    assert matches(rule(), never, "new")
    assert matches(rule(recency_days={"min": 91, "max": 180}), buyer, "at_risk")
    assert not matches(rule(recency_days={"max": 400}), never, "new")  # no order: no recency
    assert matches(rule(orders={"max": 0}, spend={"max": 0}), never, "new")
    assert not matches(rule(categories={"min": 3}), buyer, "others")
    assert matches(rule(tiers=["gold", "diamond"], birthday_month=2), buyer, "others")
    assert not matches(rule(birthday_month=2), never, "new")
    assert matches(rule(registered_days={"max": 5}, group="new"), never, "new")
    assert not matches(rule(group="new"), buyer, "at_risk")
