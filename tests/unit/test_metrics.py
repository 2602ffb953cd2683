"""Rendering and the workers' shared view of the metrics: pure, no servers."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from gateway.ops.metrics import FAMILIES, Metrics, SharedMetrics, escape_label, render


def _dead_pid() -> int:
    """The pid of a process that has ended (and been reaped)."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_label_values_escape_backslash_quote_and_newline() -> None:
    assert escape_label('a"b\\c\nd') == 'a\\"b\\\\c\\nd'
    text = render({("gateway_campaign_alerts_total", ('cmp_"x\\', "low\nstock")): 2})
    assert 'gateway_campaign_alerts_total{campaign="cmp_\\"x\\\\",kind="low\\nstock"} 2' in text


def test_every_family_has_help_and_type_even_without_samples() -> None:
    text = render({})
    for family, (kind, _, _) in FAMILIES.items():
        assert f"# HELP {family} " in text and f"# TYPE {family} {kind}\n" in text


def test_a_method_nobody_uses_is_counted_as_other() -> None:
    metrics = Metrics()
    metrics.observe("BREW", "/r", 405, 0.001)
    metrics.observe("GET", "/r", 200, 0.001)
    text = metrics.render()
    assert 'method="other",route="/r",status="405"} 1' in text and "BREW" not in text


def test_workers_snapshots_add_up_and_a_dead_workers_are_kept(tmp_path: Path) -> None:
    one, two = Metrics(), Metrics()
    for _ in range(3):
        one.observe("POST", "/c", 201, 0.002)
    two.observe("POST", "/c", 201, 0.3)
    dead = _dead_pid()
    mine = SharedMetrics(tmp_path)
    SharedMetrics(tmp_path, pid=dead).publish(two.samples())
    total = render(mine.gather(one.samples()))
    assert 'gateway_requests_total{method="POST",route="/c",status="201"} 4' in total
    assert 'gateway_request_seconds_bucket{route="/c",le="0.0025"} 3' in total
    assert 'gateway_request_seconds_count{route="/c"} 4' in total
    # The dead worker's file was folded into the retired totals: the sum stays.
    assert not (tmp_path / f"worker-{dead}.json").exists()
    assert render(mine.gather(one.samples())) == total


def test_a_new_worker_under_a_dead_workers_pid_keeps_the_old_counts(tmp_path: Path) -> None:
    old = Metrics()
    old.observe("GET", "/h", 200, 0.001)
    SharedMetrics(tmp_path, pid=12345678).publish(old.samples())
    reused = SharedMetrics(tmp_path, pid=12345678)  # the pid came round again
    text = render(reused.gather(Metrics().samples()))
    assert 'gateway_requests_total{method="GET",route="/h",status="200"} 1' in text
