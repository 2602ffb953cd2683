"""Idle cost (issue 11, item 4; DESIGN.md "Idle cost"): what the gateway spends when nobody
calls it, and per claim, with 10 live campaigns and with 10,000 more beside them.

On a stack of its own (tests/stack.py: Redis and Postgres under .data/, on free ports), so the
generated campaigns never reach the development database. The campaigns are rows written by
Postgres in one statement (loadtests/ledger_fixture.py), live, without coupons. For each case:
the server's processes' CPU (granian and its worker, from /proc, as `bench.py` reads it) over
`--idle` seconds once the first recovery pass is over, then the CPU per claim under wrk
(`bench.measure`). With `--before REF`, the same of git REF's tree (its own native build, as
`bench.py --before` makes it), alternated with this tree's. Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import os
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from loadtests.ledger_fixture import generate_ledger  # noqa: E402 - after the path fix above
from tests.stack import Stack  # noqa: E402 - same

SETTLE_S = 5.0


def bench_module(stack: Stack) -> ModuleType:
    """`loadtests/bench.py`, pointed at the stack (it reads its URLs when imported)."""
    os.environ.update(
        GATEWAY_REDIS_URL=stack.redis_url,
        GATEWAY_DATABASE_URL=stack.database_url,
        GATEWAY_DATA_DIR=str(stack.data),
    )
    return importlib.import_module("loadtests.bench")


def one_case(bench: ModuleType, label: str, cwd: Path, idle_s: float) -> dict[str, Any]:
    bench.log(f"{label}: idle for {idle_s:.0f} s, then claims")
    server = bench.Server([sys.executable, "-m", "gateway", "serve"], cwd=cwd)
    try:
        time.sleep(SETTLE_S)  # start-up and the first recovery pass
        before, started = bench.stack_cpu(server), time.monotonic()
        time.sleep(idle_s)
        after, elapsed = bench.stack_cpu(server), time.monotonic() - started
        idle = {part: (after[part] - before[part]) / elapsed for part in after}
        key = bench.cli("keys", "create", "--role", "admin")
        campaign_id = bench.new_campaign({"Authorization": f"Bearer {key}"}, 100_000_000, label)
        url = bench.BASE + bench.CLAIM_PATH.format(campaign_id)
        claims = bench.measure(url, "claims.lua", f"i{uuid.uuid4().hex[:6]}", key, server=server)
    finally:
        server.stop()
    return {"idle": idle, "claims": claims}


def table_row(label: str, r: dict[str, Any]) -> str:
    idle, claims = r["idle"], r["claims"]
    return (
        f"| {label} | {idle['server'] * 100:.1f}% | {idle['redis'] * 100:.1f}% "
        f"| {idle['postgres'] * 100:.1f}% | {claims['rps']:,.0f} "
        f"| {claims['cpu_us']['server']:.0f} | {sum(claims['cpu_us'].values()):.0f} |"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--campaigns", type=int, default=10_000, help="live campaigns added")
    parser.add_argument("--idle", type=float, default=10.0, help="seconds of idle measured")
    parser.add_argument("--before", metavar="REF", help="also measure git REF's tree")
    args = parser.parse_args()
    stack = Stack("bench-idle")
    stack.services("start")
    stack.cli("migrate")
    try:
        bench = bench_module(stack)
        trees = [("this tree", ROOT)]
        if args.before:
            trees.insert(0, (args.before, bench.build_tree(args.before)))
        rows = []
        for count, prefix, label in (
            (10, "few", "10 live campaigns"),
            (args.campaigns, "many", f"{args.campaigns + 10:,} live campaigns"),
        ):
            asyncio.run(generate_ledger(stack.database_url, prefix, count, 0, 1000))
            for tree, cwd in trees:
                rows.append(table_row(f"{tree}, {label}", one_case(bench, label, cwd, args.idle)))
    finally:
        stack.destroy()
    command = "`.venv/bin/python loadtests/bench_idle.py" + (
        f" --before {args.before}`" if args.before else "`"
    )
    print(
        "\n".join(
            [
                f"Command: {command} ({datetime.now(UTC):%Y-%m-%d %H:%M} UTC; one granian "
                f"worker; idle: {args.idle:.0f} s after {SETTLE_S:.0f} s of start-up; claims: "
                "wrk as in `make bench`).",
                "",
                "| case | idle server CPU | idle Redis CPU | idle Postgres CPU | claims/s "
                "| server µs per claim | stack µs per claim |",
                "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
                *rows,
            ]
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
