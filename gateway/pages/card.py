"""The wallet's member card, as words: the tier and the progress to the next one (升级), what
keeps it (保级), the points and their next expiry, the recent history. Pure functions of the
API's `Member` and points `History` (the wallet reads each once), per language."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, tzinfo

from gateway.i18n import Language, text
from gateway.members.schemas import Member
from gateway.pages.offers import local_time, yuan
from gateway.points.schemas import Entry

#: How many of the newest points entries the wallet shows.
HISTORY_SHOWN = 20


@dataclass(frozen=True, kw_only=True)
class Progress:
    """The bar towards the next tier: the spend of the last 12 months against its threshold."""

    spend: int
    threshold: int
    words: str


@dataclass(frozen=True, kw_only=True)
class HistoryLine:
    kind: str
    words: str
    points: str
    sign: str  # "plus", "minus" or "zero": the line's colour
    at: str
    note: str


@dataclass(frozen=True, kw_only=True)
class Card:
    tier: str
    tier_name: str
    since: str
    spend: str
    progress: Progress | None
    top: str | None
    keep: str | None
    balance: int
    pending: int
    expiry: str | None
    history: list[HistoryLine]


def local_date(value: str, zone: tzinfo) -> str:
    """An RFC 3339 time as its local date: "2026-12-31"."""
    return datetime.fromisoformat(value).astimezone(zone).strftime("%Y-%m-%d")


def card(member: Member, entries: list[Entry], lang: Language, zone: tzinfo) -> Card:
    tier_name = text(f"tier.{member.tier}", lang)
    progress = None
    top = None
    if member.next_tier is not None:
        goal = member.next_tier
        goal_name = text(f"tier.{goal.tier}", lang)
        words = (
            text("wallet.card.next", lang, amount=yuan(goal.spend_needed), tier=goal_name)
            if goal.spend_needed > 0
            else text("wallet.card.next_reached", lang, tier=goal_name)
        )
        # A reached threshold fills the bar; a <progress> needs a max above 0.
        threshold = max(member.spend_12m + goal.spend_needed, 1)
        spend = threshold if goal.spend_needed == 0 else member.spend_12m
        progress = Progress(spend=spend, threshold=threshold, words=words)
    elif member.tier == "diamond":
        top = text("wallet.card.top", lang)
    keep = None
    if member.keep_tier is not None:
        until = local_date(member.keep_tier.until, zone)
        keep = (
            text(
                "wallet.card.keep",
                lang,
                date=until,
                amount=yuan(member.keep_tier.spend_needed),
                tier=tier_name,
            )
            if member.keep_tier.spend_needed > 0
            else text("wallet.card.kept", lang, date=until, tier=tier_name)
        )
    points = member.points
    expiry = None
    if points.next_expiry is not None:
        expiry = text(
            "wallet.points.expiry",
            lang,
            n=points.next_expiry.points,
            date=local_date(points.next_expiry.at, zone),
        )
    return Card(
        tier=member.tier,
        tier_name=tier_name,
        since=text("wallet.card.since", lang, date=local_date(member.tier_since, zone)),
        spend=text("wallet.card.spend", lang, amount=yuan(member.spend_12m)),
        progress=progress,
        top=top,
        keep=keep,
        balance=points.balance,
        pending=points.pending,
        expiry=expiry,
        history=[history_line(entry, lang, zone) for entry in entries[:HISTORY_SHOWN]],
    )


def history_line(entry: Entry, lang: Language, zone: tzinfo) -> HistoryLine:
    """One move of the member's points: its kind in words, the points signed, when."""
    sign = "plus" if entry.points > 0 else "minus" if entry.points < 0 else "zero"
    note = ""
    if entry.counterparty and entry.kind in ("transfer_in", "transfer_out"):
        note = text("wallet.points.with", lang, id=entry.counterparty)
    return HistoryLine(
        kind=entry.kind,
        words=text(f"points.kind.{entry.kind}", lang),
        points=f"{entry.points:+d}" if entry.points else "0",
        sign=sign,
        at=local_time(entry.at, zone),
        note=note,
    )
