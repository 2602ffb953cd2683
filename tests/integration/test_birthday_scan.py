"""The birthday half of the rewards scan (migration 019: the window's days matched against an
index of birthdays) against the rule in plain Python, day by day around the turn of February in
common and leap years and around the new year, in Asia/Shanghai.

The rule (API.md, programme.schemas.BirthdayReward): a member's birthday reward of year y is
due from `days_before` local days before its birthday in y up to the day itself; a 02-29
birthday is celebrated on 02-28 in common years. Everything runs in one transaction that is
rolled back (savepoints per day), so no worker sees the rows.
"""

from __future__ import annotations

import calendar
from datetime import date, datetime, time, timedelta

import asyncpg
import pytest

from gateway.wire import zone
from tests.conftest import unique
from tests.integration.points_helpers import SET_PROGRAMME

BIRTHDAYS = ["01-01", "01-02", "02-27", "02-28", "02-29", "03-01", "03-02", "12-30", "12-31"]
DAYS_BEFORE = [0, 3, 30]


def due(birthday: str, today: date, days_before: int) -> set[str]:
    """The occasions of the birthday's rewards due on `today`, by the rule."""
    month, day = (int(part) for part in birthday.split("-"))
    occasions = set()
    for year in (today.year, today.year + 1):
        if (month, day) == (2, 29) and not calendar.isleap(year):
            celebrated = date(year, 2, 28)
        else:
            celebrated = date(year, month, day)
        if celebrated - timedelta(days=days_before) <= today <= celebrated:
            occasions.add(f"birthday:{year}")
    return occasions


def days() -> list[date]:
    around = [date(2027, 2, 20), date(2028, 2, 20), date(2026, 12, 25), date(2028, 12, 25)]
    return [start + timedelta(days=n) for start in around for n in range(12)]


@pytest.mark.parametrize("days_before", DAYS_BEFORE)
async def test_the_scan_makes_due_exactly_the_birthdays_the_rule_says(
    db: asyncpg.Pool, days_before: int
) -> None:
    prefix = unique("bd")
    members = {f"{prefix}-{b}": b for b in BIRTHDAYS}
    body = {"rewards": {"birthday": {"campaign_id": "cmp_birthday", "days_before": days_before}}}
    async with db.acquire() as conn:
        tr = conn.transaction()
        await tr.start()
        try:
            await conn.execute(
                SET_PROGRAMME,
                body,
            )
            await conn.executemany(
                "INSERT INTO members (member_id, tier, birthday) VALUES ($1, 'standard', $2)",
                list(members.items()),
            )
            for today in days():
                noon = datetime.combine(today, time(12), zone())
                day = conn.transaction()
                await day.start()
                try:
                    await conn.fetchval("SELECT gw_rewards_scan($1, $2)", noon, str(zone()))
                    rows = await conn.fetch(
                        """SELECT member_id, occasion FROM reward_due
                           WHERE member_id LIKE $1 || '%' AND kind = 'birthday'""",
                        prefix,
                    )
                finally:
                    await day.rollback()
                got = {(r["member_id"], r["occasion"]) for r in rows}
                expected = {
                    (member, occasion)
                    for member, birthday in members.items()
                    for occasion in due(birthday, today, days_before)
                }
                assert got == expected, (today, days_before)
        finally:
            await tr.rollback()


def test_the_rule_has_the_cases_it_is_meant_to() -> None:
    """The reference itself: 02-29 on 02-28 in common years, the birthday of next year across
    the new year."""
    assert due("02-29", date(2027, 2, 28), 0) == {"birthday:2027"}
    assert due("02-29", date(2028, 2, 28), 0) == set()
    assert due("02-29", date(2028, 2, 29), 0) == {"birthday:2028"}
    assert due("01-02", date(2026, 12, 31), 3) == {"birthday:2027"}
