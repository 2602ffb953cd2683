"""Every `LOADTEST_*` variable the scenarios read, in one place (the driver reads its own too).

The master reads these when it sets the campaigns up; workers need none of them: the set-up
reaches them inside Locust's spawn message (see `fixture`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field


def _int(name: str, default: int) -> int:
    raw = os.environ.get(name, "")
    try:
        return int(raw) if raw else default
    except ValueError:
        raise SystemExit(f"{name} must be an integer, got {raw!r}") from None


def _float(name: str, default: float) -> float:
    raw = os.environ.get(name, "")
    try:
        return float(raw) if raw else default
    except ValueError:
        raise SystemExit(f"{name} must be a number, got {raw!r}") from None


def weights() -> dict[str, int]:
    """`LOADTEST_WEIGHTS="FlashClaimer=10,Shopper=4,Clerk=1,PageClaimer=2,RewardShopper=3"`: the
    mix of user classes (PageClaimer: members claiming through the claim page,
    `POST /claim/{id}`; RewardShopper: invited friends and friends given coupons, ordering while
    the programme's rewards run).

    The Operator is always exactly one user (`fixed_count`), whatever the weights.
    """
    mix = {"FlashClaimer": 10, "Shopper": 4, "Clerk": 1, "PageClaimer": 2, "RewardShopper": 3}
    for part in filter(None, os.environ.get("LOADTEST_WEIGHTS", "").split(",")):
        name, _, value = part.partition("=")
        if name.strip() not in mix or not value.strip().isdigit():
            raise SystemExit(f"LOADTEST_WEIGHTS: cannot read {part!r} (classes: {sorted(mix)})")
        mix[name.strip()] = int(value)
    return mix


@dataclass(frozen=True, slots=True)
class SetupConfig:
    """What the master needs to create the day's campaigns."""

    #: Coupons of the flash campaign at the start (it should sell out during the run).
    flash_stock: int = field(default_factory=lambda: _int("LOADTEST_STOCK", 5000))
    #: How much the Operator adds each time it restocks, and how many times at most.
    restock: int = field(default_factory=lambda: _int("LOADTEST_RESTOCK", 0))
    restocks: int = field(default_factory=lambda: _int("LOADTEST_RESTOCKS", 2))
    #: Stock and per-member limit of the shop campaign that Shoppers claim and redeem.
    shop_stock: int = field(default_factory=lambda: _int("LOADTEST_SHOP_STOCK", 1_000_000))
    shop_limit: int = field(default_factory=lambda: _int("LOADTEST_SHOP_LIMIT", 100))
    #: Stock of the in-store campaign that Clerks grant.
    store_stock: int = field(default_factory=lambda: _int("LOADTEST_STORE_STOCK", 100_000))
    #: `LOADTEST_REWARDS=0`: the programme's rewards are left as they are (no reward campaigns;
    #: friends are still invited and given coupons), e.g. to compare commit latency.
    rewards: bool = field(default_factory=lambda: os.environ.get("LOADTEST_REWARDS", "1") != "0")
    #: Stock of each reward campaign the programme names (welcome, first order, referral,
    #: transfer), and of the spend step's, kept small so that some of its rewards are refused
    #: `sold_out`; the order total (cents) that reaches the spend step.
    reward_stock: int = field(default_factory=lambda: _int("LOADTEST_REWARD_STOCK", 1_000_000))
    reward_small_stock: int = field(default_factory=lambda: _int("LOADTEST_REWARD_SMALL_STOCK", 40))
    spend_step_min_paid: int = field(
        default_factory=lambda: _int("LOADTEST_SPEND_STEP_MIN_PAID", 48800)
    )
    #: Stock of the transferable campaign that RewardShoppers' hosts claim and give to friends.
    gift_stock: int = field(default_factory=lambda: _int("LOADTEST_GIFT_STOCK", 1_000_000))
    #: Seconds between two Operator polls of the stats.
    operator_poll_s: float = field(default_factory=lambda: _float("LOADTEST_OPERATOR_POLL_S", 1.0))
    #: Longest pause of a FlashClaimer between two claims (0: press as fast as possible).
    claim_wait_s: float = field(default_factory=lambda: _float("LOADTEST_CLAIM_WAIT_S", 0.1))
    #: A label that prefixes member and order ids, so that runs never collide.
    run_id: str = field(default_factory=lambda: os.environ.get("LOADTEST_RUN_ID", ""))


@dataclass(frozen=True, slots=True)
class Keys:
    """API keys per role: `LOADTEST_<ROLE>_KEY`, or created with the gateway CLI when
    `LOADTEST_CREATE_KEYS=1` (needs the deployment's GATEWAY_DATABASE_URL on this machine)."""

    admin: str
    front: str
    clerk: str
    checkout: str

    @classmethod
    def from_env(cls) -> Keys:
        found = {role: os.environ.get(f"LOADTEST_{role.upper()}_KEY", "") for role in ROLES}
        missing = [role for role, key in found.items() if not key]
        if missing and os.environ.get("LOADTEST_CREATE_KEYS") == "1":
            found.update({role: _create_key(role) for role in missing})
        elif missing:
            names = ", ".join(f"LOADTEST_{role.upper()}_KEY" for role in missing)
            raise SystemExit(f"set {names} (or LOADTEST_CREATE_KEYS=1 to create them)")
        return cls(**found)


ROLES = ("admin", "front", "clerk", "checkout")


def _create_key(role: str) -> str:
    import subprocess
    import sys

    result = subprocess.run(
        [sys.executable, "-m", "gateway", "keys", "create", "--role", role],
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    )
    return result.stdout.strip()
