"""A grant job to 100,000 members (issue 14), beside the claim path's rate in the same run.

On an isolated stack (tests/stack.py: its own Redis and Postgres, a gateway of
`BENCH_WORKERS` workers, default 1 like `make bench`): 100,000 registered members and a saved
segment of all of them; then
(1) the claim path: wrk (1 thread, 64 connections, `loadtests/claims.lua`, unique members) on a
    live campaign, a warm-up then the measured run: claims per second;
(2) the grant job: `POST /v1/campaigns/{id}/grants` with the segment → 202 (how long the job
    takes to be made: the members listed into `job_members` in the request's transaction), then
    `GET /v1/jobs/{id}` until `done`: grants per second from the job's own `started_at` and
    `finished_at`, checked against the ledger (coupons == granted);
(3) the claim path again (the machine's load moves between runs: the two claim runs bracket
    the job).
Each with the CPU the stack spent per claim or grant (gateway, Postgres, Redis).
Appends (or replaces) "## Grant jobs (issue 14)" in docs/BENCHMARKS.md; `--print` only prints.

    .venv/bin/python loadtests/bench_grant_job.py [--members 100000] [--print]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from loadtests.bench import parts_cpu  # noqa: E402 - after the path fix above
from tests.stack import Stack  # noqa: E402 - after the path fix above

DURATION = int(os.environ.get("BENCH_DURATION", "10"))
WARMUP = int(os.environ.get("BENCH_WARMUP", "3"))
WORKERS = os.environ.get("BENCH_WORKERS", "1")
CONNECTIONS = 64
SECTION = "Grant jobs (issue 14)"
MEMBERS_SQL = """
INSERT INTO members (member_id, tier)
SELECT 'bj-' || lpad(i::text, 7, '0'), 'standard' FROM generate_series(1, $1) AS i
"""


def log(message: str) -> None:
    print(f"bench_grant_job: {message}", file=sys.stderr, flush=True)


def campaign_body(stock: int, name: str) -> dict[str, Any]:
    now = datetime.now(UTC)
    return {
        "name": name,
        "kind": "amount",
        "amount_off": 1000,
        "channels": ["online", "store"],
        "claim_starts_at": (now - timedelta(minutes=5)).isoformat(),
        "claim_ends_at": (now + timedelta(days=1)).isoformat(),
        "validity": {"mode": "relative", "days": 7},
        "stock": stock,
        "per_member_limit": 1,
        "transferable": True,
    }


def new_campaign(http: httpx.Client, stock: int, name: str) -> str:
    created = http.post("/v1/campaigns", json=campaign_body(stock, name))
    created.raise_for_status()
    campaign_id = str(created.json()["id"])
    http.post(f"/v1/campaigns/{campaign_id}/publish").raise_for_status()
    return campaign_id


def wrk(url: str, key: str, run: str, duration: int) -> dict[str, Any]:
    command = [
        "wrk",
        "-t1",
        f"-c{CONNECTIONS}",
        f"-d{duration}s",
        "--latency",
        "-s",
        str(ROOT / "loadtests" / "claims.lua"),
        url,
        "--",
        run,
        key,
    ]
    out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]

    def pct(label: str) -> float:
        m = re.search(rf"^\s+{label}%\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
        assert m is not None, out
        return float(m.group(1)) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[m.group(2)]

    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    return {
        "rps": rps,
        "p50": pct("50"),
        "p99": pct("99"),
        "non2xx": int(non2xx.group(1)) if non2xx else 0,
    }


def stack_cpu(stack: Stack) -> dict[str, float]:
    """CPU seconds used so far by the gateway's processes, its Postgres and its Redis."""
    assert stack.gateway is not None
    postmaster = int((stack.data / "pg" / "postmaster.pid").read_text().split()[0])
    return parts_cpu(stack.gateway.pid, postmaster, stack.redis_port)


def cpu_per(before: dict[str, float], after: dict[str, float], n: int) -> dict[str, float]:
    """µs of CPU per operation, by part of the stack."""
    return {part: (after[part] - before[part]) * 1e6 / max(n, 1) for part in after}


def claims_rate(stack: Stack, http: httpx.Client, key: str) -> dict[str, Any]:
    campaign_id = new_campaign(http, 100_000_000, "bench claims")
    url = f"{stack.base_url}/v1/campaigns/{campaign_id}/claims"
    wrk(url, key, f"w{uuid.uuid4().hex[:6]}", WARMUP)
    before = stack_cpu(stack)
    result = wrk(url, key, f"b{uuid.uuid4().hex[:6]}", DURATION)
    result["cpu_us"] = cpu_per(before, stack_cpu(stack), int(result["rps"] * DURATION))
    return result


def grant_job(stack: Stack, http: httpx.Client, segment_id: str, members: int) -> dict[str, Any]:
    campaign_id = new_campaign(http, members * 2, "bench grant job")
    before = stack_cpu(stack)
    asked = time.monotonic()
    made = http.post(
        f"/v1/campaigns/{campaign_id}/grants",
        json={"segment_id": segment_id, "channel": "store"},
        timeout=300,
    )
    made.raise_for_status()
    created_s = time.monotonic() - asked
    job_id = made.json()["job_id"]
    while True:
        job = http.get(f"/v1/jobs/{job_id}").json()
        if job["state"] != "running":
            break
        time.sleep(0.2)
    wall_s = time.monotonic() - asked
    cpu_us = cpu_per(before, stack_cpu(stack), job["done"])
    started = datetime.fromisoformat(job["started_at"])
    finished = datetime.fromisoformat(job["finished_at"])
    job_s = (finished - started).total_seconds()
    return {
        "campaign_id": campaign_id,
        "job": job,
        "created_s": created_s,
        "job_s": job_s,
        "wall_s": wall_s,
        "grants_per_s": job["done"] / job_s if job_s else float("inf"),
        "cpu_us": cpu_us,
    }


