"""The sandbox gateway's own state (an SQLite file by default; PostgreSQL works too).

The sandbox is a separate process from the bridge and keeps a separate database with its own
version table (``sandbox_version``), so the two never upgrade each other's schema.
"""

from __future__ import annotations

import logging

from mautrix.util.async_db import Database
from yarl import URL

from bridge.storage.sqlite import CancellationSafeSQLiteDatabase

from .upgrade import build_upgrade_table

__all__ = ["Database", "create_sandbox_database", "open_sandbox_database"]


def create_sandbox_database(url: str, *, fresh_shortcut: bool = True,
                            log: logging.Logger | None = None) -> Database:
    log = log or logging.getLogger("bridge.sandbox.storage")
    if url.split(":", 1)[0] in ("sqlite", "sqlite3"):
        # Connection handlers are cancelled mid-transaction when the sandbox stops.
        return CancellationSafeSQLiteDatabase(
            URL(url), upgrade_table=build_upgrade_table(fresh_shortcut=fresh_shortcut, log=log),
            db_args={}, log=log, owner_name="interop-sandbox", ignore_foreign_tables=True)
    return Database.create(
        url,
        upgrade_table=build_upgrade_table(fresh_shortcut=fresh_shortcut, log=log),
        log=log,
        owner_name="interop-sandbox",
        ignore_foreign_tables=True,
    )


async def open_sandbox_database(url: str, *, log: logging.Logger | None = None) -> Database:
    db = create_sandbox_database(url, log=log)
    await db.start()
    return db
