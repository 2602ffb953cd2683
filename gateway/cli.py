"""The `gateway` command: migrate, keys, reconcile, move-slot, demo, serve."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from gateway.settings import describe, get_settings, served_url

DEMO_NAME = "Demo flash sale: 100 off 500"


async def _migrate() -> None:
    from gateway.store.postgres import migrate

    applied = await migrate(get_settings().database_url)
    print(f"migrations applied: {', '.join(applied) or 'none (up to date)'}", file=sys.stderr)


def _local(at: datetime | None) -> str:
    """A time as `gateway` prints it: in GATEWAY_TIME_ZONE, to the second; `-` for none."""
    if at is None:
        return "-"
    return at.astimezone(ZoneInfo(get_settings().time_zone)).isoformat(timespec="seconds")


async def _keys(args: argparse.Namespace) -> int:
    """`gateway keys create|list|revoke`: the key alone on stdout for `create`."""
    from gateway.auth.services import check_name, create_key, list_keys, revoke_key
    from gateway.store.postgres import create_pool

    settings = get_settings()
    name = None
    if args.keys_command == "create":
        try:
            name = check_name(args.name)
        except ValueError as exc:
            print(f"gateway keys create: {exc}", file=sys.stderr)
            return 2
    pool = await create_pool(settings.database_url, 1)
    try:
        if args.keys_command == "create":
            print(await create_key(pool, args.role, name))
        elif args.keys_command == "list":
            # Tab-separated: a name may hold spaces, `cut -f` still splits it right.
            print("id\trole\tname\tcreated\trevoked")
            for key in await list_keys(pool):
                print(
                    f"{key.id}\t{key.role}\t{key.name or '-'}\t"
                    f"{_local(key.created_at)}\t{_local(key.revoked_at)}"
                )
        else:
            revoked = await revoke_key(pool, args.id)
            if revoked is None:
                print(f"gateway keys revoke: no key has the id {args.id}", file=sys.stderr)
                return 1
            print(
                f"key {args.id} revoked at {_local(revoked)}; running "
                f"gateways refuse it within GATEWAY_KEY_CACHE_TTL_S ({settings.key_cache_ttl_s} s)",
                file=sys.stderr,
            )
    finally:
        await pool.close()
    return 0


async def _reconcile() -> int:
    from gateway.store.postgres import create_pool
    from gateway.store.reconcile import reconcile
    from gateway.store.redis import create_client

    settings = get_settings()
    pool = await create_pool(settings.database_url, 2)
    client = create_client(settings.redis_url)
    try:
        report = await reconcile(pool, client)
    finally:
        await client.aclose()
        await pool.close()
    for line in report:
        print(line, file=sys.stderr)
    print(f"reconcile: {len(report)} differences repaired", file=sys.stderr)
    return 0


async def _move_slot(slot: int, target: str) -> int:
    """`gateway move-slot <slot> <target-node-id>`: moves a hash slot of the Redis Cluster to
    another master with its campaigns' hot state accepted there (no rebuild, no 503)."""
    from gateway.store.redis import create_client
    from gateway.store.reshard import move_slot

    settings = get_settings()
    if not settings.redis_cluster:
        print("gateway move-slot: needs GATEWAY_REDIS_CLUSTER=1", file=sys.stderr)
        return 2
    client = create_client(settings.redis_url, cluster=True)
    try:
        moved = await move_slot(client, slot, target)
    except ValueError as exc:
        print(f"gateway move-slot: {exc}", file=sys.stderr)
        return 2
    finally:
        await client.aclose()
    print(f"move-slot: slot {slot} served by {target} ({moved} keys moved)", file=sys.stderr)
    return 0


DEMO_MEMBER = "INSERT INTO members (member_id, tier) VALUES ($1, 'standard') ON CONFLICT DO NOTHING"


