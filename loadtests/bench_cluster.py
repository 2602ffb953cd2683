"""Issue 15: one hot campaign on a local Redis Cluster beside one Redis node, K = 1 and K = 8.

An isolated stack of the run's own (tests/stack.py: Postgres and one redis-server on free ports
under .data/stack-bench-cluster-<pid>/) plus a Redis Cluster of its own (scripts/cluster.sh: 3
masters + 3 replicas on a free block of ports, same data dir), both destroyed when the run ends.
Two gateways (`gateway serve`, one worker each, GATEWAY_WORKERS to change it) share the
Postgres: one on the single node, one on the cluster (GATEWAY_REDIS_CLUSTER=1). Each round runs,
in alternated order, a wrk storm of unique members (loadtests/claims.lua, 64 connections) on a
fresh campaign of huge stock with `buckets` = 1 and 8 on each, and reads from /proc the CPU
each part spent per claim: the gateway's processes, Postgres (postmaster and backends), and
each redis-server (every master of the cluster by itself, its replicas together).

Then the ledger alone: the group-commit statement WRITE_COUPONS on the same Postgres, batches
of 1..256 rows from 1 and 2 connections: rows/s and Postgres CPU per row.

Prints the Markdown section of docs/BENCHMARKS.md (BENCH_DURATION seconds of storm per case,
default 5; BENCH_ROUNDS rounds, default 2). Only ratios of one run mean anything on a shared
machine, and every shard here shares the same cores (docs/SCALING.md).
"""

from __future__ import annotations

import argparse
import asyncio
import atexit
import json
import os
import platform
import re
import shutil
import signal
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import redis

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from gateway.native import WRITE_COUPONS, bucket_id, key_slot, meta_key  # noqa: E402 - after the path fix above
from loadtests.bench import proc_stats, wrk  # noqa: E402 - same
from tests.stack import Stack, free_cluster_ports, free_port, serve, wait_ready  # noqa: E402 - same

DURATION = int(os.environ.get("BENCH_DURATION", "5"))
WARMUP = int(os.environ.get("BENCH_WARMUP", "2"))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "2"))
BUCKETS = (1, 8)


def log(message: str) -> None:
    print(f"bench_cluster: {message}", file=sys.stderr, flush=True)


def proc_cpu() -> dict[int, tuple[int, int, int, float, bytes]]:
    """pid -> (ppid, pgid, 0, CPU seconds so far, cmdline) of every process we can read."""
    return {pid: (ppid, pgid, 0, s, cmd) for pid, ppid, pgid, s, cmd in proc_stats()}


@dataclass
class Target:
    """One gateway and the Redis it runs on."""

    name: str
    redis_url: str
    cluster: bool
    redis_ports: list[int]
    http_port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"


