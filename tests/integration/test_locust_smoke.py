"""The Locust scenario still runs: a few users for a few seconds, then the consistency check.

Locust (and gevent's monkey-patching) stays out of the pytest process: the driver behind
`make loadtest` runs in a subprocess, single-process Locust, against a private stack.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.stack import ROOT

USER_CLASSES = ("FlashClaimer", "Shopper", "Operator", "Clerk", "PageClaimer", "RewardShopper")
REWARD_CHECKS = (
    "rewards given or refused, none twice",
    "reward coupons",
    "reward occasions",
    "reward points",
)


def test_locust_day_runs_every_user_class_and_passes_the_consistency_check(
    tmp_path: Path,
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GATEWAY_", "LOADTEST_"))}
    env.update(
        LOADTEST_USERS="10",
        LOADTEST_SPAWN_RATE="10",
        LOADTEST_DURATION="6s",
        LOADTEST_PROCESSES="0",
        # Little stock, so that the flash campaign sells out, is restocked, and sells out again.
        LOADTEST_STOCK="60",
        LOADTEST_RESTOCK="30",
        LOADTEST_RESTOCKS="1",
        LOADTEST_OPERATOR_POLL_S="0.5",
        LOADTEST_WEIGHTS="FlashClaimer=3,Shopper=3,Clerk=1,PageClaimer=2,RewardShopper=3",
        # The spend step's reward campaign holds two coupons: later steps are refused sold_out.
        LOADTEST_REWARD_SMALL_STOCK="2",
        LOADTEST_REPORT_DIR=str(tmp_path),
    )
    run = subprocess.run(
        [sys.executable, str(ROOT / "loadtests" / "run_loadtest.py")],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    logs = [tmp_path / "locust-master.log", tmp_path / "gateway.log"]
    assert run.returncode == 0, "\n".join(
        [run.stdout, run.stderr, *(log.read_text()[-3000:] for log in logs if log.exists())]
    )
    verdict = json.loads((tmp_path / "verdict.json").read_text())
    assert verdict["passed"]
    failed = [c for c in verdict["checks"] if not c["ok"]]
    assert not failed, failed
    for name in (
        "stock flash",
        "ledger flash",
        "limits flash",
        "ledger store",
        "ledger gift",
        "reservations",
        *REWARD_CHECKS,
    ):
        assert any(c["name"] == name and c["ok"] for c in verdict["checks"]), name
    for cls in USER_CLASSES:
        assert verdict["per_class"][cls]["ok"] > 0, (cls, verdict["per_class"])
    tally = json.loads((tmp_path / "results.json").read_text())["tally"]
    # The stock and its one restock, all taken, through the API and the claim page.
    assert tally["status|flash claim|201"] + tally.get("status|page claim|201", 0) == 90
    assert tally["status|page load|200"] > 0
    assert tally.get("status|page claim|201", 0) + tally.get("status|page claim|409", 0) > 0
    assert tally.get("status|flash claim|409", 0) > 0  # sold_out, counted as a correct refusal
    assert tally.get("status|shop commit|200", 0) > 0
    # Friends invited and given coupons ordered while the rewards ran.
    assert tally.get("status|friend commit|200", 0) > 0
    assert tally.get("registered|referred", 0) > 0 and tally.get("transferred|gift", 0) > 0
    assert (tmp_path / "loadtest.html").exists()
    assert (tmp_path / "loadtest_stats.csv").exists()
