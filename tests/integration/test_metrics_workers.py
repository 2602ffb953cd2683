"""One scrape shows the whole gateway: a real server with GATEWAY_WORKERS=2 (tests/stack.py)."""

from __future__ import annotations

import re
import subprocess
import time
from collections.abc import Iterator

import httpx
import pytest

from gateway.ops.metrics import FAMILIES
from tests.stack import Stack

# A sample line of the text format: name, optional labels (values with \\, \" and \n escaped
# only), a number.
SAMPLE = re.compile(
    r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\[\\"n])*"'
    r'(?:,[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\[\\"n])*")*\})? (-?[0-9.e+]+|\+Inf|NaN)$'
)
REQUESTS = 120


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    s = Stack("metrics")
    s.services("start")
    s.cli("migrate")
    s.start_gateway(workers="2", metrics_dir=str(s.data / "metrics"))
    yield s
    s.destroy()


def scrape(stack: Stack) -> str:
    # A new connection each time: either worker may answer.
    response = httpx.get(f"{stack.base_url}/metrics", timeout=10)
    assert response.status_code == 200
    return response.text


def requests_total(text: str, route: str) -> int:
    total = 0
    for line in text.splitlines():
        if line.startswith("gateway_requests_total{") and f'route="{route}"' in line:
            total += int(line.rsplit(" ", 1)[1])
    return total


def scrape_until(stack: Stack, route: str, expected: int) -> str:
    """Scrapes until the workers' snapshots (published every second) show `expected`."""
    deadline = time.monotonic() + 15
    while True:
        text = scrape(stack)
        if requests_total(text, route) >= expected or time.monotonic() > deadline:
            return text
        time.sleep(0.1)


def check_format(text: str) -> None:
    """Every family has its HELP and TYPE before its samples; every sample line parses."""
    helped: set[str] = set()
    typed: dict[str, str] = {}
    for line in text.splitlines():
        if line.startswith("# HELP "):
            helped.add(line.split()[2])
        elif line.startswith("# TYPE "):
            _, _, family, kind = line.split()
            typed[family] = kind
        else:
            match = SAMPLE.match(line)
            assert match, f"not a sample line: {line!r}"
            name = match.group(1)
            family = re.sub(r"_(bucket|sum|count)$", "", name)
            family = family if family in typed else name
            assert family in helped and family in typed, f"{name} has no HELP/TYPE"
    assert set(FAMILIES) <= helped and set(FAMILIES) <= set(typed)


def test_one_scrape_sums_every_worker(stack: Stack) -> None:
    for _ in range(REQUESTS):
        # New connections: granian's workers share the listening socket and take turns.
        assert httpx.get(f"{stack.base_url}/healthz", timeout=10).status_code == 200
    text = scrape_until(stack, "/healthz", REQUESTS)
    assert requests_total(text, "/healthz") == REQUESTS
    # Both workers publish; whichever answers, every scrape shows the same total.
    workers = list((stack.data / "metrics").glob("worker-*.json"))
    assert len(workers) == 2, workers
    for _ in range(8):
        again = scrape(stack)
        assert requests_total(again, "/healthz") == REQUESTS
        check_format(again)


def test_unknown_paths_with_quotes_and_backslashes_leave_the_scrape_well_formed(
    stack: Stack,
) -> None:
    # Unknown paths never become label values (Litestar answers them 404 before any route,
    # uncounted); the label values that exist are escaped by `render` (tests/unit/test_metrics).
    weird = ['/nope/"quoted"', "/nope/back\\slash", "/nope/new%0Aline", "/nope/%22%5C"]
    for path in weird:
        assert httpx.get(f"{stack.base_url}{path}", timeout=10).status_code == 404
    text = scrape(stack)
    check_format(text)
    assert "nope" not in text


def _workers(stack: Stack) -> list[int]:
    assert stack.gateway is not None
    # `gateway serve` execs granian: the process started is granian's main process.
    out = subprocess.run(
        ["pgrep", "-P", str(stack.gateway.pid)], capture_output=True, text=True, check=False
    ).stdout.split()
    return [int(pid) for pid in out]


def test_dead_workers_counts_stay_in_the_totals_across_a_restart(stack: Stack) -> None:
    for _ in range(40):
        assert httpx.get(f"{stack.base_url}/healthz", timeout=10).status_code == 200
    text = scrape_until(stack, "/healthz", REQUESTS + 40)
    total = requests_total(text, "/healthz")
    assert total == REQUESTS + 40
    old = _workers(stack)
    assert len(old) == 2, old
    # kill -9 of everything (granian stops serving when a worker dies), then a new run with
    # the same directory: the dead workers' last snapshots are folded, nothing goes back.
    stack.kill_gateway()
    stack.start_gateway(workers="2", metrics_dir=str(stack.data / "metrics"))
    for _ in range(4):
        text = scrape(stack)
        assert requests_total(text, "/healthz") == total
        check_format(text)
    metrics = stack.data / "metrics"
    assert not [pid for pid in old if (metrics / f"worker-{pid}.json").exists()]
    assert (metrics / "retired.json").exists()
