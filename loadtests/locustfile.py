"""The flash-sale day on the redemption gateway, for Locust.

    locust -f loadtests/locustfile.py --host http://127.0.0.1:8000 --headless -u 200 -r 50 -t 1m

Users (see `scenarios/`): FlashClaimer, Shopper, Operator (exactly one), Clerk, PageClaimer
(the claim page and its `POST /claim/{id}`, no API key), RewardShopper (friends invited with
`referred_by` and given transferred coupons, ordering while the programme's rewards run); the mix
comes from `LOADTEST_WEIGHTS`. The master (or the single process) creates the day's campaigns
and sets the programme's rewards through the API when the test starts, with the keys in
`LOADTEST_{ADMIN,FRONT,CLERK,CHECKOUT}_KEY` (or `LOADTEST_CREATE_KEYS=1` to create them with the
gateway CLI); workers need nothing but this file. `make loadtest` (loadtests/run_loadtest.py)
runs it distributed against a local gateway and ends with the consistency check;
docs/LOADTEST.md says how to run it elsewhere.

Set `LOADTEST_RESULTS=<path>` to get, when the test stops, a JSON file with the fixture and the
tally (201s per request, coupons granted, orders settled) that `loadtests/consistency.py` checks.
"""

from __future__ import annotations

import json
import logging
import os
from typing import Any

import gevent
from locust import events
from locust.runners import MasterRunner, WorkerRunner
from scenarios import base, config, fixture, names, tally
from scenarios.clerk import Clerk
from scenarios.flash import FlashClaimer
from scenarios.friends import RewardShopper
from scenarios.operator import Operator
from scenarios.page import PageClaimer
from scenarios.shopper import Shopper

__all__ = ["Clerk", "FlashClaimer", "Operator", "PageClaimer", "RewardShopper", "Shopper"]

log = logging.getLogger("loadtest")

# Locust takes every User class in this module's namespace: no loop variable may hold one.
_MIX = config.weights()
FlashClaimer.weight, Shopper.weight = _MIX["FlashClaimer"], _MIX["Shopper"]
Clerk.weight, PageClaimer.weight = _MIX["Clerk"], _MIX["PageClaimer"]
RewardShopper.weight = _MIX["RewardShopper"]

# The master's own run-time, taken over from `--run-time` (see `_init`).
_RUN_TIME: dict[str, float] = {}
# Whether the fixture was given (`--loadtest-fixture`) rather than made here at each test start.
_GIVEN: dict[str, bool] = {}
_SPAWNED: dict[str, int] = {}


@events.init_command_line_parser.add_listener
def _options(parser: Any) -> None:
    parser.add_argument(
        "--loadtest-fixture",
        default=os.environ.get("LOADTEST_FIXTURE", ""),
        include_in_web_ui=False,
        help="JSON set-up (campaigns, keys); made by the master when empty",
    )


@events.init.add_listener
def _init(environment: Any, **_: Any) -> None:
    runner, options = environment.runner, environment.parsed_options
    _GIVEN["fixture"] = bool(options is not None and options.loadtest_fixture)
    if isinstance(runner, MasterRunner):
        runner.register_message(tally.MESSAGE, tally.on_worker_tally)
        # Headless Locust ends a distributed run with `quit`, which fires the master's test_stop
        # at once and gives workers 0.5 s for their last report: counts would go missing. The
        # master keeps the run-time itself and stops the workers first (`_stop_then_quit`).
        if options is not None and options.headless and options.run_time:
            _RUN_TIME["s"] = float(options.run_time)
            options.run_time = None


@events.test_start.add_listener
def _test_start(environment: Any, **_: Any) -> None:
    tally.reset()
    base.STOP["stopping"] = False
    if isinstance(environment.runner, WorkerRunner):
        return  # the fixture arrives with the spawn message
    if not _GIVEN["fixture"]:  # fresh campaigns for every test (the web UI may start many)
        try:
            made = fixture.create(
                environment.host or "", config.SetupConfig(), config.Keys.from_env()
            )
        except (RuntimeError, OSError, ValueError, KeyError, SystemExit) as exc:
            log.error("load-test set-up failed: %s", exc)
            environment.parsed_options.loadtest_fixture = ""
            environment.process_exit_code = 3
            gevent.spawn(environment.runner.quit)
            return
        environment.parsed_options.loadtest_fixture = made.dumps()
        campaigns = ", ".join(f"{k} {c.id}" for k, c in made.campaigns.items())
        rewards = ", ".join(f"{k} {c.id}" for k, c in made.reward_campaigns.items())
        log.info(
            "load-test set-up: run %s, campaigns %s; rewards %s", made.run_id, campaigns, rewards
        )
    if "s" in _RUN_TIME:
        gevent.spawn_later(_RUN_TIME["s"], _stop_then_quit, environment)


@events.test_stopping.add_listener
def _test_stopping(**_: Any) -> None:
    base.STOP["stopping"] = True  # before Locust stops the users: see GatewayUser.stopping


def _stop_then_quit(environment: Any) -> None:
    log.info("run time reached: stopping the workers, then quitting")
    environment.runner.stop()  # waits until every worker has stopped its users
    # A worker answers `stop` by sleeping --stop-timeout before it reads messages again: quit
    # once they listen, or they would miss the quit and linger.
    gevent.sleep(environment.stop_timeout + 1)
    environment.runner.quit()


@events.spawning_complete.add_listener
def _spawned(user_count: int, **_: Any) -> None:
    _SPAWNED["users"] = max(user_count, _SPAWNED.get("users", 0))


events.request.add_listener(tally.record)


@events.test_stop.add_listener
def _test_stop(environment: Any, **_: Any) -> None:
    runner = environment.runner
    if isinstance(runner, WorkerRunner):
        # Locust sends a worker's last stats only on `quit`, after the master has written its
        # report: send them now, before `client_stopped`, with the tally (private API, 2.x).
        runner._send_stats()
        runner.send_message(
            tally.MESSAGE, {"worker": runner.client_id, "counts": dict(tally.COUNTS)}
        )
        return
    path = os.environ.get("LOADTEST_RESULTS")
    made = base.fixture_of(environment)
    if not path or made is None:
        return
    distributed = isinstance(runner, MasterRunner)
    total = runner.stats.total
    fixture_json = json.loads(made.dumps())
    del fixture_json["keys"]  # a report file is no place for API keys
    results = {
        "fixture": fixture_json,
        "tally": dict(tally.totals(distributed)),
        "workers_reported": tally.workers_reported() if distributed else 0,
        "users": _SPAWNED.get("users", 0),
        "requests": total.num_requests,
        "failures": total.num_failures,
        "user_classes": list(names.USER_CLASSES),
    }
    with open(path, "w", encoding="utf-8") as out:
        json.dump(results, out, indent=1, sort_keys=True)
    log.info("load-test results written to %s", path)