class Bench:
    def __init__(self) -> None:
        # Postgres and a single redis-server; the cluster is started beside them (start()).
        self.stack = Stack("bench-cluster", cluster=False)
        self.cluster_base = free_cluster_ports()
        self.postmaster = -1
        self.targets: list[Target] = []
        self.key = ""

    # --- servers -------------------------------------------------------------------------
    def cluster_env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")}
        env.update(
            GATEWAY_DATA_DIR=str(self.stack.data),
            GATEWAY_CLUSTER_BASE_PORT=str(self.cluster_base),
        )
        return env

    def cluster(self, action: str) -> None:
        subprocess.run(
            [str(ROOT / "scripts" / "cluster.sh"), action],
            env=self.cluster_env(),
            check=True,
            capture_output=True,
        )

    def start(self) -> None:
        atexit.register(self.stack.destroy)
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
        log(f"stack under {self.stack.data}")
        self.stack.services("start")
        atexit.register(self.cluster, "stop")  # atexit is LIFO: the gateways, the cluster,
        atexit.register(self.stop_gateways)  # then the stack
        log(f"cluster on 127.0.0.1:{self.cluster_base}..{self.cluster_base + 5}")
        self.cluster("start")
        self.postmaster = int((self.stack.data / "pg" / "postmaster.pid").read_text().split()[0])
        self.stack.cli("migrate")
        self.key = self.stack.cli("keys", "create", "--role", "admin")
        self.targets = [
            Target("one node", self.stack.redis_url, False, [self.stack.redis_port]),
            Target(
                "cluster",
                f"redis://127.0.0.1:{self.cluster_base}/0",
                True,
                list(range(self.cluster_base, self.cluster_base + 6)),
            ),
        ]
        for t in self.targets:
            self.serve(t)

    def serve(self, t: Target) -> None:
        env = self.stack.gateway_env()
        env.update(GATEWAY_REDIS_URL=t.redis_url, GATEWAY_PORT=str(t.http_port))
        if t.cluster:
            env["GATEWAY_REDIS_CLUSTER"] = "1"
        log = self.stack.data / f"gateway-{t.http_port}.log"
        t.process = serve(env, log)
        wait_ready(t.process, t.base, log, 90)

    def stop_gateways(self) -> None:
        for t in self.targets:
            if t.process is not None and t.process.poll() is None:
                os.killpg(t.process.pid, signal.SIGTERM)
                try:
                    t.process.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    os.killpg(t.process.pid, signal.SIGKILL)
                    t.process.wait()

    # --- one case ------------------------------------------------------------------------
    def masters(self, t: Target) -> dict[int, list[tuple[int, int]]]:
        """Master port -> its slot ranges (one node: everything)."""
        if not t.cluster:
            return {t.redis_ports[0]: [(0, 16383)]}
        r = redis.Redis(host="127.0.0.1", port=t.redis_ports[0])
        out: dict[int, list[tuple[int, int]]] = {}
        for lo, hi, master, *_ in r.execute_command("CLUSTER SLOTS"):  # type: ignore[no-untyped-call]
            out.setdefault(int(master[1]), []).append((int(lo), int(hi)))
        return out

    def parts(
        self, t: Target, procs: dict[int, tuple[int, int, int, float, bytes]]
    ) -> dict[str, float]:
        assert t.process is not None
        used: dict[str, float] = {"gateway": 0.0, "postgres": 0.0}
        for port in t.redis_ports:
            used[f"redis:{port}"] = 0.0
        for pid, (ppid, pgid, _, seconds, cmdline) in procs.items():
            if pgid == t.process.pid:
                used["gateway"] += seconds
            elif pid == self.postmaster or ppid == self.postmaster:
                used["postgres"] += seconds
            elif cmdline.startswith(b"redis-server "):
                address = cmdline.rstrip(b"\0").split(b" ")[1]
                for port in t.redis_ports:
                    if address == f"127.0.0.1:{port}".encode():
                        used[f"redis:{port}"] += seconds
        return used

    def campaign(self, t: Target, buckets: int) -> str:
        now = datetime.now(UTC)
        admin = {"Authorization": f"Bearer {self.key}"}
        body = {
            "name": f"bench cluster {t.name} K={buckets}",
            "kind": "amount",
            "amount_off": 1000,
            "channels": ["online", "store"],
            "claim_starts_at": (now - timedelta(minutes=5)).isoformat(),
            "claim_ends_at": (now + timedelta(days=1)).isoformat(),
            "validity": {"mode": "relative", "days": 7},
            "stock": 100_000_000,
            "per_member_limit": 1,
            "transferable": True,
            "buckets": buckets,
        }
        created = httpx.post(f"{t.base}/v1/campaigns", json=body, headers=admin)
        created.raise_for_status()
        campaign_id = str(created.json()["id"])
        httpx.post(f"{t.base}/v1/campaigns/{campaign_id}/publish", headers=admin).raise_for_status()
        return campaign_id

    async def coupons(self, campaign_id: str) -> int:
        conn = await asyncpg.connect(self.stack.database_url)
        try:
            return int(
                await conn.fetchval(
                    "SELECT count(*) FROM coupons WHERE campaign_id = $1", campaign_id
                )
            )
        finally:
            await conn.close()

    def case(self, t: Target, buckets: int) -> dict[str, Any]:
        log(f"{t.name}, K = {buckets}")
        campaign_id = self.campaign(t, buckets)
        url = f"{t.base}/v1/campaigns/{campaign_id}/claims"
        wrk(url, "claims.lua", f"w{uuid.uuid4().hex[:6]}", self.key, duration=WARMUP)
        warm = asyncio.run(self.coupons(campaign_id))
        before = self.parts(t, proc_cpu())
        result = wrk(url, "claims.lua", f"m{uuid.uuid4().hex[:6]}", self.key, duration=DURATION)
        claims = round(result["rps"] * DURATION) - result["non2xx"]
        # The ledger's last batches (a 201 waits for its commit: little is left), then the
        # CPU: Postgres' share of the claims is in.
        for _ in range(50):
            if asyncio.run(self.coupons(campaign_id)) >= warm + claims:
                break
            time.sleep(0.1)
        after = self.parts(t, proc_cpu())
        cpu_us = {p: (after[p] - before[p]) * 1e6 / max(claims, 1) for p in after}
        masters = self.masters(t)
        slots = {b: key_slot(meta_key(bucket_id(campaign_id, b))) for b in range(buckets)}
        per_master = {
            port: sum(1 for s in slots.values() if any(lo <= s <= hi for lo, hi in ranges))
            for port, ranges in masters.items()
        }
        return {
            "target": t.name,
            "buckets": buckets,
            "rps": result["rps"],
            "p50": result["p50"],
            "p99": result["p99"],
            "non2xx": result["non2xx"],
            "claims": claims,
            "cpu_us": cpu_us,
            "masters": sorted(masters),
            "buckets_per_master": per_master,
        }

    # --- the ledger alone ----------------------------------------------------------------
    async def ledger(self, campaign_id: str, batch: int, writers: int) -> dict[str, Any]:
        """WRITE_COUPONS in batches of `batch` fresh rows from `writers` connections."""
        conns = [await asyncpg.connect(self.stack.database_url) for _ in range(writers)]
        now_ms = int(time.time() * 1000)
        rows = 0
        stop = time.monotonic() + DURATION / 2

        async def writer(conn: asyncpg.Connection, w: int) -> None:
            nonlocal rows
            stmt = await conn.prepare(WRITE_COUPONS)
            n = 0
            while time.monotonic() < stop:
                codes = [f"L{uuid.uuid4().hex[:12]}" for _ in range(batch)]
                members = [f"lm-{w}-{n + i}" for i in range(batch)]
                n += batch
                await stmt.fetch(
                    codes,
                    [campaign_id] * batch,
                    members,
                    [now_ms] * batch,
                    [now_ms] * batch,
                    [now_ms + 7 * 86_400_000] * batch,
                    ["online"] * batch,
                    ["claim"] * batch,
                    [""] * batch,
                    [""] * batch,
                )
                rows += batch

        try:
            started = time.monotonic()
            before = self.pg_cpu()
            await asyncio.gather(*(writer(c, i) for i, c in enumerate(conns)))
            elapsed = time.monotonic() - started
            cpu = self.pg_cpu() - before
        finally:
            for c in conns:
                await c.close()
        return {
            "batch": batch,
            "writers": writers,
            "rows_s": rows / elapsed,
            "pg_us_row": cpu * 1e6 / max(rows, 1),
            "pg_cores": cpu / elapsed,
        }

    def pg_cpu(self) -> float:
        return sum(
            s
            for pid, (ppid, _, _, s, _) in proc_cpu().items()
            if pid == self.postmaster or ppid == self.postmaster
        )


