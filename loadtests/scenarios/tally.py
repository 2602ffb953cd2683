"""What the end-of-run check needs counted, summed over every worker.

Each process counts, per request name and status, and per user class successes and failures
(`record`, a `request` event listener), plus domain counts the scenarios add (`add`: coupons
granted, orders committed). Workers send their totals to the master when they stop, in a
custom message sent before Locust's own `client_stopped`, so the master has every worker's
final count by the time its own `test_stop` fires and writes the results file.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

COUNTS: Counter[str] = Counter()
#: The master's copy of each worker's latest totals (totals, not deltas: a resend is harmless).
_WORKERS: dict[str, Counter[str]] = {}

MESSAGE = "loadtest_tally"


def status_key(name: str, status: int) -> str:
    return f"status|{name}|{status}"


def add(key: str, n: int = 1) -> None:
    COUNTS[key] += n


def reset() -> None:
    COUNTS.clear()
    _WORKERS.clear()


def record(
    name: str,
    response: Any = None,
    context: dict[str, Any] | None = None,
    exception: BaseException | None = None,
    **_: Any,
) -> None:
    """The `request` event listener."""
    status = getattr(response, "status_code", 0) or 0
    COUNTS[status_key(name, int(status))] += 1
    user = (context or {}).get("user", "?")
    COUNTS[f"{'fail' if exception else 'ok'}|{user}"] += 1


def on_worker_tally(msg: Any, **_: Any) -> None:
    """The master's handler of `MESSAGE`."""
    _WORKERS[msg.data["worker"]] = Counter(msg.data["counts"])


def totals(distributed: bool) -> Counter[str]:
    if not distributed:
        return Counter(COUNTS)
    total: Counter[str] = Counter()
    for counts in _WORKERS.values():
        total.update(counts)
    return total


def workers_reported() -> int:
    return len(_WORKERS)
