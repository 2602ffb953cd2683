"""`make bench`: the gateway measured against its ceilings, one after another in one run.

(a) an empty Litestar handler taking the same claim body, same granian settings;
(b) the gateway's claim endpoint, live campaign, stock far above the load, unique members;
(c) a naive baseline: per claim one Postgres transaction (UPDATE remaining, INSERT coupon);
(d) redis-benchmark of the claim script alone;
then checkout (quote; reserve + commit) against the same empty handler, and the pricing engine;
then the membership programme (issue 13): reserve + commit of members who earn points (their
lot, entry and day's spend written by the commit), and the member and points reads beside an
empty GET handler (a-get).
Load comes from wrk (64 connections, a warm-up, then the measured run). Writes
docs/BENCHMARKS.md. Only ratios mean something on a shared machine: every figure of one run.
"""

from __future__ import annotations

import argparse
import asyncio
import atexit
import contextlib
import dataclasses
import importlib.metadata
import json
import os
import platform
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import redis

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from gateway.cli import granian_args  # noqa: E402 - after the path fix above
from gateway.members.services import member_token  # noqa: E402 - same
from loadtests import bench_checkout, programme_fixture  # noqa: E402

DURATION = int(os.environ.get("BENCH_DURATION", "10"))
WARMUP = int(os.environ.get("BENCH_WARMUP", "3"))
CONNECTIONS = 64
REDIS_URL = os.environ.get("GATEWAY_REDIS_URL", "redis://127.0.0.1:56379/0")
DATABASE_URL = os.environ.get(
    "GATEWAY_DATABASE_URL", "postgresql://gateway@127.0.0.1:55432/gateway"
)
PORT = int(os.environ.get("BENCH_PORT", "18080"))
BASE = f"http://127.0.0.1:{PORT}"
CLAIM_PATH = "/v1/campaigns/{}/claims"
#: Orders prepared for one reserve + commit case of members earning points (fresh members, two
#: coupons each), of which the first ORDERS_WARM warm the server up (its pool, the PL/pgSQL
#: plans of each backend) before the measured run.
ORDERS = int(os.environ.get("BENCH_ORDERS", "20000"))
ORDERS_WARM = 3000
#: Registered members read by the member and points reads, and the lots each holds.
READERS = 10_000
READER_LOTS = 5


def log(message: str) -> None:
    print(f"bench: {message}", file=sys.stderr, flush=True)


def env(**extra: str) -> dict[str, str]:
    out = dict(
        os.environ,
        GATEWAY_REDIS_URL=REDIS_URL,
        GATEWAY_DATABASE_URL=DATABASE_URL,
        GATEWAY_PORT=str(PORT),
        GATEWAY_LOG_LEVEL="WARNING",
    )
    out.update(extra)
    return out


class Server:
    def __init__(self, command: list[str], cwd: Path = ROOT, **extra: str) -> None:
        if cwd != ROOT:  # another tree's `gateway` package first (see `--before`)
            extra = {"PYTHONPATH": str(cwd), **extra}
        self.process = subprocess.Popen(
            command,
            cwd=cwd,
            env=env(**extra),
            start_new_session=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            try:
                httpx.get(f"{BASE}/", timeout=0.5)
                return
            except httpx.HTTPError:
                time.sleep(0.2)
            if self.process.poll() is not None:
                raise RuntimeError(f"{command} exited with {self.process.returncode}")
        raise RuntimeError(f"{command} did not listen")

    def worker_peak_rss_kib(self) -> int:
        """VmHWM of the server's worker processes (children of the granian main process)."""
        peak = 0
        for status in Path("/proc").glob("[0-9]*/status"):
            try:
                text = status.read_text()
            except OSError:
                continue
            ppid = int(re.search(r"PPid:\s+(\d+)", text).group(1))  # type: ignore[union-attr]
            if ppid == self.process.pid and (m := re.search(r"VmHWM:\s+(\d+)", text)):
                peak = max(peak, int(m.group(1)))
        return peak

    def stop(self) -> None:
        os.killpg(self.process.pid, 15)
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, 9)
            self.process.wait()


