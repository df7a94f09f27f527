"""`maildesk demo`: the demo data served on a fake clock, on a database of its own.

The demo imports vendors and orders, stores a local secret and admin token,
and moves a fake clock: none of that may ever happen to a database that
holds a real desk. So the demo marks the database it starts on, and refuses
any database that holds something it did not put there (a `--db` or a
`MAILDESK_DB` left set in the shell). Started again on its own database, it
resumes its fake clock where it stood.
"""

from __future__ import annotations

import argparse
import json

from service import logs
from service.catalog import import_catalog
from service.config import ConfigError
from service.outbound.webhook_target import AllowList
from service.runtime import FAKE_CLOCK_KEY, Runtime, clock_for
from service.serving.banner import banner, demo_tour
from service.serving.options import DEMO_DB, DEMO_START, bundled, settings_from
from service.serving.run import serve
from service.store import Store, open_store

DEMO_MARK = "demo_database"
"""Settings key the demo leaves in the database it made."""


async def cmd_demo(args: argparse.Namespace) -> int:
    store = await open_store(args.db)
    try:
        resumed = await claim_for_demo(store, args.db)
        if not args.fake_clock:
            args.fake_clock = "resume" if resumed else DEMO_START
        settings = await settings_from(args, store, mode="demo")
        logs.configure(settings.log_format, "warning")  # the demo's tour is its story
        data = json.loads((bundled("fixtures") / "demo.json").read_text("utf-8"))
        counts = await import_catalog(
            store,
            data,
            clock=await clock_for(settings, store),
            webhook_allow=AllowList.parse(settings.webhook_allow_hosts),
        )
    except BaseException:
        await store.close()
        raise

    def ready(runtime: Runtime) -> None:
        sample = bundled("fixtures") / "mail" / "refund-request.eml"
        print(banner(runtime) + "\n" + demo_tour(runtime, counts, sample), flush=True)

    await serve(settings, store=store, on_ready=ready)
    return 0


async def claim_for_demo(store: Store, db: str) -> bool:
    """Mark a new database as the demo's; refuse one the demo did not make.

    Returns whether the demo ran on this database before (its fake clock is
    there to resume).
    """
    async with store.transaction() as q:
        if await q.settings.get(DEMO_MARK):
            return await q.settings.get(FAKE_CLOCK_KEY) is not None
        if await q.settings.any() or await q.vendors.all():
            raise ConfigError(
                f"{db} holds a desk the demo did not make, and the demo never touches one "
                "(it imports demo vendors and moves a fake clock); run the demo on its own "
                f"database: unset MAILDESK_DB, or pass --db {DEMO_DB}"
            )
        await q.settings.set(DEMO_MARK, "fixtures/demo.json")
    return False