def machine() -> str:
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    return (
        f"{os.cpu_count()} cores ({cpu}), Linux {platform.release()}, load {os.getloadavg()[0]:.1f}"
    )


def served(us: float, on_master: int, buckets: int) -> str:
    """A master's Redis CPU per claim it served: members spread evenly over the buckets, so it
    served on_master / buckets of the claims."""
    return f" → {us * buckets / on_master:.0f}" if on_master else ""


def report(run: dict[str, Any]) -> str:
    cases, ledger = run["cases"], run["ledger"]
    lines = [
        f"Command: `.venv/bin/python loadtests/bench_cluster.py` (tree {run['head']}, "
        f"{run['when']}; {run['duration']} s of storm per case after {run['warmup']} s of "
        f"warm-up, {run['rounds']} rounds alternated, wrk 64 connections, unique members, "
        f"one gateway worker, claim durability `ledger`; {run['machine']}).",
        "",
        "| case | round | claims/s | p50 ms | p99 ms | gateway µs | Postgres µs | Redis µs, "
        "all nodes | Redis µs per master (buckets on it) → per claim it served | "
        "Redis µs, replicas | stack µs per claim |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | ---: | ---: |",
    ]
    for c in cases:
        cpu = c["cpu_us"]
        redis_all = sum(v for k, v in cpu.items() if k.startswith("redis:"))
        replicas = redis_all - sum(cpu[f"redis:{port}"] for port in c["masters"])
        per_master = ", ".join(
            f"{port}: {cpu[f'redis:{port}']:.0f} ({c['buckets_per_master'][port]})"
            + served(cpu[f"redis:{port}"], c["buckets_per_master"][port], c["buckets"])
            for port in c["masters"]
        )
        lines.append(
            f"| {c['target']}, K = {c['buckets']} | {c['round']} | {c['rps']:,.0f} | "
            f"{c['p50']:.1f} | {c['p99']:.1f} | {cpu['gateway']:.0f} | {cpu['postgres']:.0f} | "
            f"{redis_all:.0f} | {per_master} | {replicas:.0f} | {sum(cpu.values()):.0f} |"
            + (f" ({c['non2xx']} non-2xx)" if c["non2xx"] else "")
        )
    lines += [
        "",
        "The ledger alone (WRITE_COUPONS, the claim pipeline's group-commit statement, fresh "
        "rows of one campaign, prepared, from 1 or 2 connections):",
        "",
        "| rows per batch | connections | rows/s | Postgres µs per row | Postgres cores busy |",
        "| ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in ledger:
        lines.append(
            f"| {r['batch']} | {r['writers']} | {r['rows_s']:,.0f} | {r['pg_us_row']:.0f} | "
            f"{r['pg_cores']:.2f} |"
        )
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path, help="also write the raw figures to this file")
    parser.add_argument(
        "--report", type=Path, help="print the section from a --json file of an earlier run"
    )
    parser.add_argument(
        "--write",
        action="store_true",
        help=f"also put the figures into docs/BENCHMARKS.md, under '{FIGURES}' (make bench)",
    )
    args = parser.parse_args()
    if args.report:
        run = json.loads(args.report.read_text())
        for c in run["cases"]:  # JSON keys are strings
            c["buckets_per_master"] = {int(k): v for k, v in c["buckets_per_master"].items()}
        print(report(run))
        if args.write:
            write(report(run))
        return 0
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is missing: apt-get install -y wrk (make bench installs it)")
    head = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
    ).stdout.strip()
    bench = Bench()
    bench.start()
    plan = [(t, k) for t in bench.targets for k in BUCKETS]
    cases: list[dict[str, Any]] = []
    for n in range(ROUNDS):
        for t, k in plan if n % 2 == 0 else list(reversed(plan)):
            r = bench.case(t, k)
            r["round"] = n + 1
            cases.append(r)
    cases.sort(key=lambda c: (c["target"] != "one node", c["buckets"], c["round"]))
    ledger_campaign = bench.campaign(bench.targets[0], 1)
    ledger = [
        asyncio.run(bench.ledger(ledger_campaign, batch, writers))
        for batch, writers in ((1, 1), (16, 1), (64, 1), (256, 1), (64, 2))
    ]
    run = {
        "head": head,
        "when": f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
        "duration": DURATION,
        "warmup": WARMUP,
        "rounds": ROUNDS,
        "machine": machine(),
        "cases": cases,
        "ledger": ledger,
    }
    if args.json:
        args.json.write_text(json.dumps(run, indent=1))
    print(report(run))
    if args.write:
        write(report(run))
    return 0


#: The subsection of docs/BENCHMARKS.md that --write replaces (the prose around it is kept).
FIGURES = "### Figures of the last run (bench_cluster.py)"


def write(text: str) -> None:
    """Replaces FIGURES' body in docs/BENCHMARKS.md (up to the next heading) with `text`."""
    path = ROOT / "docs" / "BENCHMARKS.md"
    doc = path.read_text()
    if FIGURES not in doc:
        doc = doc.rstrip() + f"\n\n## Redis Cluster and hot-stock buckets (issue 15)\n\n{FIGURES}\n"
    start = doc.index(FIGURES) + len(FIGURES)
    nxt = re.search(r"^#{2,3} ", doc[start:], re.M)
    end = start + nxt.start() if nxt else len(doc)
    path.write_text(doc[:start] + "\n\n" + text + "\n" + ("\n" + doc[end:] if nxt else ""))


if __name__ == "__main__":
    sys.exit(main())
