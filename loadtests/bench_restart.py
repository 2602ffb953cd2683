"""A gateway restarted in the middle of a sale: time from `gateway serve` to the first 201.

On an isolated stack (tests/stack.py: its own Redis with AOF and Postgres), a generated ledger
of `--campaigns` live campaigns holding `--coupons` claimed coupons in all. Then:

1. `gateway reconcile` rebuilds every campaign's hot state: what `serve` did before it listened
   until issue 10 (the baseline);
2. Redis is restarted (every hot state now reads as built for another run) and the gateway is
   started: the time to /readyz and to the first 201 on one campaign (its lazy rebuild included).

    .venv/bin/python loadtests/bench_restart.py --campaigns 200 --coupons 2300000
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from loadtests.ledger_fixture import generate_ledger  # noqa: E402
from tests.stack import Stack  # noqa: E402


def restart_redis(stack: Stack) -> None:
    pid = int((stack.data / "redis" / "redis.pid").read_text())
    os.kill(pid, signal.SIGKILL)
    while Path(f"/proc/{pid}").exists():
        time.sleep(0.01)
    stack.services("start")


async def first_201(stack: Stack, campaign_id: str, key: str) -> tuple[float, float]:
    """Starts the gateway; seconds to /readyz and to the first 201 on `campaign_id`."""
    started = time.monotonic()
    # Blocking on purpose: the clock starts at the exec, nothing else runs on this loop yet.
    with open(stack.data / "gateway.log", "ab") as log:  # noqa: ASYNC230
        stack.gateway = subprocess.Popen(  # noqa: ASYNC220
            [sys.executable, "-m", "gateway", "serve"],
            env=stack.gateway_env(),
            cwd=ROOT,
            stdout=log,
            stderr=log,
            start_new_session=True,
        )
    ready = 0.0
    async with httpx.AsyncClient(base_url=stack.base_url, timeout=5) as http:
        n = 0
        while time.monotonic() - started < 600:
            n += 1
            try:
                if not ready and (await http.get("/readyz")).status_code == 200:
                    ready = time.monotonic() - started
                r = await http.post(
                    f"/v1/campaigns/{campaign_id}/claims",
                    json={"member_id": f"after-restart-{n}", "channel": "online"},
                    headers={"Authorization": f"Bearer {key}"},
                )
                if r.status_code == 201:
                    return ready, time.monotonic() - started
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.01)
    raise RuntimeError("no 201 within 10 minutes")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--campaigns", type=int, default=200)
    parser.add_argument("--coupons", type=int, default=2_300_000)
    args = parser.parse_args()
    each = args.coupons // args.campaigns
    stack = Stack("bench-restart")
    stack.services("start")
    try:
        stack.cli("migrate")
        t = time.monotonic()
        ids = await generate_ledger(stack.database_url, "gen", args.campaigns, each, each * 2)
        took = time.monotonic() - t
        print(f"ledger: {args.campaigns} campaigns x {each} coupons in {took:.1f} s")
        key = stack.cli("keys", "create", "--role", "admin")
        t = time.monotonic()
        stack.cli("reconcile")
        reconcile_s = time.monotonic() - t
        restart_redis(stack)
        ready_s, first_s = await first_201(stack, ids[len(ids) // 2], key)
        stack.kill_gateway()
        print(
            f"\n| ledger | `gateway reconcile` (serve before issue 10) | serve: /readyz | "
            f"serve: first 201 (lazy rebuild included) |\n| --- | ---: | ---: | ---: |\n"
            f"| {args.campaigns} campaigns, {args.campaigns * each:,} coupons | "
            f"{reconcile_s:.1f} s | {ready_s:.1f} s | {first_s:.1f} s |"
        )
    finally:
        stack.destroy()


if __name__ == "__main__":
    asyncio.run(main())
