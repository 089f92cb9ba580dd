"""Storage: one database (SQLite by default, PostgreSQL for production) for every part of the
bridge.

Every table of every concept lives in the same database so that a message's state changes (Signal
session, stored plaintext, queue position) can commit in one transaction, and because mautrix's
crypto store reuses the open transaction's connection for nested queries.
"""

from __future__ import annotations

import logging
from contextlib import AbstractAsyncContextManager
from typing import cast

from mautrix.util.async_db import (
    Connection,
    Database,
    DatabaseException,
    Scheme,
    UnsupportedDatabaseVersion,
)
from yarl import URL

from .sqlite import CancellationSafeSQLiteDatabase
from .upgrade import build_upgrade_table

__all__ = ["Connection", "Database", "DatabaseTooNew", "acquire", "for_update",
           "open_database", "transaction"]


# mautrix annotates its two context-manager generators with what they yield instead of an
# AsyncIterator of it, which a type checker reads as context managers of nothing (so nothing
# done with the connection would be checked). These two calls are the same, typed.

def acquire(db: Database) -> AbstractAsyncContextManager[Connection]:
    """``db.acquire()``: a connection of the pool (the task's own, inside a transaction)."""
    return cast("AbstractAsyncContextManager[Connection]", db.acquire())


def transaction(conn: Connection) -> AbstractAsyncContextManager[None]:
    """``conn.transaction()``."""
    return cast("AbstractAsyncContextManager[None]", conn.transaction())


def for_update(conn: Connection) -> str:
    """What to end a ``SELECT`` with so that the rows it reads stay locked until the caller's
    transaction ends: `` FOR UPDATE`` on PostgreSQL, where transactions overlap; nothing on
    SQLite, which runs one write transaction at a time."""
    return " FOR UPDATE" if conn.scheme == Scheme.POSTGRES else ""


class DatabaseTooNew(DatabaseException):
    """The database was written by a newer version of the bridge; downgrades are not supported."""


def create_database(url: str, *, fresh_shortcut: bool = True, log: logging.Logger | None = None,
                    db_args: dict | None = None) -> Database:
    log = log or logging.getLogger("bridge.storage")
    if url.split(":", 1)[0] in ("sqlite", "sqlite3"):
        return CancellationSafeSQLiteDatabase(
            URL(url), upgrade_table=build_upgrade_table(fresh_shortcut=fresh_shortcut, log=log),
            db_args=db_args or {}, log=log, owner_name="interop-bridge",
            ignore_foreign_tables=True)
    return Database.create(
        url,
        upgrade_table=build_upgrade_table(fresh_shortcut=fresh_shortcut, log=log),
        db_args=db_args or {},
        log=log,
        owner_name="interop-bridge",
        ignore_foreign_tables=True,
    )


async def open_database(url: str, *, log: logging.Logger | None = None,
                        db_args: dict | None = None) -> Database:
    """Open the database at ``url`` and bring its schema up to date.

    Raises :class:`DatabaseTooNew` with an explanation when the schema is newer than this code.
    """
    db = create_database(url, log=log, db_args=db_args)
    try:
        await db.start()
    except UnsupportedDatabaseVersion as e:
        await db.stop()
        raise DatabaseTooNew(
            f"{e}. This database was last used by a newer version of interop-bridge; "
            "downgrading is not supported. Run the newer version again, or restore a backup "
            "taken before the upgrade."
        ) from e
    return db