def wrk(url: str, script: str, *args: str, duration: int = DURATION) -> dict[str, Any]:
    command = [
        "wrk",
        "-t1",
        f"-c{CONNECTIONS}",
        f"-d{duration}s",
        "--latency",
        "-s",
        str(ROOT / "loadtests" / script),
        url,
        "--",
        *args,
    ]
    out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]

    def pct(label: str) -> float:
        m = re.search(rf"^\s+{label}%\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
        assert m is not None, out
        return float(m.group(1)) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[m.group(2)]

    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    errors = re.search(r"Socket errors:.*", out)
    return {
        "rps": rps,
        "p50": pct("50"),
        "p99": pct("99"),
        "non2xx": int(non2xx.group(1)) if non2xx else 0,
        "errors": errors.group(0) if errors else "",
        "command": " ".join(command[: command.index(url)]),
    }


def measure(
    url: str, script: str, first: str, *rest: str, server: Server | None = None
) -> dict[str, Any]:
    """A warm-up run, then the measured one (claims.lua's first argument names the run).

    With `server`, also the CPU time the serving stack spent per request during the measured
    run (`cpu_us`: server processes, Postgres, Redis), a figure the noise of a shared machine
    moves much less than the rates.
    """
    warm_first = f"warm{uuid.uuid4().hex[:6]}" if script == "claims.lua" else first
    wrk(url, script, warm_first, *rest, duration=WARMUP)
    before = stack_cpu(server) if server is not None else {}
    result = wrk(url, script, first, *rest)
    if server is not None:
        after = stack_cpu(server)
        requests = result["rps"] * DURATION / 1e6
        result["cpu_us"] = {part: (after[part] - before[part]) / requests for part in after}
    return result


def stack_cpu(server: Server) -> dict[str, float]:
    """CPU seconds used so far by the server's processes, Postgres and Redis (ours only)."""
    data = Path(os.environ.get("GATEWAY_DATA_DIR", ROOT / ".data"))
    try:
        postmaster = int((data / "pg" / "postmaster.pid").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        postmaster = -1
    redis_port = REDIS_URL.rsplit(":", 1)[-1].split("/")[0]
    return parts_cpu(server.process.pid, postmaster, int(redis_port))


def proc_stats() -> Iterator[tuple[int, int, int, float, bytes]]:
    """(pid, ppid, pgid, CPU seconds so far, cmdline) of every process /proc lets us read."""
    hz = os.sysconf("SC_CLK_TCK")
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            stat = (proc / "stat").read_text().rsplit(")", 1)[1].split()
            cmdline = (proc / "cmdline").read_bytes()
        except OSError:
            continue
        seconds = (int(stat[11]) + int(stat[12])) / hz
        yield int(proc.name), int(stat[1]), int(stat[2]), seconds, cmdline


def parts_cpu(server_pgid: int, postmaster: int, redis_port: int) -> dict[str, float]:
    """CPU seconds used so far, from /proc: the server's process group, the postmaster and its
    backends, and the redis-server on `redis_port`."""
    used = {"server": 0.0, "postgres": 0.0, "redis": 0.0}
    for pid, ppid, pgid, seconds, cmdline in proc_stats():
        if pgid == server_pgid:
            used["server"] += seconds
        elif pid == postmaster or ppid == postmaster:
            used["postgres"] += seconds
        elif cmdline.startswith(b"redis-server") and f":{redis_port}".encode() in cmdline:
            used["redis"] += seconds
    return used


def cli(*args: str) -> str:
    return subprocess.run(
        [sys.executable, "-m", "gateway", *args],
        cwd=ROOT,
        env=env(),
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()


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


def new_campaign(admin: dict[str, str], stock: int, name: str) -> str:
    created = httpx.post(f"{BASE}/v1/campaigns", json=campaign_body(stock, name), headers=admin)
    created.raise_for_status()
    campaign_id = str(created.json()["id"])
    httpx.post(f"{BASE}/v1/campaigns/{campaign_id}/publish", headers=admin).raise_for_status()
    return campaign_id


def python_driver(path: str, headers: dict[str, str], body: bytes) -> dict[str, Any]:
    """The same driver the reserve + commit figure uses, on one plain request."""

    async def call(conn: bench_checkout.Connection) -> None:
        status, answer = await conn.request("POST", path, headers, body)
        if status >= 300:
            raise RuntimeError(f"{status} {answer!r}")

    return asyncio.run(bench_checkout.drive(BASE, call, DURATION, CONNECTIONS))


def bench_empty_handler(results: dict[str, Any], reads: bool = True) -> None:
    log("(a) empty Litestar handler")
    server = Server(granian_args("loadtests.baseline_app:app", "127.0.0.1", PORT, 1))
    try:
        results["a"] = measure(BASE + CLAIM_PATH.format("cmp_x"), "claims.lua", "a", server=server)
        if reads:  # (a-get): a GET of a member id answering a member-sized body
            results["a_get"] = measure(
                BASE + "/", "members.lua", "m-", str(READERS), "-", server=server
            )
        results["a2"] = measure(BASE + "/idiomatic/cmp_x/claims", "claims.lua", "a2")
        body = b'{"member_id":"m-1","channel":"online"}'
        results["a_py"] = python_driver(
            CLAIM_PATH.format("cmp_x"), {"Content-Type": "application/json"}, body
        )
    finally:
        server.stop()


def bench_gateway(results: dict[str, Any], claims: bool = True) -> None:
    log("(b) the gateway's claim endpoint" if claims else "the gateway (checkout only)")
    server = Server([sys.executable, "-m", "gateway", "serve"])
    try:
        key = cli("keys", "create", "--role", "admin")
        checkout_key = cli("keys", "create", "--role", "checkout")
        if claims:
            bench_claims(results, server, key)
        bench_checkout_part(results, server, key, checkout_key)
        if claims:  # the whole run: the programme's figures too (issue 13)
            log("reserve + commit of members earning points")
            results["orders"] = bench_orders(server, key, checkout_key, earning=True)
            bench_reads(results, server)
    finally:
        server.stop()


def bench_gateway_router(results: dict[str, Any]) -> None:
    log("(b0) the gateway's claim endpoint through Litestar's router (GATEWAY_HOT_LANES=0)")
    server = Server([sys.executable, "-m", "gateway", "serve"], GATEWAY_HOT_LANES="0")
    try:
        key = cli("keys", "create", "--role", "admin")
        campaign_id = new_campaign({"Authorization": f"Bearer {key}"}, 100_000_000, "bench b0")
        url = BASE + CLAIM_PATH.format(campaign_id)
        results["b0"] = measure(url, "claims.lua", f"r{uuid.uuid4().hex[:6]}", key, server=server)
    finally:
        server.stop()


PAGE_SECRET = "bench-member-token-secret"
#: Member tokens written for the page's run: more than the warm-up and the run can send.
PAGE_TOKENS = 400_000


def bench_page(results: dict[str, Any]) -> None:
    """(p) the claim page's `POST /claim/{id}` beside (b'), the API claim, on the same server.

    The page's claim is routed by Litestar (no hot lane) and checks a member token (an HMAC)
    and the per-address limit before the same `ClaimService.claim`. Each request is a member of
    its own (tokens made here with the server's secret) from an address of its own, behind
    127.0.0.1 as a trusted proxy, as a load balancer would send them."""
    log("(p) the claim page's POST /claim beside the API claim")
    server = Server(
        [sys.executable, "-m", "gateway", "serve"],
        GATEWAY_TRUSTED_PROXIES="127.0.0.1",
        GATEWAY_MEMBER_TOKEN_SECRET=PAGE_SECRET,
    )
    try:
        key = cli("keys", "create", "--role", "admin")
        admin = {"Authorization": f"Bearer {key}"}
        api_campaign = new_campaign(admin, 100_000_000, "bench page: api")
        results["b_page_api"] = measure(
            BASE + CLAIM_PATH.format(api_campaign),
            "claims.lua",
            f"p{uuid.uuid4().hex[:6]}",
            key,
            server=server,
        )
        page_campaign = new_campaign(admin, 100_000_000, "bench page")
        expires = int(time.time() * 1000) + 3_600_000
        run = uuid.uuid4().hex[:6]
        with tempfile.NamedTemporaryFile("w", suffix=".tokens", delete=False) as tokens:
            for n in range(PAGE_TOKENS):
                tokens.write(member_token(PAGE_SECRET, f"pg{run}-{n}", expires) + "\n")
        url = f"{BASE}/claim/{page_campaign}"
        try:
            wrk(url, "page_claims.lua", tokens.name, "0", duration=WARMUP)
            before = stack_cpu(server)
            result = wrk(url, "page_claims.lua", tokens.name, str(PAGE_TOKENS // 2))
            after = stack_cpu(server)
        finally:
            os.unlink(tokens.name)
        requests = result["rps"] * DURATION / 1e6
        result["cpu_us"] = {part: (after[part] - before[part]) / requests for part in after}
        results["p"] = result
    finally:
        server.stop()


def page_only(results: dict[str, Any]) -> str:
    """`--only page`: the page's claim beside the API claim, printed, not written."""
    a, api, page = results["a"], results["b_page_api"], results["p"]
    return "\n".join(
        [
            "| case | req/s | p50 ms | p99 ms |",
            "| --- | ---: | ---: | ---: |",
            row("(a) empty Litestar handler", a),
            row("(b') gateway claim, API (`POST /v1/campaigns/{id}/claims`)", api),
            row("(p) gateway claim, the claim page (`POST /claim/{id}`)", page),
            "",
            f"p/b' = {page['rps'] / api['rps']:.2f}; non-2xx in (p): {page['non2xx']}",
            "",
            "| case | server | Postgres | Redis | total | total vs (a) |",
            "| --- | ---: | ---: | ---: | ---: | ---: |",
            cpu_row("(b') API claim", api, a),
            cpu_row("(p) page claim", page, a),
        ]
    )


def bench_claims(results: dict[str, Any], server: Server, key: str) -> None:
    admin = {"Authorization": f"Bearer {key}"}
    campaign_id = new_campaign(admin, 100_000_000, "bench claims")
    r = redis.Redis.from_url(REDIS_URL)
    before = int(r.info("memory")["used_memory"])
    url = BASE + CLAIM_PATH.format(campaign_id)
    results["b"] = measure(url, "claims.lua", f"b{uuid.uuid4().hex[:6]}", key, server=server)
    results["b_rss_kib"] = server.worker_peak_rss_kib()
    stream = f"{{c:{campaign_id}}}:ledger"
    for _ in range(100):
        if r.xlen(stream) == 0:
            break
        time.sleep(0.1)
    after = int(r.info("memory")["used_memory"])
    stats = httpx.get(f"{BASE}/v1/campaigns/{campaign_id}", headers=admin).json()["stats"]
    results["b_claimed"] = stats["claimed"]
    results["b_mem_per_claim"] = (after - before) / max(stats["claimed"], 1)
    rows = asyncio.run(_count_coupons(campaign_id))
    results["b_ledger_rows"] = rows


def bench_checkout_part(
    results: dict[str, Any], server: Server, key: str, checkout_key: str
) -> None:
    log("checkout: quote and reserve + commit")
    # The claims part just wrote tens of thousands of rows: vacuum now, so that autovacuum does
    # not start in the middle of the checkout figures.
    asyncio.run(_vacuum())
    fixture = asyncio.run(bench_checkout.prepare(BASE, key, checkout_key, 6000))
    member, codes = fixture.wallets[0]
    with tempfile.NamedTemporaryFile("wb", suffix=".json", delete=False) as f:
        f.write(json.dumps(bench_checkout._cart(member, codes)).encode())
    results["quote"] = measure(
        BASE + "/v1/checkout/quote", "fixed.lua", f.name, checkout_key, server=server
    )
    os.unlink(f.name)
    fixture.wallets = fixture.wallets[1:]
    before = stack_cpu(server)
    rc = asyncio.run(
        bench_checkout.drive(
            BASE, bench_checkout.reserve_commit_calls(fixture), DURATION, CONNECTIONS
        )
    )
    after = stack_cpu(server)
    rc["cpu_us"] = {part: (after[part] - before[part]) / rc["operations"] * 1e6 for part in after}
    results["reserve_commit"] = rc


def bench_orders(server: Server, key: str, checkout_key: str, earning: bool) -> dict[str, Any]:
    """Reserve + commit as `bench_checkout_part` runs it, of fresh members who are registered
    silver members earning 1 point per yuan (`earning`: each commit writes the order's lot and
    entry and the day's spend, and checks the tier), or who are not registered (no points, no
    spend: the commit's path before issue 13). A warm-up on ORDERS_WARM orders first, then
    VACUUM (ANALYZE) and a CHECKPOINT; then the stack's CPU per order over the measured run, and
    the lots written for its orders (what shows the path really ran)."""
    fixture = asyncio.run(bench_checkout.prepare(BASE, key, checkout_key, ORDERS))
    if earning:
        members = [member for member, _ in fixture.wallets]
        asyncio.run(programme_fixture.register(DATABASE_URL, members))
    warm = dataclasses.replace(
        fixture, wallets=fixture.wallets[:ORDERS_WARM], run_id=fixture.run_id + "w"
    )
    asyncio.run(
        bench_checkout.drive(BASE, bench_checkout.reserve_commit_calls(warm), WARMUP, CONNECTIONS)
    )
    fixture.wallets = fixture.wallets[ORDERS_WARM:]
    # After the warm-up: on a fresh database the orders' tables (redemptions, events, the lots)
    # were empty, and plans made for empty tables scan them whole as they grow.
    asyncio.run(_vacuum(ORDER_TABLES, checkpoint=True))
    if STATEMENTS:
        asyncio.run(_fetch("SELECT pg_stat_statements_reset()"))
    before = stack_cpu(server)
    rc = asyncio.run(
        bench_checkout.drive(
            BASE, bench_checkout.reserve_commit_calls(fixture), DURATION, CONNECTIONS
        )
    )
    after = stack_cpu(server)
    rc["cpu_us"] = {part: (after[part] - before[part]) / rc["operations"] * 1e6 for part in after}
    rc["lots"] = asyncio.run(_count_lots(f"bench-{fixture.run_id}-%"))
    if STATEMENTS:
        rc["statements"] = asyncio.run(_fetch(TOP_STATEMENTS))[0]
    if rc["operations"] >= len(fixture.wallets):
        log(f"every prepared order was used in {rc['seconds']} s: raise BENCH_ORDERS")
    return rc


def bench_reads(results: dict[str, Any], server: Server) -> None:
    """GET /v1/members/{id}/points and GET /v1/members/{id} of READERS registered members with
    READER_LOTS lots each (none due: a read does not write), cycling over them."""
    log("member and points reads")
    front = cli("keys", "create", "--role", "front")
    prefix = f"rd{uuid.uuid4().hex[:6]}-"
    asyncio.run(programme_fixture.generate_readers(DATABASE_URL, prefix, READERS, READER_LOTS))
    for name, suffix in (("points_read", "/points"), ("member_read", "-")):
        results[name] = measure(
            BASE + "/", "members.lua", prefix, str(READERS), suffix, front, server=server
        )


async def _count_lots(order_pattern: str) -> int:
    conn = await asyncpg.connect(DATABASE_URL)
    try:
        if not await conn.fetchval("SELECT to_regclass('point_lots') IS NOT NULL"):
            return 0  # a tree before the programme
        return int(
            await conn.fetchval(
                "SELECT count(*) FROM point_lots WHERE order_id LIKE $1", order_pattern
            )
        )
    finally:
        await conn.close()


# Where Postgres spends an order's time (--statements): every statement, those run inside
# PL/pgSQL functions too (pg_stat_statements.track = all), by total execution time.
TOP_STATEMENTS = """
SELECT toplevel, calls, total_exec_time, rows,
       regexp_replace(query, '\\s+', ' ', 'g') AS query
FROM pg_stat_statements
WHERE query NOT LIKE '%pg_stat_statements%'
ORDER BY total_exec_time DESC LIMIT 16
"""


def statements_table(label: str, r: dict[str, Any]) -> list[str]:
    """The measured run's statements: µs per order (their time, not CPU alone: lock and I/O
    waits included), calls per order; nested ones inside the functions that ran them."""
    ops = r["operations"]
    return [
        "",
        f"Statements of {label} (pg_stat_statements, track = all; µs per order):",
        "",
        "| µs per order | calls per order | mean µs | level | statement |",
        "| ---: | ---: | ---: | --- | --- |",
        *(
            f"| {row['total_exec_time'] * 1000 / ops:.0f} | {row['calls'] / ops:.2f} "
            f"| {row['total_exec_time'] * 1000 / max(row['calls'], 1):.0f} "
            f"| {'top' if row['toplevel'] else 'nested'} | `{row['query'][:110]}` |"
            for row in r["statements"]
        ),
    ]


ORDER_TABLES = "coupons, events, redemptions, members, point_lots, point_entries, member_spend_days"


async def _vacuum(tables: str = "coupons, events, redemptions", checkpoint: bool = False) -> None:
    conn = await asyncpg.connect(DATABASE_URL)
    try:
        present = [
            t
            for t in tables.split(", ")
            if await conn.fetchval("SELECT to_regclass($1) IS NOT NULL", t)
        ]
        await conn.execute(f"VACUUM (ANALYZE) {', '.join(present)}")
        if checkpoint:  # no checkpoint's full-page writes falling into one case and not another
            await conn.execute("CHECKPOINT")
    finally:
        await conn.close()


async def _count_coupons(campaign_id: str) -> int:
    conn = await asyncpg.connect(DATABASE_URL)
    try:
        return int(
            await conn.fetchval("SELECT count(*) FROM coupons WHERE campaign_id = $1", campaign_id)
        )
    finally:
        await conn.close()


def bench_naive(results: dict[str, Any]) -> None:
    log("(c) naive Postgres baseline")

    async def seed() -> None:
        conn = await asyncpg.connect(DATABASE_URL)
        try:
            await conn.execute(
                "CREATE TABLE IF NOT EXISTS naive_stock (campaign_id text PRIMARY KEY, remaining bigint NOT NULL)"
            )
            await conn.execute(
                "INSERT INTO naive_stock VALUES ('naive', 1000000000) ON CONFLICT (campaign_id) DO UPDATE SET remaining = 1000000000"
            )
        finally:
            await conn.close()

    server = Server(granian_args("loadtests.naive_app:app", "127.0.0.1", PORT, 1))
    try:
        asyncio.run(seed())
        results["c"] = measure(
            BASE + CLAIM_PATH.format("naive"),
            "claims.lua",
            f"c{uuid.uuid4().hex[:6]}",
            server=server,
        )
    finally:
        server.stop()


def bench_script(results: dict[str, Any]) -> None:
    log("(d) redis-benchmark of the claim script")
    from gateway.store.hot_state import hot_state
    from gateway.store.redis import LuaScript

    script = LuaScript("claim_coupons")
    r = redis.Redis.from_url(REDIS_URL)
    r.script_load(script.source)
    campaign_id = f"bench-{uuid.uuid4().hex[:8]}"
    tag = f"{{c:{campaign_id}}}"
    now = datetime.now(UTC)
    row = {
        "status": "live",
        "claim_starts_at": now - timedelta(hours=1),
        "claim_ends_at": now + timedelta(hours=1),
        "per_member_limit": 1,
        "stock_total": 10**12,
        "validity": {"mode": "relative", "days": 7},
        "low_stock_threshold": 0,
        "kind": "amount",
        "transferable": True,
        "link_only": False,
        "points_price": None,
    }
    run_id = str(r.info("server")["run_id"])
    r.hset(f"{tag}:meta", mapping=hot_state(row, 0, run_id))  # type: ignore[arg-type]
    host, port = re.match(r"redis://([^:/]+):(\d+)", REDIS_URL).groups()  # type: ignore[union-attr]
    db = REDIS_URL.rsplit("/", 1)[-1] if REDIS_URL.count("/") > 2 else "0"
    command = [
        "redis-benchmark",
        "-h",
        host,
        "-p",
        port,
        "--dbnum",
        db or "0",
        "-c",
        str(CONNECTIONS),
        "-n",
        "200000",
        "-r",
        "1000000000",
        "-q",
        "--csv",
        "EVALSHA",
        script.sha,
        "3",
        f"{tag}:meta",
        f"{tag}:members",
        f"{tag}:ledger",
        str(int(now.timestamp() * 1000)),
        "claim",
        "86400",
        "1",
        "\x1f".join(["m-__rand_int__", "0000000000000A", "online", "0", "-"]),
        run_id,  # as the claim pipeline passes it (read when it connected)
    ]
    out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    last = [line for line in out.splitlines() if line.strip()][-1].split(",")
    values = [float(v.strip('"')) for v in last[1:]]
    results["d"] = {
        "rps": values[0],
        "p50": values[4] if len(values) > 4 else float("nan"),
        "p99": values[6] if len(values) > 6 else float("nan"),
        "command": " ".join([*command[:13], "EVALSHA <sha of claim_coupons.lua> 3 <keys> ..."]),
    }
    r.delete(f"{tag}:meta", f"{tag}:members", f"{tag}:ledger")


def bench_pricing() -> str:
    log("pricing engine")
    return subprocess.run(
        [sys.executable, "loadtests/bench_pricing.py"],
        cwd=ROOT,
        env=env(),
        capture_output=True,
        text=True,
        check=True,
    ).stdout


def machine() -> str:
    cpu = "unknown"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break

    return (
        f"{os.cpu_count()} cores ({cpu}), Python {platform.python_version()}, "
        f"Litestar {importlib.metadata.version('litestar')}, "
        f"granian 1 worker, uvloop, Redis and Postgres on the same machine"
    )


def row(name: str, r: dict[str, Any]) -> str:
    return f"| {name} | {r['rps']:,.0f} | {r['p50']:.2f} | {r['p99']:.2f} |"


def cpu_row(name: str, r: dict[str, Any], base: dict[str, Any]) -> str:
    cpu = r["cpu_us"]
    total = sum(cpu.values())
    return (
        f"| {name} | {cpu['server']:.0f} | {cpu['postgres']:.0f} | {cpu['redis']:.0f} "
        f"| {total:.0f} | {total / sum(base['cpu_us'].values()):.2f}× |"
    )


def write(results: dict[str, Any], pricing: str) -> str:
    a, b, c, d = results["a"], results["b"], results["c"], results["d"]
    quote, rc, a_py = results["quote"], results["reserve_commit"], results["a_py"]
    day = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    text = f"""# Benchmarks

Produced by `make bench` (`loadtests/bench.py`) on {day}. Machine: {machine()}.
The machine is shared and noisy: read the **ratios**, measured in the same run, not the raw rates.

## Claims (issue 3)

Load: wrk, 1 thread, {CONNECTIONS} connections, {WARMUP} s warm-up then {DURATION} s measured, unique
member per request (`loadtests/claims.lua`). Command: `{b["command"]} <url> -- <run id> <key>`.

| case | req/s | p50 ms | p99 ms |
| --- | ---: | ---: | ---: |
{row("(a) empty Litestar handler, same body (raw body, msgspec decode)", a)}
{row("(a2) empty Litestar handler, idiomatic (`data: ClaimRequest`)", results["a2"])}
{row("(b) gateway claim (durability ledger)", b)}
{row("(b0) the same, routed by Litestar (`GATEWAY_HOT_LANES=0`)", results["b0"])}
{row("(b') gateway claim, beside (p) on its server", results["b_page_api"])}
{row("(p) the claim page's `POST /claim/{id}` (member token, per-address limit)", results["p"])}
{row("(c) naive: one Postgres transaction per claim", c)}
{row("(d) redis-benchmark of claim_coupons.lua", d)}

| ratio | value | target |
| --- | ---: | ---: |
| b/a | {b["rps"] / a["rps"]:.2f} | ≥ 0.8 |
| b0/a | {results["b0"]["rps"] / a["rps"]:.2f} | (the hot lanes off) |
| p/b' | {results["p"]["rps"] / results["b_page_api"]["rps"]:.2f} | (the page's claim vs the API's, same server) |
| b/a2 | {b["rps"] / results["a2"]["rps"]:.2f} | (reference: the textbook handler) |
| b/c | {b["rps"] / c["rps"]:.1f} | ≥ 10 |
| b/d | {b["rps"] / d["rps"]:.3f} | (the script's own ceiling) |

CPU time the serving stack spent per request during each measured run (µs; server = the
granian processes with their Python and Rust threads; Postgres and Redis = our servers'
processes). On two shared cores the stack is CPU-bound, so these costs set the ratios:

| case | server | Postgres | Redis | total | total vs (a) |
| --- | ---: | ---: | ---: | ---: | ---: |
{cpu_row("(a) empty handler", a, a)}
{cpu_row("(b) gateway claim", b, a)}
{cpu_row("(b0) gateway claim via the router", results["b0"], a)}
{cpu_row("(p) the claim page's claim", results["p"], a)}
{cpu_row("(c) naive", c, a)}

Where the time of a claim goes, and what limits the ratio: [PERFORMANCE.md](PERFORMANCE.md).

- Claims granted in (b): {results["b_claimed"]:,}; coupon rows in Postgres for them: {results["b_ledger_rows"]:,};
  non-2xx responses: {b["non2xx"]}.
- Redis memory left per granted claim once the ledger caught up (used_memory after − before, over
  the claims): **{results["b_mem_per_claim"]:.0f} bytes** (target ≤ 200).
- Gateway worker peak RSS (VmHWM) during the run: **{results["b_rss_kib"] / 1024:.0f} MiB**.
- (d) command: `{d["command"]}`.

## Checkout (issue 5)

Quote: wrk as above with a fixed 5-line cart and 2 coupon codes (`loadtests/fixed.lua`).
Reserve + commit: `loadtests/bench_checkout.py`'s raw HTTP/1.1 driver ({CONNECTIONS} connections,
{DURATION} s), one operation = reserve a fresh member's 2 coupons for a new order, then commit it;
compared with the same driver posting the claim body to the empty handler (a).

| case | ops/s | p50 ms | p99 ms | ratio to (a) | target |
| --- | ---: | ---: | ---: | ---: | ---: |
| quote (wrk) | {quote["rps"]:,.0f} | {quote["p50"]:.2f} | {quote["p99"]:.2f} | {quote["rps"] / a["rps"]:.2f} | ≥ 0.6 |
| (a) with the Python driver | {a_py["ops_per_s"]:,.0f} | {a_py["p50_ms"]:.2f} | {a_py["p99_ms"]:.2f} | 1 | |
| reserve + commit | {rc["ops_per_s"]:,.0f} | {rc["p50_ms"]:.2f} | {rc["p99_ms"]:.2f} | {rc["ops_per_s"] / a_py["ops_per_s"]:.2f} | ≥ 0.3 |

CPU time of the serving stack per operation (µs), as for the claims:

| case | server | Postgres | Redis | total | total vs (a) |
| --- | ---: | ---: | ---: | ---: | ---: |
{cpu_row("(a) empty handler", a, a)}
{cpu_row("quote", quote, a)}
{cpu_row("reserve + commit (two requests)", rc, a)}

## Membership programme (issue 13), from `make bench`

Reserve + commit as above, of fresh members registered as silver members earning 1 point per
yuan under a programme with tier thresholds (`loadtests/programme_fixture.py`): each commit
also writes the order's lot and entry and the day's spend and checks the tier, in the group
commit (`gw_settle`). The same figure without them, and against the tree before issue 13:
`bench.py --before dca5257 --only orders` (printed, not written here).

{chr(10).join(ORDER_HEAD)}
{order_row("reserve + commit, members earning points", results["orders"])}
{order_row("reserve + commit, the checkout section's (not registered)", {**rc, "lots": 0})}

Reads over {READERS:,} registered members with {READER_LOTS} lots each (`loadtests/members.lua`,
wrk as above, a front key), beside an empty GET handler answering a member-sized body (a-get):

{chr(10).join(reads_table(results))}

{pricing.strip()}
"""
    path = ROOT / "docs" / "BENCHMARKS.md"
    text += kept_sections(path.read_text() if path.exists() else "", text)
    path.write_text(text)
    return text


def kept_sections(old: str, new: str) -> str:
    """The sections of the old BENCHMARKS.md that this run does not write (figures of other
    commands, pasted by hand), in their order, to follow the run's own."""
    written = set(re.findall(r"^## (.+)$", new, re.M))
    parts = re.split(r"^(?=## )", old, flags=re.M)
    kept = [part for part in parts[1:] if part.split("\n", 1)[0][3:].strip() not in written]
    return "".join("\n" + part.rstrip() + "\n" for part in kept)


def checkout_only(results: dict[str, Any]) -> str:
    """`--only checkout`: the empty handler (a) and the checkout figures, printed, not written."""
    a, quote, rc, a_py = results["a"], results["quote"], results["reserve_commit"], results["a_py"]
    return "\n".join(
        [
            "| case | ops/s | p50 ms | p99 ms | ratio to (a) | target |",
            "| --- | ---: | ---: | ---: | ---: | ---: |",
            f"| (a) empty handler (wrk) | {a['rps']:,.0f} | {a['p50']:.2f} | {a['p99']:.2f} | 1 | |",
            f"| quote (wrk) | {quote['rps']:,.0f} | {quote['p50']:.2f} | {quote['p99']:.2f}"
            f" | {quote['rps'] / a['rps']:.2f} | ≥ 0.6 |",
            f"| (a) with the Python driver | {a_py['ops_per_s']:,.0f} | {a_py['p50_ms']:.2f}"
            f" | {a_py['p99_ms']:.2f} | 1 | |",
            f"| reserve + commit | {rc['ops_per_s']:,.0f} | {rc['p50_ms']:.2f} | {rc['p99_ms']:.2f}"
            f" | {rc['ops_per_s'] / a_py['ops_per_s']:.2f} | ≥ 0.3 |",
            f"quote non-2xx: {quote['non2xx']} {quote['errors']}",
        ]
    )


def build_tree(ref: str) -> Path:
    """A copy of the gateway at git `ref` with its own native module, under .data/."""
    tree = ROOT / ".data" / f"bench-tree-{ref}"
    if not (tree / "gateway").exists():
        tree.mkdir(parents=True, exist_ok=True)
        archive = subprocess.run(
            ["git", "archive", ref], cwd=ROOT, capture_output=True, check=True
        ).stdout
        subprocess.run(["tar", "-x", "-C", str(tree)], input=archive, check=True)
    if not list((tree / "gateway").glob("_native*.so")):
        log(f"building the native module of {ref}")
        wheels = tree / "wheels"
        subprocess.run(
            [
                str(ROOT / ".venv" / "bin" / "maturin"),
                "build",
                "--release",
                "-q",
                "-o",
                str(wheels),
            ],
            cwd=tree,
            env=dict(os.environ, CARGO_TARGET_DIR=str(ROOT / "target" / "bench-tree")),
            check=True,
        )
        wheel = next(wheels.glob("*.whl"))
        subprocess.run(
            [
                "unzip",
                "-o",
                "-j",
                "-q",
                str(wheel),
                "gateway/_native*.so",
                "-d",
                str(tree / "gateway"),
            ],
            check=True,
        )
    return tree


def claims_cpu(label: str, cwd: Path) -> dict[str, Any]:
    log(f"(b) claims: {label}")
    server = Server([sys.executable, "-m", "gateway", "serve"], cwd=cwd)
    try:
        key = cli("keys", "create", "--role", "admin")
        campaign_id = new_campaign({"Authorization": f"Bearer {key}"}, 100_000_000, label)
        url = BASE + CLAIM_PATH.format(campaign_id)
        return measure(url, "claims.lua", f"r{uuid.uuid4().hex[:6]}", key, server=server)
    finally:
        server.stop()


def orders_cpu(label: str, cwd: Path, earning: bool, rewards: bool = False) -> dict[str, Any]:
    """`bench_orders` on a server of its own; `rewards`: with the programme's rewards on for
    the run (`programme_fixture.rewards`, coupons of a live campaign made for it), off again
    afterwards."""
    log(f"reserve + commit: {label}")
    server = Server([sys.executable, "-m", "gateway", "serve"], cwd=cwd)
    try:
        key = cli("keys", "create", "--role", "admin")
        checkout_key = cli("keys", "create", "--role", "checkout")
        if not rewards:
            return bench_orders(server, key, checkout_key, earning)
        admin = {"Authorization": f"Bearer {key}"}
        body = {**campaign_body(100_000_000, "rewards"), "per_member_limit": 3}
        created = httpx.post(f"{BASE}/v1/campaigns", json=body, headers=admin)
        created.raise_for_status()
        campaign_id = str(created.json()["id"])
        httpx.post(f"{BASE}/v1/campaigns/{campaign_id}/publish", headers=admin).raise_for_status()
        asyncio.run(programme_fixture.setup_programme(DATABASE_URL, reward_campaign=campaign_id))
        try:
            return bench_orders(server, key, checkout_key, earning)
        finally:
            asyncio.run(programme_fixture.setup_programme(DATABASE_URL))
    finally:
        server.stop()


@dataclasses.dataclass
class Tree:
    """A tree measured by `--only orders`: its code, and a database and a Redis db of its own,
    migrated by its own code (a tree's PL/pgSQL functions are those of its migrations)."""

    label: str
    cwd: Path
    database_url: str
    redis_url: str

    @contextlib.contextmanager
    def active(self) -> Iterator[None]:
        """Points the run's helpers (`cli`, `Server`, the fixtures) at the tree's servers."""
        global DATABASE_URL, REDIS_URL
        saved = DATABASE_URL, REDIS_URL
        DATABASE_URL, REDIS_URL = self.database_url, self.redis_url
        try:
            yield
        finally:
            DATABASE_URL, REDIS_URL = saved


def order_tree(label: str, cwd: Path, n: int) -> Tree:
    """A fresh database `bench_orders_<n>` on the run's Postgres, migrated by the tree at
    `cwd`, with the benchmark's tier policies and programme (where the tree has one) and a
    ledger in use (READERS members with READER_LOTS lots: statistics of a ledger, not of
    empty tables); Redis db n + 2 (0 and 1 are the development and the test servers' dbs)."""
    name = f"bench_orders_{n}"
    tree = Tree(
        label,
        cwd,
        DATABASE_URL.rsplit("/", 1)[0] + "/" + name,
        REDIS_URL.rsplit("/", 1)[0] + f"/{n + 2}",
    )
    asyncio.run(_fetch(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)", f"CREATE DATABASE {name}"))
    redis.Redis.from_url(tree.redis_url).flushdb()
    subprocess.run(
        [sys.executable, "-m", "gateway", "migrate"],
        cwd=cwd,
        env=env(GATEWAY_DATABASE_URL=tree.database_url, PYTHONPATH=str(cwd)),
        capture_output=True,
        check=True,
    )
    asyncio.run(programme_fixture.setup_programme(tree.database_url))
    if STATEMENTS:
        with tree.active():
            asyncio.run(_fetch("CREATE EXTENSION IF NOT EXISTS pg_stat_statements"))
    asyncio.run(
        programme_fixture.generate_readers(tree.database_url, "ledger-", READERS, READER_LOTS)
    )
    return tree


def head(ref: str) -> str:
    return subprocess.run(
        ["git", "rev-parse", "--short", ref], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.strip()


def cpu_cells(r: dict[str, Any]) -> str:
    cpu = r["cpu_us"]
    return (
        " | ".join(f"{cpu[p]:.0f}" for p in ("server", "postgres", "redis"))
        + f" | {sum(cpu.values()):.0f}"
    )


def order_row(name: str, r: dict[str, Any]) -> str:
    return (
        f"| {name} | {r['ops_per_s']:,.0f} | {r['p50_ms']:.2f} | {cpu_cells(r)} "
        f"| {r['operations']:,} | {r['lots']:,} |"
    )


ORDER_HEAD = [
    "| case | orders/s | p50 ms | server µs | Postgres µs | Redis µs | stack µs per order "
    "| orders | lots written |",
    "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
]


def orders_rounds(before: str | None, after: list[str], rounds: int) -> str:
    """Reserve + commit of members earning points (`bench_orders`), alternated in one run: the
    tree at git `before` (before the programme: nothing written for points), each tree of
    `after` (git refs) and this working tree with the same members, and this working tree with
    members not registered (no points, no spend); each case on a server of its own, each tree
    on a database migrated by its own code. Ratios to `before` (or to the unregistered case)
    per round, for the working tree and each of `after`."""
    log("databases of the trees")
    load_before = os.getloadavg()[0]
    trees: list[Tree] = []
    if before:
        ref = head(before)
        trees.append(order_tree(f"before ({ref})", build_tree(ref), len(trees)))
    for name in after:
        ref = head(name)
        trees.append(order_tree(f"after ({ref})", build_tree(ref), len(trees)))
    dirty = subprocess.run(
        ["git", "status", "--porcelain", "--", "gateway", "native"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    working = f"this tree ({head('HEAD')}{' + uncommitted changes' if dirty else ''})"
    trees.append(order_tree(working, ROOT, len(trees)))
    results: dict[str, Any] = {}
    bench_empty_handler(results, reads=False)
    rows = [
        f"| (a) empty handler, Python driver | {results['a_py']['ops_per_s']:,.0f} "
        f"| {results['a_py']['p50_ms']:.2f} | {cpu_cells(results['a'])} (wrk) | | |"
    ]
    measured: list[dict[str, dict[str, Any]]] = []
    details: list[str] = []
    for n in range(rounds):
        cases = [(tree.label, tree, True, tree.label) for tree in trees]
        cases.append((f"{working}, rewards on", trees[-1], True, "rewards"))
        cases.append((f"{working}, members not registered", trees[-1], False, "plain"))
        got: dict[str, dict[str, Any]] = {}
        for label, tree, earning, name in cases:
            with tree.active():
                got[name] = orders_cpu(label, tree.cwd, earning, rewards=name == "rewards")
            suffix = ", registered members earning points" if earning else ""
            rows.append(order_row(f"{label}{suffix}, round {n + 1}", got[name]))
            if STATEMENTS:
                details += statements_table(f"{label}, round {n + 1}", got[name])
        measured.append(got)
    # Each tree against `before` (or, without one, this tree against its guests); then this
    # tree against its guests (the same orders with no points, spend or tier written) and with
    # rewards on against off.
    pairs = [(tree.label, trees[0].label if before else "plain") for tree in trees[1:]]
    pairs += [(trees[-1].label, "plain")]
    pairs += [("rewards", trees[-1].label)]
    names = {"plain": "members not registered", "rewards": f"{working}, rewards on"}
    summary: list[str] = []
    for name, base in dict.fromkeys(pairs):
        ratios = [
            (
                sum(got[name]["cpu_us"].values()) / sum(got[base]["cpu_us"].values()),
                got[name]["cpu_us"]["postgres"] / got[base]["cpu_us"]["postgres"],
                got[name]["ops_per_s"] / got[base]["ops_per_s"],
                got[name]["p50_ms"] / got[base]["p50_ms"],
            )
            for got in measured
        ]
        summary += [
            "",
            f"{names.get(name, name)} / {names.get(base, base)}:",
            "",
            "| round | stack CPU per order | Postgres CPU per order | orders/s | p50 latency |",
            "| --- | ---: | ---: | ---: | ---: |",
            *(
                f"| {n + 1} | {cpu:.3f} | {pg:.3f} | {rate:.3f} | {p50:.3f} |"
                for n, (cpu, pg, rate, p50) in enumerate(ratios)
            ),
            "| mean | "
            + " | ".join(f"{sum(r[i] for r in ratios) / len(ratios):.3f}" for i in range(4))
            + " |",
        ]
    options = (f"--before {before} " if before else "") + "".join(f"--after {a} " for a in after)
    flags = (" --stack" if STACK else "") + (" --statements" if STATEMENTS else "")
    return "\n".join(
        [
            f"Command: `.venv/bin/python loadtests/bench.py {options}--only orders "
            f"--rounds {rounds}{flags}` ({datetime.now(UTC):%Y-%m-%d %H:%M} UTC; "
            f"{CONNECTIONS} connections, {WARMUP} s warm-up, {DURATION} s measured; "
            f"{load_text(load_before)}).",
            "",
            *ORDER_HEAD,
            *rows,
            *summary,
            *details,
        ]
    )


def before_after(ref: str, rounds: int) -> str:
    """CPU per claim of the gateway at `ref` and of this tree, alternated in one run."""
    tree = build_tree(ref)
    results: dict[str, Any] = {}
    bench_empty_handler(results, reads=False)
    rows = [
        f"| (a) empty Litestar handler | {results['a']['rps']:,.0f} | "
        + " | ".join(f"{results['a']['cpu_us'][p]:.0f}" for p in ("server", "postgres", "redis"))
        + f" | {sum(results['a']['cpu_us'].values()):.0f} |"
    ]
    for n in range(rounds):
        for label, cwd in ((f"before ({ref})", tree), ("after (this tree)", ROOT)):
            r = claims_cpu(label, cwd)
            cpu = r["cpu_us"]
            rows.append(
                f"| (b) {label}, round {n + 1} | {r['rps']:,.0f} | "
                + " | ".join(f"{cpu[p]:.0f}" for p in ("server", "postgres", "redis"))
                + f" | {sum(cpu.values()):.0f} |"
            )
    return "\n".join(
        [
            f"Command: `.venv/bin/python loadtests/bench.py --before {ref} --rounds {rounds}` "
            f"({datetime.now(UTC):%Y-%m-%d %H:%M} UTC; wrk as above).",
            "",
            "| case | req/s | server µs | Postgres µs | Redis µs | stack µs per request |",
            "| --- | ---: | ---: | ---: | ---: | ---: |",
            *rows,
        ]
    )


def load_text(before: float) -> str:
    """The machine's load average (1 min) before the run and at its end: how busy it was."""
    return f"load average {before:.1f} before, {os.getloadavg()[0]:.1f} at the end"


def reads_only(results: dict[str, Any]) -> str:
    """`--only reads`: the member and points reads beside the empty handlers (a) and (a-get)."""
    a, a_get = results["a"], results["a_get"]
    points, member = results["points_read"], results["member_read"]
    return "\n".join(
        [
            f"Command: `.venv/bin/python loadtests/bench.py --only reads"
            f"{' --stack' if STACK else ''}` ({datetime.now(UTC):%Y-%m-%d %H:%M} UTC; wrk as "
            f"above, `loadtests/members.lua` over {READERS:,} members with {READER_LOTS} lots "
            f"each; {load_text(results['load_before'])}).",
            "",
            *reads_table(results),
            "",
            f"non-2xx: points {points['non2xx']}, member {member['non2xx']}; "
            f"(a) {a['rps']:,.0f} req/s, (a-get) {a_get['rps']:,.0f} req/s",
        ]
    )


def reads_table(results: dict[str, Any]) -> list[str]:
    a, a_get = results["a"], results["a_get"]
    base = sum(a_get["cpu_us"].values())

    def line(name: str, r: dict[str, Any]) -> str:
        return (
            f"| {name} | {r['rps']:,.0f} | {r['p50']:.2f} | {r['p99']:.2f} "
            f"| {r['rps'] / a_get['rps']:.2f} | {cpu_cells(r)} "
            f"| {sum(r['cpu_us'].values()) / base:.2f}× |"
        )

    return [
        "| case | req/s | p50 ms | p99 ms | rate vs (a-get) | server µs | Postgres µs "
        "| Redis µs | stack µs per request | CPU vs (a-get) |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
        line("(a) empty handler, POST claim body", a),
        line("(a-get) empty handler, GET /v1/members/{id}", a_get),
        line("points read, `GET /v1/members/{id}/points`", results["points_read"]),
        line("member read, `GET /v1/members/{id}`", results["member_read"]),
    ]


#: --stack: the run's own Redis and Postgres (tests/stack.py), destroyed after it.
STACK = False
#: --statements: pg_stat_statements loaded on the run's stack, its top statements per case.
STATEMENTS = False


def use_stack() -> None:
    """Points the run at an isolated stack (its URLs, and its data dir for `stack_cpu`),
    destroyed when the run ends."""
    global REDIS_URL, DATABASE_URL, STACK
    from tests.stack import Stack

    stack = Stack("bench")
    atexit.register(stack.destroy)  # whatever fails after this point
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # atexit runs on a kill too
    stack.services("start")
    REDIS_URL, DATABASE_URL, STACK = stack.redis_url, stack.database_url, True
    os.environ["GATEWAY_DATA_DIR"] = str(stack.data)
    cli("migrate")
    if STATEMENTS:
        asyncio.run(_fetch("ALTER SYSTEM SET shared_preload_libraries = 'pg_stat_statements'"))
        # With the options it was started with (postmaster.opts); its output to a file, not
        # to pipes the new postmaster would hold open.
        pg_ctl = sorted(Path("/usr/lib/postgresql").glob("*/bin"))[-1] / "pg_ctl"
        command = [str(pg_ctl), "-D", str(stack.data / "pg"), "-w", "-m", "fast"]
        command += ["-l", str(stack.data / "pg" / "server.log"), "restart"]
        if os.getuid() == 0:
            command = ["runuser", "-u", "postgres", "--", *command]
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        asyncio.run(
            _fetch(
                "CREATE EXTENSION IF NOT EXISTS pg_stat_statements",
                "ALTER SYSTEM SET pg_stat_statements.track = 'all'",
                "SELECT pg_reload_conf()",
            )
        )


class ProgrammeSet:
    """The benchmark's programme and tier policies (`programme_fixture`) for the run; the
    database's own are put back after it (a development database keeps its settings)."""

    def __enter__(self) -> None:
        cli("migrate")
        self.saved = asyncio.run(_fetch("SELECT * FROM programme", "SELECT * FROM tiers"))
        asyncio.run(programme_fixture.setup_programme(DATABASE_URL))

    def __exit__(self, *exc: object) -> None:
        asyncio.run(_restore(*self.saved))


async def _fetch(*queries: str) -> list[list[asyncpg.Record]]:
    conn = await asyncpg.connect(DATABASE_URL)
    try:
        return [await conn.fetch(q) for q in queries]
    finally:
        await conn.close()


async def _restore(programme: list[asyncpg.Record], tiers: list[asyncpg.Record]) -> None:
    conn = await asyncpg.connect(DATABASE_URL)
    try:
        async with conn.transaction():
            for table, rows in (("programme", programme), ("tiers", tiers)):
                await conn.execute(f"DELETE FROM {table}")  # noqa: S608 - constant names
                for row in rows:
                    columns = list(row.keys())
                    await conn.execute(
                        f"INSERT INTO {table} ({', '.join(columns)}) VALUES "  # noqa: S608
                        f"({', '.join(f'${i + 1}' for i in range(len(columns)))})",
                        *row.values(),
                    )
    finally:
        await conn.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--only",
        choices=("checkout", "page", "orders", "reads"),
        help="run only the empty handler and this part; print the figures, leave the docs "
        "(orders: reserve + commit of members earning points, alternated --rounds times with "
        "members not registered, and with git REF's tree under --before; reads: the member "
        "and points reads)",
    )
    parser.add_argument(
        "--before",
        metavar="REF",
        help="measure the claims' CPU (or, with --only orders, the orders') of git REF and of "
        "this tree, alternated; print, leave the docs",
    )
    parser.add_argument(
        "--after",
        metavar="REF",
        action="append",
        help="with --only orders: also measure git REF's tree (repeatable), beside the "
        "working tree",
    )
    parser.add_argument("--rounds", type=int, default=2, help="rounds of --before")
    parser.add_argument(
        "--stack",
        action="store_true",
        help="run on a Redis and a Postgres of the run's own (tests/stack.py), not the "
        "development servers",
    )
    parser.add_argument(
        "--statements",
        action="store_true",
        help="with --stack --only orders: load pg_stat_statements (track = all) and print each "
        "case's top statements (it costs Postgres CPU: not for the headline figures)",
    )
    args = parser.parse_args()
    if args.statements and not (args.stack and args.only == "orders"):
        raise SystemExit("--statements needs --stack --only orders")
    global STATEMENTS
    STATEMENTS = args.statements
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is missing: apt-get install -y wrk (make bench installs it)")
    if args.stack:
        use_stack()
    if args.only == "orders":
        print(orders_rounds(args.before, args.after or [], args.rounds))
        return 0
    if args.before:
        print(before_after(args.before, args.rounds))
        return 0
    results: dict[str, Any] = {}
    if args.only == "reads":
        results["load_before"] = os.getloadavg()[0]
        bench_empty_handler(results)
        with ProgrammeSet():
            server = Server([sys.executable, "-m", "gateway", "serve"])
            try:
                bench_reads(results, server)
            finally:
                server.stop()
        print(reads_only(results))
        return 0
    bench_empty_handler(results, reads=args.only is None)
    if args.only == "checkout":
        bench_gateway(results, claims=False)
        print(checkout_only(results))
        return 0
    if args.only == "page":
        bench_page(results)
        print(page_only(results))
        return 0
    with ProgrammeSet():
        bench_gateway(results)
    bench_gateway_router(results)
    bench_page(results)
    bench_naive(results)
    bench_script(results)
    pricing = bench_pricing()
    print(write(results, pricing))
    return 0


if __name__ == "__main__":
    sys.exit(main())
