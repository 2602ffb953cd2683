"""Prometheus metrics: requests by route and status, latency histogram, the campaign alerts and
the claim pipeline's counters, for the whole gateway.

Each worker process counts in plain dicts (a dict increment is all the hot path pays). With
several workers (`GATEWAY_WORKERS` > 1) each one also publishes a snapshot of its counters every
second, and whenever it answers a scrape, to a file of its own in `GATEWAY_METRICS_DIR`
(`worker-<pid>.json`); the worker that answers `/metrics` sums every worker's latest snapshot.
So one scrape shows the whole gateway on this host; another worker's figures are at most about
a second old.

Counters never go backwards while that directory lives: a worker that died (its pid is gone) has
its last snapshot folded into `retired.json` by the next scrape, under a lock, so its counts
stay in the totals; the little it counted after its last publish (under a second) is lost. A
restart of the gateway with the same directory folds the previous run's workers the same way and
the totals carry on; a new directory (or a reboot clearing /tmp) starts from zero, which
Prometheus reads as a counter reset.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
import tempfile
from bisect import bisect_left
from collections import defaultdict
from collections.abc import Callable, Iterator
from pathlib import Path

import msgspec

log = logging.getLogger(__name__)

BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
_LE = (*(str(bound) for bound in BUCKETS), "+Inf")
# Any other method string is counted as "other": a client cannot add label values at will.
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})

#: Seconds between two snapshots of a worker's counters.
PUBLISH_EVERY_S = 1.0

#: Every family, in the order a scrape shows them: name -> (type, help, label names).
FAMILIES: dict[str, tuple[str, str, tuple[str, ...]]] = {
    "gateway_requests_total": (
        "counter",
        "HTTP requests by method, route and status.",
        ("method", "route", "status"),
    ),
    "gateway_request_seconds": ("histogram", "Request latency by route.", ("route",)),
    "gateway_campaign_alerts_total": (
        "counter",
        "low_stock and sold_out alerts by campaign.",
        ("campaign", "kind"),
    ),
    "gateway_ledger_batches_total": ("counter", "Statements that wrote coupons to Postgres.", ()),
    "gateway_ledger_rows_total": ("counter", "Coupons written to Postgres.", ()),
    "gateway_ledger_recovered_rows_total": (
        "counter",
        "Of those, stream entries written by recovery or a rebuild (left by a dead worker).",
        (),
    ),
    "gateway_ledger_failures_total": ("counter", "Ledger statements that failed.", ()),
    "gateway_claim_round_trips_total": ("counter", "Redis round trips of the claim path.", ()),
    "gateway_claim_jobs_total": ("counter", "Claims and grants those round trips carried.", ()),
}

#: A sample: (sample name, label values) -> value. Histogram buckets are kept per bucket (not
#: cumulative) so that samples of several workers add up.
Samples = dict[tuple[str, tuple[str, ...]], float]


class Metrics:
    def __init__(self) -> None:
        self.requests: defaultdict[tuple[str, str, int], int] = defaultdict(int)
        self.latency_counts: defaultdict[str, list[int]] = defaultdict(
            lambda: [0] * (len(BUCKETS) + 1)
        )
        self.latency_sum: defaultdict[str, float] = defaultdict(float)
        self.alerts: defaultdict[tuple[str, str], int] = defaultdict(int)
        # Written by recovery; the claim pipeline counts its own (`pipe_counters`).
        self.ledger_batches = 0
        self.ledger_rows = 0
        #: The claim pipeline's own counters (round trips, jobs, ledger batches, rows, failures),
        #: kept by its threads in Rust; set by the claim service while it runs.
        self.pipe_counters: Callable[[], tuple[int, int, int, int, int]] | None = None
        #: The workers' shared view, when there are several (`publish_forever`).
        self.shared: SharedMetrics | None = None

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        if method not in _METHODS:
            method = "other"
        self.requests[(method, route, status)] += 1
        # bisect_left: the first bucket whose bound is >= seconds (the last slot is +Inf).
        self.latency_counts[route][bisect_left(BUCKETS, seconds)] += 1
        self.latency_sum[route] += seconds

    def samples(self) -> Samples:
        """This process's counters as samples."""
        out: Samples = {}
        for (method, route, status), n in self.requests.items():
            out[("gateway_requests_total", (method, route, str(status)))] = n
        for route, counts in self.latency_counts.items():
            for le, n in zip(_LE, counts, strict=True):
                out[("gateway_request_seconds_bucket", (route, le))] = n
            out[("gateway_request_seconds_sum", (route,))] = self.latency_sum[route]
        for (campaign, kind), n in self.alerts.items():
            out[("gateway_campaign_alerts_total", (campaign, kind))] = n
        trips, jobs, batches, rows, failures = (
            self.pipe_counters() if self.pipe_counters is not None else (0, 0, 0, 0, 0)
        )
        out[("gateway_ledger_batches_total", ())] = self.ledger_batches + batches
        out[("gateway_ledger_rows_total", ())] = self.ledger_rows + rows
        out[("gateway_ledger_recovered_rows_total", ())] = self.ledger_rows
        out[("gateway_ledger_failures_total", ())] = failures
        out[("gateway_claim_round_trips_total", ())] = trips
        out[("gateway_claim_jobs_total", ())] = jobs
        return out

    def render(self) -> str:
        """This process's counters in the Prometheus text format."""
        return render(self.samples())

    async def scrape(self) -> str:
        """What `/metrics` answers: the whole gateway (every worker), or this process alone."""
        if self.shared is None:
            return self.render()
        samples = self.samples()
        return render(await asyncio.to_thread(self.shared.gather, samples))