async def _demo() -> None:
    """Makes sure a live demo campaign exists; prints an admin key and its claim link."""
    from gateway.auth.services import create_key
    from gateway.campaigns.schemas import CampaignCreate, RelativeValidity
    from gateway.campaigns.services import CampaignService
    from gateway.clock import clock
    from gateway.members.services import issue_token
    from gateway.store.postgres import create_pool
    from gateway.store.redis import Scripts, create_client

    settings = get_settings()
    pool = await create_pool(settings.database_url, 2)
    client = create_client(settings.redis_url)
    try:
        service = CampaignService(pool, client, Scripts())
        campaign_id = await pool.fetchval(
            "SELECT id FROM campaigns WHERE name = $1 AND status = 'live' "
            "AND claim_ends_at > now() ORDER BY created_at DESC LIMIT 1",
            DEMO_NAME,
        )
        if campaign_id is None:
            now = clock.now()
            created = await service.create(
                CampaignCreate(
                    name=DEMO_NAME,
                    kind="threshold",
                    amount_off=10000,
                    min_spend=50000,
                    channels=["online", "store"],
                    claim_starts_at=now - timedelta(minutes=1),
                    claim_ends_at=now + timedelta(days=30),
                    validity=RelativeValidity(days=7),
                    stock=10000,
                    per_member_limit=1,
                    transferable=True,
                    low_stock_threshold=500,
                ),
                "demo",
            )
            campaign_id = created.id
            await service.move(campaign_id, "publish", "demo")
        link = await service.link(campaign_id, settings.public_url, settings.link_secret)
        key = await create_key(pool, "admin", "demo")
        # A registered demo member and a member token: the claim link as a mall's app opens it.
        await pool.execute(DEMO_MEMBER, "m-1001")
        member = await issue_token(
            pool,
            settings.member_token_secret,
            "m-1001",
            clock.now_ms(),
            settings.member_token_ttl_s,
        )
    finally:
        await client.aclose()
        await pool.close()
    base = served_url(settings.host, settings.port)
    print(
        f"\n  demo campaign : {campaign_id}\n"
        f"  claim link    : {link.url}\n"
        f"  admin key     : {key}\n"
        f"  try it        : curl -s -X POST {base}/v1/campaigns/{campaign_id}/claims \\\n"
        f"                    -H 'Authorization: Bearer {key}' \\\n"
        f"                    -H 'Content-Type: application/json' \\\n"
        f'                    -d \'{{"member_id": "m-1001", "channel": "online", '
        f'"token": "{link.token}"}}\'\n'
        f"  claim page    : {link.url}&m={member.token}\n"
        f"                  (member m-1001, as the mall's app opens it; valid "
        f"{settings.member_token_ttl_s // 60} minutes)\n"
        f"  wallet        : {base}/wallet?m={member.token}\n"
        f"  back office   : {base}/console  (sign in with the admin key above)\n"
        f"  API docs      : {base}/schema/swagger\n",
        file=sys.stderr,
    )


def granian_args(target: str, host: str, port: int, workers: int) -> list[str]:
    """The server command line; the benchmark serves its baselines with the very same one."""
    return [
        sys.executable, "-m", "granian", "--interface", "asgi", "--loop", "uvloop",
        "--host", host, "--port", str(port), "--workers", str(workers), "--no-ws",
        "--backlog", "2048", "--log-level", "warning",
        # A worker killed mid-sale comes back (its coupons are drained from the streams and
        # the ledger fence stops waiting for it); without this granian stops every worker.
        "--respawn-failed-workers", "--respawn-interval", "0.5", target,
    ]  # fmt: skip


def _serve() -> None:
    settings = get_settings()
    asyncio.run(_migrate())
    # No reconcile before listening: a campaign whose hot state was built for another Redis run
    # (or lost) is rebuilt by the first claim that meets it, and refuses claims until then
    # (gateway/store/reconcile.py); dead workers' stream entries are drained in the background
    # (`recover_forever`). A restart in a flash sale listens within seconds whatever the ledger.
    args = granian_args("gateway.asgi:app", settings.host, settings.port, settings.workers)
    os.execv(sys.executable, args)  # noqa: S606 - replaces this process with the server


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="gateway", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("migrate", help="apply the database migrations (idempotent)")
    keys = sub.add_parser("keys", help="API keys")
    keys_sub = keys.add_subparsers(dest="keys_command", required=True)
    create = keys_sub.add_parser("create", help="create a key; prints only the key")
    create.add_argument("--role", required=True, choices=["admin", "clerk", "front", "checkout"])
    create.add_argument(
        "--name", help="label recorded as the actor of the key's events (a clerk: 'store-12 Li Na')"
    )
    keys_sub.add_parser("list", help="print id, role, name, created, revoked of every key")
    revoke = keys_sub.add_parser(
        "revoke", help="revoke a key; gateways refuse it within GATEWAY_KEY_CACHE_TTL_S"
    )
    revoke.add_argument("id", type=int, help="the key's id, as `gateway keys list` prints it")
    sub.add_parser("reconcile", help="drain the ledger streams and rebuild Redis counters")
    move = sub.add_parser(
        "move-slot", help="move a Redis Cluster hash slot to another master without a rebuild"
    )
    move.add_argument("slot", type=int, help="the hash slot, 0..16383 (CLUSTER KEYSLOT <key>)")
    move.add_argument("target", help="the node id of the master to serve it (CLUSTER NODES)")
    sub.add_parser("demo", help="ensure a live demo campaign; print an admin key and its link")
    sub.add_parser("serve", help="migrate, then serve with granian")
    sub.add_parser("settings", help="list every GATEWAY_* variable and its default")
    args = parser.parse_args(argv)

    if args.command == "migrate":
        asyncio.run(_migrate())
    elif args.command == "keys":
        return asyncio.run(_keys(args))
    elif args.command == "reconcile":
        return asyncio.run(_reconcile())
    elif args.command == "move-slot":
        return asyncio.run(_move_slot(args.slot, args.target))
    elif args.command == "demo":
        asyncio.run(_demo())
    elif args.command == "serve":
        _serve()
    elif args.command == "settings":
        for name, default in describe():
            print(f"{name}={default}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
