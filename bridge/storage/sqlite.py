"""SQLite pool whose transactions survive the cancellation of the task holding them.

mautrix's SQLite ``transaction()`` rolls back on ``Exception`` only. A task cancelled inside one
(``CancelledError`` is a ``BaseException``) — a gateway connection closed while its handler is
storing a message, a shutdown — would leave the transaction open on the pool's single connection:
every later ``BEGIN`` then fails with "cannot start a transaction within a transaction", and the
half-done writes would ride along with whatever commits next. Here a transaction rolls back on
any exception, and the pool rolls back whatever is still open when a connection comes back to it.

Cancelling a call does not withdraw it: aiosqlite's worker thread still runs every call already
queued, ``BEGIN`` included, so looking at ``in_transaction`` right after a holder left abnormally
could miss a ``BEGIN`` that has yet to run, and the next holder's writes would land, uncommitted,
in a transaction nobody owns. The pool therefore queues a ``ROLLBACK`` behind whatever the holder
left in flight instead of looking: the worker thread runs calls in order, and Python's sqlite3
skips a rollback when no transaction is open. For the same reason a transaction's own rollback
is queued behind its ``BEGIN`` or ``COMMIT`` even when the task was cancelled waiting for them.
A task cancelled while committing therefore leaves no half-done transaction behind (whether it
committed is then unknown to it, as with any database).

Look-ups take one call to the worker thread (aiosqlite's ``execute_fetchall``) instead of
mautrix's three (execute, fetch, close the cursor): each call is a hand-off between threads that
costs more than the SQLite work of a small query.

Only public interfaces of mautrix, aiosqlite and sqlite3 are used. (asyncpg rolls back on any
exception already; PostgreSQL connections are not changed.)
"""

from __future__ import annotations

import asyncio
import re
import sqlite3
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

from mautrix.util.async_db import Database
from mautrix.util.async_db.aiosqlite import SQLiteDatabase, TxnConnection
from mautrix.util.async_db.connection import LoggingConnection, log_duration
from mautrix.util.async_db.scheme import Scheme
from mautrix.util.logging import TraceLogger

__all__ = ["CancellationSafeSQLiteDatabase", "SQLiteConnection"]

_POSITIONAL = re.compile(r"\$(\d+)")
_SQLITE_QUERIES: dict[str, str] = {}


def _sqlite_query(query: str) -> str:
    """``$1`` → ``?1``, memoised (mautrix runs the regular expression on every statement)."""
    converted = _SQLITE_QUERIES.get(query)
    if converted is None:
        if len(_SQLITE_QUERIES) > 4096:  # queries are code constants; this only guards memory
            _SQLITE_QUERIES.clear()
        converted = _SQLITE_QUERIES[query] = _POSITIONAL.sub(r"?\1", query)
    return converted


class SQLiteConnection(LoggingConnection):
    """A leased SQLite connection (see the module docstring). Same interface and results as
    mautrix's connection: rows are ``sqlite3.Row``, ``execute`` returns an aiosqlite cursor."""

    wrapped: TxnConnection

    def __init__(self, wrapped: TxnConnection, log: TraceLogger) -> None:
        # A list, set before LoggingConnection.__init__, which freezes the attributes after it.
        # Per lease, not a context variable as in mautrix: a nested transaction() on the same
        # lease is part of the outer one, whichever task opens it.
        self._bridge_txn_open = [False]
        super().__init__(Scheme.SQLITE, wrapped, log)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[None]:
        if self._bridge_txn_open[0]:
            yield
            return
        self._bridge_txn_open[0] = True
        try:
            await self.wrapped.execute("BEGIN TRANSACTION")
            yield
            await self.wrapped.commit()
        except BaseException:
            # Shielded: the caller may be the very task being cancelled.
            await asyncio.shield(self.wrapped.rollback())
            raise
        finally:
            self._bridge_txn_open[0] = False

    # A fetchrow or fetchval reads every row its query returns; they are written for one.

    @log_duration
    async def fetch(self, query: str, *args: Any, timeout: float | None = None
                    ) -> list[sqlite3.Row]:
        return list(await self.wrapped.execute_fetchall(_sqlite_query(query), args))

    @log_duration
    async def fetchrow(self, query: str, *args: Any, timeout: float | None = None
                       ) -> sqlite3.Row | None:
        rows = list(await self.wrapped.execute_fetchall(_sqlite_query(query), args))
        return rows[0] if rows else None

    @log_duration
    async def fetchval(self, query: str, *args: Any, column: int = 0,
                       timeout: float | None = None) -> Any:
        rows = list(await self.wrapped.execute_fetchall(_sqlite_query(query), args))
        return rows[0][column] if rows else None


class CancellationSafeSQLiteDatabase(SQLiteDatabase):
    """mautrix's SQLite pool, leasing :class:`SQLiteConnection` objects."""

    _bridge_pool_owner: Database | None = None

    def override_pool(self, db: Database) -> None:
        super().override_pool(db)
        self._bridge_pool_owner = db

    def acquire_direct(self) -> AbstractAsyncContextManager[LoggingConnection]:
        if self._bridge_pool_owner is not None:  # leases (and settles) the owner's connections
            return super().acquire_direct()
        return self._bridge_lease()

    @asynccontextmanager
    async def _bridge_lease(self) -> AsyncIterator[LoggingConnection]:
        async with super().acquire_direct() as pooled:
            wrapped = pooled.wrapped
            assert isinstance(wrapped, TxnConnection)
            lease = SQLiteConnection(wrapped, self.log)
            left_abnormally = True
            try:
                yield lease
                left_abnormally = False
            finally:
                # Shielded: the caller may be the very task being cancelled. The shielded task
                # queues its ROLLBACK in its first step, which is scheduled before this task can
                # resume (and hand the connection back), however often it is cancelled.
                if left_abnormally or wrapped.in_transaction:
                    await asyncio.shield(wrapped.rollback())
