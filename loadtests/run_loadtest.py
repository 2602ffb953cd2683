"""`make loadtest`: the flash-sale day, headless and distributed on this machine, then a verdict.

1. Starts a gateway of its own (tests/stack.py: private Redis, Postgres and data dir, granian
   on a free port), or uses the one at `LOADTEST_HOST` (keys from `LOADTEST_*_KEY`, Postgres
   from `LOADTEST_DATABASE_URL` for the checks that need it).
2. Runs Locust headless: one master and `LOADTEST_PROCESSES` workers (default: one per core;
   0 runs a single process), `LOADTEST_USERS` users for `LOADTEST_DURATION`, and writes the CSV
   and HTML reports under `LOADTEST_REPORT_DIR` (default loadtests/reports/).
3. Checks consistency (loadtests/consistency.py), prints the verdict, writes it as JSON
   (`verdict.json` beside the reports) and exits 1 when any check fails.

Variables (defaults): LOADTEST_USERS (200), LOADTEST_SPAWN_RATE (users / 2 per second),
LOADTEST_DURATION (60s), LOADTEST_PROCESSES (cores), LOADTEST_GATEWAY_WORKERS (1),
LOADTEST_MAX_ERROR_RATE (0.01), LOADTEST_REPORT_DIR, LOADTEST_HOST, LOADTEST_DATABASE_URL, and
the scenario's own (LOADTEST_STOCK, LOADTEST_WEIGHTS, ...: loadtests/scenarios/config.py).
"""

from __future__ import annotations

import asyncio
import csv
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

# tests.stack: the isolated stack that the durability tests use too.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import consistency
from scenarios import names

from tests.stack import Stack, free_port

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
LOCUSTFILE = HERE / "locustfile.py"


def _env_int(name: str, default: int) -> int:
    raw = os.environ.get(name, "")
    if not raw:
        return default
    if not raw.isdigit():
        raise SystemExit(f"{name} must be a whole number, got {raw!r}")
    return int(raw)


class Settings:
    def __init__(self) -> None:
        self.users = _env_int("LOADTEST_USERS", 200)
        self.spawn_rate = float(os.environ.get("LOADTEST_SPAWN_RATE") or max(1, self.users / 2))
        self.duration = os.environ.get("LOADTEST_DURATION") or "60s"
        self.processes = _env_int("LOADTEST_PROCESSES", os.cpu_count() or 1)
        self.gateway_workers = _env_int("LOADTEST_GATEWAY_WORKERS", 1)
        self.max_error_rate = float(os.environ.get("LOADTEST_MAX_ERROR_RATE") or 0.01)
        self.report_dir = Path(os.environ.get("LOADTEST_REPORT_DIR") or HERE / "reports")
        self.host = os.environ.get("LOADTEST_HOST", "")
        self.database_url = os.environ.get("LOADTEST_DATABASE_URL", "")


def _seconds(duration: str) -> float:
    """Locust's `--run-time` syntax: 90, 90s, 2m, 1h30m."""
    total, number = 0.0, ""
    for ch in duration.strip():
        if ch.isdigit() or ch == ".":
            number += ch
        elif ch in "hms" and number:
            total += float(number) * {"h": 3600, "m": 60, "s": 1}[ch]
            number = ""
        else:
            raise SystemExit(f"LOADTEST_DURATION: cannot read {duration!r} (e.g. 90s, 2m)")
    return total + (float(number) if number else 0.0)


