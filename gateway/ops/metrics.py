"""Prometheus metrics, kept in plain dicts: requests by route and status, latency histogram,
and the campaign alerts. Each worker process exposes its own counters."""

from __future__ import annotations

from bisect import bisect_left
from collections import defaultdict
from collections.abc import Callable

BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


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

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        self.requests[(method, route, status)] += 1
        # bisect_left: the first bucket whose bound is >= seconds (the last slot is +Inf).
        self.latency_counts[route][bisect_left(BUCKETS, seconds)] += 1
        self.latency_sum[route] += seconds

    def render(self) -> str:
        out = [
            "# HELP gateway_requests_total HTTP requests by route and status.",
            "# TYPE gateway_requests_total counter",
        ]
        for (method, route, status), n in sorted(self.requests.items()):
            out.append(
                f'gateway_requests_total{{method="{method}",route="{route}",status="{status}"}} {n}'
            )
        out += [
            "# HELP gateway_request_seconds Request latency.",
            "# TYPE gateway_request_seconds histogram",
        ]
        for route, counts in sorted(self.latency_counts.items()):
            cumulative = 0
            for bound, n in zip((*BUCKETS, "+Inf"), counts, strict=True):
                cumulative += n
                out.append(
                    f'gateway_request_seconds_bucket{{route="{route}",le="{bound}"}} {cumulative}'
                )
            out.append(f'gateway_request_seconds_count{{route="{route}"}} {cumulative}')
            out.append(
                f'gateway_request_seconds_sum{{route="{route}"}} {self.latency_sum[route]:.6f}'
            )
        out += [
            "# HELP gateway_campaign_alerts_total low_stock and sold_out alerts.",
            "# TYPE gateway_campaign_alerts_total counter",
        ]
        for (campaign, kind), n in sorted(self.alerts.items()):
            out.append(f'gateway_campaign_alerts_total{{campaign="{campaign}",kind="{kind}"}} {n}')
        trips, jobs, batches, rows, failures = (
            self.pipe_counters() if self.pipe_counters is not None else (0, 0, 0, 0, 0)
        )
        out += [
            "# TYPE gateway_ledger_batches_total counter",
            f"gateway_ledger_batches_total {self.ledger_batches + batches}",
            "# TYPE gateway_ledger_rows_total counter",
            f"gateway_ledger_rows_total {self.ledger_rows + rows}",
            "# TYPE gateway_ledger_failures_total counter",
            f"gateway_ledger_failures_total {failures}",
            "# HELP gateway_claim_round_trips_total Redis round trips of the claim path.",
            "# TYPE gateway_claim_round_trips_total counter",
            f"gateway_claim_round_trips_total {trips}",
            "# HELP gateway_claim_jobs_total Claims and grants those round trips carried.",
            "# TYPE gateway_claim_jobs_total counter",
            f"gateway_claim_jobs_total {jobs}",
        ]
        return "\n".join(out) + "\n"


metrics = Metrics()