def escape_label(value: str) -> str:
    """A label value as the text format writes it: backslash, double quote and newline escaped."""
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def escape_help(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n")


def _labels(names: tuple[str, ...], values: tuple[str, ...]) -> str:
    if not names:
        return ""
    pairs = ",".join(f'{n}="{escape_label(v)}"' for n, v in zip(names, values, strict=True))
    return "{" + pairs + "}"


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:.6f}"


def render(samples: Samples) -> str:
    """Samples in the Prometheus text format (0.0.4): every family with its HELP and TYPE."""
    by_name: defaultdict[str, list[tuple[tuple[str, ...], float]]] = defaultdict(list)
    for (name, labels), value in samples.items():
        by_name[name].append((labels, value))
    out: list[str] = []
    for family, (kind, help_text, names) in FAMILIES.items():
        out.append(f"# HELP {family} {escape_help(help_text)}")
        out.append(f"# TYPE {family} {kind}")
        if kind == "histogram":
            out += _histogram(family, names, by_name)
            continue
        for labels, value in sorted(by_name[family]):
            out.append(f"{family}{_labels(names, labels)} {_number(value)}")
    return "\n".join(out) + "\n"


def _histogram(
    family: str,
    names: tuple[str, ...],
    by_name: dict[str, list[tuple[tuple[str, ...], float]]],
) -> Iterator[str]:
    buckets: defaultdict[tuple[str, ...], dict[str, float]] = defaultdict(dict)
    for labels, value in by_name.get(f"{family}_bucket", []):
        buckets[labels[:-1]][labels[-1]] = value
    sums = dict(by_name.get(f"{family}_sum", []))
    for labels in sorted(buckets):
        cumulative = 0.0
        for le in _LE:
            cumulative += buckets[labels].get(le, 0)
            with_le = _labels((*names, "le"), (*labels, le))
            yield f"{family}_bucket{with_le} {_number(cumulative)}"
        yield f"{family}_count{_labels(names, labels)} {_number(cumulative)}"
        yield f"{family}_sum{_labels(names, labels)} {sums.get(labels, 0.0):.6f}"


# -- several workers ------------------------------------------------------------------------

_Snapshot = list[tuple[str, list[str], float]]
_decode_snapshot = msgspec.json.Decoder(_Snapshot)


def _encode(samples: Samples) -> bytes:
    return msgspec.json.encode(
        [(name, list(labels), value) for (name, labels), value in samples.items()]
    )


def _read(path: Path) -> Samples:
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return {}
    try:
        return {
            (name, tuple(labels)): value for name, labels, value in _decode_snapshot.decode(raw)
        }
    except msgspec.DecodeError:
        log.warning("metrics: %s is not a snapshot; ignored", path)
        return {}


def _write(path: Path, samples: Samples) -> None:
    """Replaces `path` atomically: a reader sees the old snapshot or the new one, never half."""
    partial = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    partial.write_bytes(_encode(samples))
    os.replace(partial, path)


def _add(total: Samples, samples: Samples) -> None:
    for key, value in samples.items():
        total[key] = total.get(key, 0) + value


def _alive(pid: int) -> bool:
    """Whether the process runs: not gone, and not a zombie its parent has yet to reap (a
    worker killed under granian stays one until granian notices)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's process has that pid: not ours to judge
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True  # no /proc: the signal's answer is all there is
    return stat[stat.rfind(")") + 2 : stat.rfind(")") + 3] not in ("Z", "X")


class SharedMetrics:
    """One worker's side of the shared view: its snapshot file, and the merge at scrape time."""

    def __init__(self, directory: Path, pid: int | None = None) -> None:
        self.directory = directory
        self.pid = os.getpid() if pid is None else pid
        self.path = directory / f"worker-{self.pid}.json"
        self.retired = directory / "retired.json"
        directory.mkdir(parents=True, exist_ok=True)
        # A file under our pid is a dead worker's whose pid came round again: keep its counts.
        with self._locked():
            self._retire(self.path)

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        with open(self.directory / ".lock", "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def _retire(self, path: Path) -> None:
        """Folds a dead worker's last snapshot into the retired totals (caller holds the lock)."""
        dead = _read(path)
        if dead:
            retired = _read(self.retired)
            _add(retired, dead)
            _write(self.retired, retired)
        path.unlink(missing_ok=True)

    def publish(self, samples: Samples) -> None:
        _write(self.path, samples)

    def gather(self, own: Samples) -> Samples:
        """Publishes `own` and returns the sum of every worker's snapshot, the dead included."""
        self.publish(own)
        with self._locked():
            total: Samples = {}
            for path in sorted(self.directory.glob("worker-*.json")):
                try:
                    pid = int(path.stem.removeprefix("worker-"))
                except ValueError:
                    continue
                if pid != self.pid and not _alive(pid):
                    self._retire(path)
                    continue
                _add(total, own if pid == self.pid else _read(path))
            _add(total, _read(self.retired))
        return total


def metrics_dir(configured: str, port: int) -> Path:
    """Where the workers of the gateway on `port` share their counters."""
    if configured:
        return Path(configured)
    return Path(tempfile.gettempdir()) / f"gateway-metrics-{port}"


async def publish_forever(directory: Path | None, every_s: float = PUBLISH_EVERY_S) -> None:
    """The background task of a worker among several: publishes its counters every `every_s`
    and once more when it stops. `None` (a single worker): nothing to share."""
    if directory is None:
        return
    shared = metrics.shared = await asyncio.to_thread(SharedMetrics, directory)
    try:
        while True:
            await asyncio.sleep(every_s)
            samples = metrics.samples()
            await asyncio.to_thread(shared.publish, samples)
    finally:
        metrics.shared = None
        shared.publish(metrics.samples())


metrics = Metrics()