def run_locust(s: Settings, host: str, env: dict[str, str]) -> int:
    """Runs the master (and workers); their output goes to log files beside the reports."""
    report = s.report_dir / "loadtest"
    common = [sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--host", host]
    load = [
        "--headless", "--users", str(s.users), "--spawn-rate", str(s.spawn_rate),
        "--run-time", s.duration, "--stop-timeout", "3",
        "--csv", str(report), "--html", str(report) + ".html", "--only-summary",
    ]  # fmt: skip
    workers: list[subprocess.Popen[bytes]] = []
    logs = []
    try:
        if s.processes == 0:
            master_cmd = [*common, *load]
        else:
            port = free_port()
            master_cmd = [
                *common, *load, "--master", "--master-bind-host", "127.0.0.1",
                "--master-bind-port", str(port), "--expect-workers", str(s.processes),
                "--expect-workers-max-wait", "60",
            ]  # fmt: skip
            worker_cmd = [*common, "--worker", "--master-host", "127.0.0.1"]
            worker_cmd += ["--master-port", str(port)]
            for n in range(s.processes):
                log = open(s.report_dir / f"locust-worker-{n}.log", "wb")  # noqa: SIM115 - closed below
                logs.append(log)
                workers.append(
                    subprocess.Popen(
                        worker_cmd,
                        env=_worker_env(env),
                        stdout=log,
                        stderr=subprocess.STDOUT,
                        cwd=ROOT,
                    )
                )
        with open(s.report_dir / "locust-master.log", "wb") as log:
            master = subprocess.Popen(
                master_cmd, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT
            )
            try:
                code = master.wait(timeout=_seconds(s.duration) + 180)
            except subprocess.TimeoutExpired:
                master.kill()
                code = master.wait()
        for worker in workers:
            try:
                worker.wait(timeout=30)
            except subprocess.TimeoutExpired:
                worker.terminate()
        return code
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.kill()
                worker.wait()
        for log in logs:
            log.close()


def _worker_env(env: dict[str, str]) -> dict[str, str]:
    """Workers get no keys: the fixture reaches them in the spawn message."""
    return {k: v for k, v in env.items() if not k.endswith("_KEY")}


def read_stats(csv_path: Path) -> dict[str, dict[str, str]]:
    with csv_path.open(newline="") as f:
        return {row["Name"]: row for row in csv.DictReader(f)}


def _ms(value: str) -> str:
    return "n/a" if value in ("", "N/A") else f"{float(value):.0f} ms"


def verdict(
    s: Settings, results: dict[str, Any], stats: dict[str, dict[str, str]], checks: list[Any]
) -> tuple[list[str], dict[str, Any]]:
    total = stats["Aggregated"]
    requests, failures = int(total["Request Count"]), int(total["Failure Count"])
    error_rate = failures / requests if requests else 1.0
    tally: dict[str, int] = results["tally"]
    per_class = {
        cls: {"ok": tally.get(f"ok|{cls}", 0), "failed": tally.get(f"fail|{cls}", 0)}
        for cls in names.USER_CLASSES
    }
    held = results["users"] >= s.users
    checks = [
        consistency.Check(
            "load held",
            held and requests > 0,
            f"{results['users']} of {s.users} users spawned, {requests} requests",
        ),
        consistency.Check(
            "error rate",
            error_rate <= s.max_error_rate,
            f"{failures} failed of {requests} ({error_rate:.2%}; at most {s.max_error_rate:.2%})",
        ),
        consistency.Check(
            "every user class",
            all(c["ok"] > 0 for c in per_class.values()),
            ", ".join(f"{cls} {c['ok']} ok / {c['failed']} failed" for cls, c in per_class.items()),
        ),
        *checks,
    ]
    passed = all(c.ok for c in checks)
    lines = [
        f"load test {results['fixture']['run_id']}: {results['users']} users, {s.duration}, "
        + ("1 process" if s.processes == 0 else f"master + {s.processes} workers"),
        f"  load held : {float(total['Requests/s']):,.0f} req/s over {requests:,} requests; "
        f"p50 {_ms(total['50%'])}, p99 {_ms(total['99%'])}; failures {failures} "
        f"({error_rate:.2%})",
    ]
    for name in (
        names.FLASH_CLAIM,
        names.PAGE_CLAIM,
        names.SHOP_RESERVE,
        names.SHOP_COMMIT,
        names.FRIEND_COMMIT,
        names.CLERK_GRANT,
    ):
        if name in stats:
            row = stats[name]
            lines.append(
                f"  {name:<10}: {float(row['Requests/s']):,.0f} req/s, "
                f"p50 {_ms(row['50%'])}, p99 {_ms(row['99%'])}"
            )
    for campaign in ("flash", "store"):
        refused = {
            key.rsplit("|", 1)[1]: n
            for key, n in sorted(tally.items())
            if key.startswith(f"{names.REFUSED}{campaign}|")
        }
        taken = consistency.responses_201(tally, campaign) + (
            tally.get(names.GRANTED, 0) if campaign == "store" else 0
        )
        lines.append(
            f"  {campaign} campaign: {taken:,} coupons taken, refused correctly: "
            + (", ".join(f"{n:,} {code}" for code, n in refused.items()) or "none")
            + (
                f"; restocked +{tally[names.RESTOCKED]:,}"
                if campaign == "flash" and tally.get(names.RESTOCKED)
                else ""
            )
        )
    if results["fixture"].get("rewards"):
        lines.append(
            f"  rewards   : the programme's rewards ran under the load; "
            f"{tally.get(names.REFERRED, 0):,} friends registered with an inviter, "
            f"{tally.get(names.TRANSFERRED, 0):,} coupons given by transfer"
        )
    lines += [f"  [{'PASS' if c.ok else 'FAIL'}] {c.name}: {c.detail}" for c in checks]
    lines.append(f"verdict: {'PASS' if passed else 'FAIL'}")
    summary = {
        "passed": passed,
        "run_id": results["fixture"]["run_id"],
        "users": results["users"],
        "duration": s.duration,
        "processes": s.processes,
        "requests": requests,
        "failures": failures,
        "rps": float(total["Requests/s"]),
        "p50_ms": total["50%"],
        "p99_ms": total["99%"],
        "per_class": per_class,
        "checks": [{"name": c.name, "ok": c.ok, "detail": c.detail} for c in checks],
    }
    return lines, summary


def _tear_down(stack: Stack, report_dir: Path) -> None:
    """Stops the private gateway and services; keeps the gateway's log beside the reports."""
    try:
        stack.stop_gateway()
    except ProcessLookupError:  # it had already exited
        stack.gateway = None
    log = stack.data / "gateway.log"
    if log.exists():
        shutil.copyfile(log, report_dir / "gateway.log")
    stack.destroy()


def _on_sigterm(signum: int, frame: Any) -> None:
    raise SystemExit(128 + signum)


def main() -> int:
    s = Settings()
    s.report_dir.mkdir(parents=True, exist_ok=True)
    signal.signal(signal.SIGTERM, _on_sigterm)
    results_path = s.report_dir / "results.json"
    results_path.unlink(missing_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")}
    env["LOADTEST_RESULTS"] = str(results_path)
    stack: Stack | None = None
    try:
        if s.host:
            host, database_url = s.host, s.database_url or None
        else:
            stack = Stack("loadtest")
            print(f"loadtest: starting a private Redis, Postgres and gateway ({stack.data})")
            stack.services("start")
            stack.cli("migrate")
            # The claim page's users (PageClaimer) each send their phone's address in
            # X-Forwarded-For, as a load balancer in front of the gateway would.
            stack.start_gateway(workers=str(s.gateway_workers), trusted_proxies="127.0.0.1")
            for role in ("admin", "front", "clerk", "checkout"):
                env[f"LOADTEST_{role.upper()}_KEY"] = stack.cli("keys", "create", "--role", role)
            host, database_url = stack.base_url, stack.database_url
        print(
            f"loadtest: {s.users} users for {s.duration} against {host}, "
            + ("one process" if s.processes == 0 else f"master + {s.processes} workers")
        )
        started = time.monotonic()
        code = run_locust(s, host, env)
        print(f"loadtest: locust exited {code} after {time.monotonic() - started:.1f} s")
        if not results_path.exists():
            print(f"loadtest: no results; see {s.report_dir / 'locust-master.log'}")
            return 1
        results = json.loads(results_path.read_text())
        keys = consistency.keys_from_env(env)
        checks = asyncio.run(consistency.run_checks(results, host, database_url, keys))
        if s.host:  # a shared deployment: the run's campaigns must not stay claimable
            closed = asyncio.run(consistency.close_campaigns(results, host, keys["admin"]))
            print(f"loadtest: closed the run's campaigns {', '.join(closed)}")
        stats = read_stats(s.report_dir / "loadtest_stats.csv")
        lines, summary = verdict(s, results, stats, checks)
    finally:
        if stack is not None:
            _tear_down(stack, s.report_dir)
    print("\n".join(lines))
    (s.report_dir / "verdict.json").write_text(json.dumps(summary, indent=1))
    print(f"reports: {s.report_dir / 'loadtest.html'}, {s.report_dir / 'loadtest_stats.csv'}")
    return 0 if summary["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