async def _setup(database_url: str, members: int) -> None:
    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute(MEMBERS_SQL, members)
        await conn.execute("ANALYZE members")
    finally:
        await conn.close()


async def _coupons(database_url: str, campaign_id: str) -> int:
    conn = await asyncpg.connect(database_url)
    try:
        count: int = await conn.fetchval(
            "SELECT count(*) FROM coupons WHERE campaign_id = $1", campaign_id
        )
        return count
    finally:
        await conn.close()


def machine() -> str:
    cpus = os.cpu_count()
    load = os.getloadavg()[0]
    return f"{cpus} CPUs, load average {load:.1f} at the start"


def cpu_cells(cpu: dict[str, float]) -> str:
    total = sum(cpu.values())
    return f"{cpu['server']:.0f} | {cpu['postgres']:.0f} | {cpu['redis']:.0f} | {total:.0f}"


def section(members: int, claims: list[dict[str, Any]], job: dict[str, Any], where: str) -> str:
    rejected = job["job"]["rejected"] or {}
    rows = []
    for label, c in zip(("before the job", "after the job"), claims, strict=True):
        rows.append(
            f"| claims, {label} (wrk) | {c['rps']:,.0f} | {c['p50']:.2f} / {c['p99']:.2f} "
            f"| {cpu_cells(c['cpu_us'])} |"
        )
    rows.append(
        f"| grant job, {members:,} members | {job['grants_per_s']:,.0f} | "
        f"| {cpu_cells(job['cpu_us'])} |"
    )
    table = "\n".join(rows)
    claim_rate = sum(c["rps"] for c in claims) / len(claims)
    ratio = job["grants_per_s"] / claim_rate
    return f"""## {SECTION}

Command: `.venv/bin/python loadtests/bench_grant_job.py --members {members}`
({datetime.now(UTC):%Y-%m-%d %H:%M} UTC; {where}; an isolated stack, a gateway of {WORKERS}
worker(s)). The claim path by wrk (1 thread, {CONNECTIONS} connections, {WARMUP} s warm-up then
{DURATION} s, unique members, `loadtests/claims.lua`), before and after the grant job of the same
run: a job to a saved segment of {members:,} registered members, its rate from the job's own
`started_at` and `finished_at` (one worker holds the job's lease and has two batches of 500 on
their way through the claim pipeline at once). CPU: µs per claim or grant spent by the gateway's
processes, Postgres and Redis (a figure a shared machine's noise moves less than the rates).

| case | per s | p50 / p99 ms | server µs | Postgres µs | Redis µs | stack µs |
| --- | ---: | ---: | ---: | ---: | ---: | ---: |
{table}

The job granted {job["job"]["granted"]:,} (rejected: {rejected}; coupons in the ledger:
{job["coupons"]:,}) in {job["job_s"]:.1f} s, {ratio:.2f}× the claim path's rate (the mean of its
two runs). Making it (`POST .../grants` with `segment_id` → 202, the segment's members listed
into `job_members` in the request's transaction) took {job["created_s"]:.2f} s; from the request
to `done`, {job["wall_s"]:.1f} s (the scheduler looks for jobs every second).
A grant costs the stack less CPU than a claim (no HTTP request, role check or answer of its
own; Postgres writes each member's outcome besides the coupon): the job is bound by its
batches' round trips (the claim script, the coupons' ledger commit, the outcomes' statement;
two batches at a time) rather than by CPU, and runs on one worker whatever their number.
"""


def write(text: str) -> None:
    path = ROOT / "docs" / "BENCHMARKS.md"
    old = path.read_text()
    parts = re.split(r"^(?=## )", old, flags=re.M)
    kept = [p for p in parts if p.split("\n", 1)[0][3:].strip() != SECTION]
    path.write_text("".join(kept).rstrip() + "\n\n" + text)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--members", type=int, default=100_000)
    parser.add_argument("--print", action="store_true", help="print, do not write BENCHMARKS.md")
    args = parser.parse_args()
    where = machine()
    stack = Stack("benchjob")
    try:
        log("starting an isolated stack")
        stack.services("start")
        stack.cli("migrate")
        asyncio.run(_setup(stack.database_url, args.members))
        stack.start_gateway(workers=WORKERS, claim_rate_per_member="off")
        key = stack.cli("keys", "create", "--role", "admin")
        headers = {"Authorization": f"Bearer {key}"}
        with httpx.Client(base_url=stack.base_url, headers=headers, timeout=60) as http:
            segment = http.post("/v1/segments", json={"name": "everyone", "filter": {}})
            segment.raise_for_status()
            assert segment.json()["size"] == args.members, segment.text
            log("the claim path (wrk)")
            claims = [claims_rate(stack, http, key)]
            log(f"claims: {claims[0]['rps']:,.0f}/s; the grant job to {args.members:,} members")
            job = grant_job(stack, http, segment.json()["id"], args.members)
            log(f"grant job: {job['grants_per_s']:,.0f}/s; the claim path again")
            claims.append(claims_rate(stack, http, key))
        job["coupons"] = asyncio.run(_coupons(stack.database_url, job["campaign_id"]))
        assert job["coupons"] == job["job"]["granted"], job
    finally:
        stack.destroy()
    text = section(args.members, claims, job, where)
    print(text)
    if not args.print:
        write(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
