"""SQLite pool: cancellation-safe transactions that cost as few trips to the driver's thread as
possible.

aiosqlite runs every SQLite call on one worker thread per connection; each call is a hand-off
between threads (two thread wake-ups, several GIL transfers) that costs far more than the SQLite
work itself, and most on an idle machine, where waking a sleeping CPU is slow. mautrix's
connection spends one hand-off per statement plus one each for ``BEGIN`` and ``COMMIT``, and three
for a ``fetchval``. :class:`SQLiteConnection` instead:

- runs each statement, together with everything queued before it, as ONE call in that thread;
- sends ``BEGIN`` with the transaction's first statement, or with its commit;
- lets a write whose result the caller does not need (:func:`execute_deferred`) wait and travel
  with the next statement or with the ``COMMIT``;
- commits a transaction that sent nothing to SQLite before its commit (it read from memory and
  only has deferred writes: a Signal step in steady state) right on the event loop's thread when
  the worker thread is idle — ``BEGIN IMMEDIATE``, the writes, ``COMMIT``: a few tens of
  microseconds of SQLite work and no hand-off at all. It uses a second connection to the same
  file, opened for this alone (:class:`_LoopConnection`), which never waits for a lock and
  leaves WAL checkpoints (which sync to disk) to the worker thread.

The order of statements is the order they were issued in. A failing deferred write (or one that
changed an unexpected number of rows) rolls the whole transaction back at once and its error is
raised to the transaction; later statements in it fail, and so does its commit.

Cancellation: mautrix's SQLite ``transaction()`` rolls back on ``Exception`` only. A task
cancelled inside one (``CancelledError`` is a ``BaseException``) — a gateway connection closed
while its handler is storing a message, a shutdown — would leave the transaction open on the
pool's single connection: every later ``BEGIN`` then fails with "cannot start a transaction
within a transaction", and the half-done writes would ride along with whatever commits next. Here
a transaction rolls back on any exception, and the pool also rolls back whatever is still open
when a connection comes back to it. Cancelling a call does not withdraw it: aiosqlite's worker
thread still runs every statement already queued, ``BEGIN`` included. So when a holder leaves
abnormally, the pool first waits for that queued work to finish, and only then looks for an open
transaction; looking earlier would miss a ``BEGIN`` that has yet to run, and the next holder's
writes would land, uncommitted, in a transaction nobody owns. A commit runs ``BEGIN`` (if not
sent yet), the writes and ``COMMIT`` — or, on any error, ``ROLLBACK`` — in one call (in the
worker thread, or synchronously here), so a task cancelled while committing cannot leave a
half-done transaction behind (whether it committed is then unknown to it, as with any database).
(asyncpg rolls back on any exception already; PostgreSQL connections are not changed.)
"""

from __future__ import annotations

import asyncio
import re
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Any
from weakref import WeakKeyDictionary

import aiosqlite
from mautrix.util.async_db.aiosqlite import SQLiteDatabase, TxnConnection
from mautrix.util.async_db.connection import LoggingConnection, log_duration
from mautrix.util.async_db.scheme import Scheme

__all__ = ["CancellationSafeSQLiteDatabase", "SQLiteConnection", "TransactionAborted",
           "execute_deferred", "on_rollback"]

_POSITIONAL = re.compile(r"\$(\d+)")
_SQLITE_QUERIES: dict[str, str] = {}
_BEGIN = "BEGIN TRANSACTION"
#: Commits made on the loop's thread skip SQLite's automatic WAL checkpoint (it syncs to disk);
#: after this many of them a passive checkpoint runs in the worker thread instead. A Signal step
#: writes a few pages, so this is about as often as SQLite's default (every 1000 WAL pages).
INLINE_COMMITS_PER_CHECKPOINT = 250


def _sqlite_query(query: str) -> str:
    """``$1`` → ``?1``, memoised (mautrix runs the regular expression on every statement)."""
    converted = _SQLITE_QUERIES.get(query)
    if converted is None:
        if len(_SQLITE_QUERIES) > 4096:  # queries are code constants; this only guards memory
            _SQLITE_QUERIES.clear()
        converted = _SQLITE_QUERIES[query] = _POSITIONAL.sub(r"?\1", query)
    return converted


class TransactionAborted(Exception):
    """A deferred write of this transaction failed, so it was rolled back; it cannot go on."""


class _DeferredWriteFailed(Exception):
    """Carries a deferred write's error out of a batch (the transaction is rolled back)."""

    def __init__(self, error: BaseException) -> None:
        super().__init__(str(error))
        self.error = error


#: (query, args, expected row count or None, error to raise when the count differs)
_Write = tuple[str, Sequence[Any], "int | None", "Callable[[], BaseException] | None"]


def _run_batch(db: sqlite3.Connection, begin: bool, writes: Sequence[_Write],
               statement: Callable[[sqlite3.Connection], Any] | None, finish: bool) -> Any:
    """What one call does: maybe ``BEGIN``, the queued writes, maybe one statement, maybe
    ``COMMIT``. A failed write or commit leaves no transaction open."""
    if begin:
        db.execute(_BEGIN)
    try:
        for query, args, expect_rows, conflict in writes:
            rows = db.execute(query, args).rowcount
            if expect_rows is not None and rows != expect_rows:
                raise conflict() if conflict else TransactionAborted(
                    f"a write changed {rows} rows instead of {expect_rows}")
    except BaseException as e:  # noqa: BLE001 - rolled back and raised on, whatever it is
        db.rollback()
        raise _DeferredWriteFailed(e) from None
    try:
        result = statement(db) if statement is not None else None
        if finish:
            db.commit()
    except BaseException:
        if finish:
            db.rollback()
        raise
    return result


class _Worker:
    """What the pool knows about one connection's worker thread. Each counter is written by one
    thread only (submitted: the loop; finished: the worker), so equal counters mean everything
    handed to the worker has run — e.g. the commit or rollback of a task that was cancelled
    while waiting for it — and a transaction committed elsewhere cannot overtake it."""

    __slots__ = ("finished", "submitted")

    def __init__(self) -> None:
        self.submitted = 0
        self.finished = 0

    @property
    def idle(self) -> bool:
        return self.submitted == self.finished

    def run(self, fn: Callable[..., Any], *args: Any) -> Any:  # in the worker thread
        try:
            return fn(*args)
        finally:
            self.finished += 1


class _LoopConnection:
    """A second connection to the database file, used on the event loop's thread for one thing
    only: committing a transaction whose whole content is known (``BEGIN IMMEDIATE``, deferred
    writes, ``COMMIT``), synchronously. Configured so that this cannot stall the loop: a zero
    busy timeout (the write lock is free at once, or the transaction goes to the worker thread,
    which waits for it as usual) and no automatic WAL checkpoint (a checkpoint syncs to disk;
    the worker thread runs one after every :data:`INLINE_COMMITS_PER_CHECKPOINT` commits made
    here). Otherwise set up like the pool's connections (same init commands: foreign keys,
    ``synchronous``), so a write means the same wherever it is committed. Only in WAL mode, where
    a commit does not sync to disk."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db
        self.commits = 0

    @classmethod
    def open(cls, path: str, init_commands: Sequence[str],
             db_args: dict[str, Any]) -> _LoopConnection | None:
        if not path or path == ":memory:" or "mode=memory" in path:
            return None  # a second connection would be another database
        db = sqlite3.connect(path, isolation_level=None, **db_args)
        try:
            for command in init_commands:
                db.execute(command)
            if str(db.execute("PRAGMA journal_mode").fetchone()[0]).lower() != "wal":
                db.close()
                return None
            db.execute("PRAGMA busy_timeout = 0")
            db.execute("PRAGMA wal_autocheckpoint = 0")
        except BaseException:
            db.close()
            raise
        return cls(db)

    def commit(self, writes: Sequence[_Write]) -> bool:
        """``BEGIN IMMEDIATE``, ``writes``, ``COMMIT`` here and now; False if the write lock is
        taken (by another process: this one's own connection is idle when this runs)."""
        try:
            self.db.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError:
            return False
        _run_batch(self.db, False, writes, None, True)
        self.commits += 1
        return True


class _Transaction:
    __slots__ = ("aborted", "begun", "rollback_hooks", "writes")

    def __init__(self) -> None:
        self.begun = False  # something was sent (or is on its way) to SQLite
        self.writes: list[_Write] = []
        self.aborted: BaseException | None = None
        self.rollback_hooks: list[Callable[[], object]] = []


def _fetchall(query: str, args: Sequence[Any]) -> Callable[[sqlite3.Connection], list]:
    def run(db: sqlite3.Connection) -> list:
        cursor = db.execute(query, args)
        try:
            return cursor.fetchall()
        finally:
            cursor.close()
    return run


def _fetchone(query: str, args: Sequence[Any]) -> Callable[[sqlite3.Connection], Any]:
    def run(db: sqlite3.Connection) -> Any:
        cursor = db.execute(query, args)
        try:
            return cursor.fetchone()
        finally:
            cursor.close()
    return run


def _hand_off(conn: TxnConnection, worker: _Worker, fn: Callable[..., Any],
              *args: Any) -> Awaitable[Any]:
    """Run ``fn(*args)`` in the connection's worker thread (aiosqlite's ``_execute`` queues a
    callable there; queued calls run in order). Counted at once, even where the returned
    awaitable starts later (in a shielded task)."""
    worker.submitted += 1
    return conn._execute(worker.run, fn, *args)


async def _rollback(conn: TxnConnection, worker: _Worker) -> None:
    # Shielded: the caller may be the very task being cancelled. A no-op if nothing is open.
    await asyncio.shield(_hand_off(conn, worker, lambda: conn._conn.rollback()))


class SQLiteConnection(LoggingConnection):
    """A leased SQLite connection (see the module docstring). Same interface and results as
    mautrix's connection: rows are ``sqlite3.Row``, ``execute`` returns an aiosqlite cursor."""

    wrapped: TxnConnection

    def __init__(self, wrapped: TxnConnection, worker: _Worker, here: _LoopConnection | None,
                 log: Any) -> None:
        # LoggingConnection freezes its attributes after __init__; these are set before it.
        self._worker = worker
        self._here = here
        self._txn: list[_Transaction | None] = [None]
        super().__init__(Scheme.SQLITE, wrapped, log)

    # -- the one way to SQLite --------------------------------------------------------------------

    async def _call(self, statement: Callable[[sqlite3.Connection], Any] | None, *,
                    finish: bool = False) -> Any:
        txn = self._txn[0]
        if txn is None:
            return await _hand_off(self.wrapped, self._worker, _run_batch, self.wrapped._conn,
                                   False, (), statement, False)
        if txn.aborted is not None:
            raise TransactionAborted("this transaction was rolled back") from txn.aborted
        begin, writes = not txn.begun, txn.writes
        txn.writes = []
        try:
            if begin and finish and statement is None and self._commit_here(writes):
                return None
            # Marked before the hand-off: a task cancelled while it is queued must still roll
            # back what the worker thread will begin.
            txn.begun = True
            return await _hand_off(self.wrapped, self._worker, _run_batch, self.wrapped._conn,
                                   begin, writes, statement, finish)
        except _DeferredWriteFailed as failed:
            txn.aborted, txn.begun = failed.error, False  # rolled back already
            raise failed.error from None

    def _commit_here(self, writes: Sequence[_Write]) -> bool:
        """Commit a whole transaction synchronously on this thread (see
        :class:`_LoopConnection`), if the worker thread has finished everything handed to it
        (this connection is leased to us, so nothing else can hand it more; earlier statements
        must not be overtaken). False: it goes to the worker thread instead. Without any
        ``await``, nothing can interrupt it halfway."""
        return (self._here is not None and self._worker.idle
                and self._here.commit(writes))

    async def _after_commit(self) -> None:
        here = self._here
        if here is not None and here.commits >= INLINE_COMMITS_PER_CHECKPOINT:
            here.commits = 0
            db = self.wrapped._conn
            await _hand_off(self.wrapped, self._worker,
                            lambda: db.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall())

    def defer(self, query: str, *args: Any, expect_rows: int | None = None,
              conflict: Callable[[], BaseException] | None = None) -> bool:
        """Queue a write for the next statement or the commit of the open transaction; False
        (nothing queued) outside a transaction."""
        txn = self._txn[0]
        if txn is None:
            return False
        if txn.aborted is not None:
            raise TransactionAborted("this transaction was rolled back") from txn.aborted
        txn.writes.append((_sqlite_query(query), args, expect_rows, conflict))
        return True

    def on_rollback(self, hook: Callable[[], object]) -> None:
        """Call ``hook`` (synchronously) if the open transaction ends without a known commit."""
        txn = self._txn[0]
        if txn is not None:
            txn.rollback_hooks.append(hook)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[None]:
        if self._txn[0] is not None:  # nested: part of the outer transaction, as in mautrix
            yield
            return
        txn = self._txn[0] = _Transaction()
        committed = False
        try:
            yield
            if txn.aborted is not None:
                raise TransactionAborted(
                    "a write of this transaction failed; it was rolled back") from txn.aborted
            if txn.begun or txn.writes:
                await self._call(None, finish=True)
            committed = True
        except BaseException:
            if txn.begun:
                await _rollback(self.wrapped, self._worker)
            raise
        finally:
            self._txn[0] = None
            if not committed:
                for hook in txn.rollback_hooks:
                    hook()
        await self._after_commit()

    # -- mautrix's connection interface -----------------------------------------------------------

    @log_duration
    async def execute(self, query: str, *args: Any, timeout: float | None = None
                      ) -> aiosqlite.Cursor:
        q = _sqlite_query(query)
        cursor = await self._call(lambda db: db.execute(q, args))
        return aiosqlite.Cursor(self.wrapped, cursor)

    @log_duration
    async def executemany(self, query: str, *args: Any, timeout: float | None = None
                          ) -> aiosqlite.Cursor:
        q = _sqlite_query(query)
        cursor = await self._call(lambda db: db.executemany(q, *args))
        return aiosqlite.Cursor(self.wrapped, cursor)

    @log_duration
    async def fetch(self, query: str, *args: Any, timeout: float | None = None
                    ) -> list[sqlite3.Row]:
        return await self._call(_fetchall(_sqlite_query(query), args))

    @log_duration
    async def fetchrow(self, query: str, *args: Any, timeout: float | None = None
                       ) -> sqlite3.Row | None:
        return await self._call(_fetchone(_sqlite_query(query), args))

    @log_duration
    async def fetchval(self, query: str, *args: Any, column: int = 0,
                       timeout: float | None = None) -> Any:
        row = await self._call(_fetchone(_sqlite_query(query), args))
        return None if row is None else row[column]


async def execute_deferred(conn: Any, query: str, *args: Any, expect_rows: int | None = None,
                           conflict: Callable[[], BaseException] | None = None) -> None:
    """A write whose result the caller does not need. In an SQLite transaction it travels with
    the transaction's next statement or its commit; anywhere else it runs now. If it fails, or
    changes other than ``expect_rows`` rows (then ``conflict()`` is raised), the transaction is
    rolled back: on SQLite when the write actually runs, which may be at commit."""
    if isinstance(conn, SQLiteConnection) and conn.defer(query, *args, expect_rows=expect_rows,
                                                         conflict=conflict):
        return
    result = await conn.execute(query, *args)
    if expect_rows is not None:
        rows = int(result.rsplit(" ", 1)[-1]) if isinstance(result, str) else result.rowcount
        if rows != expect_rows:
            raise conflict() if conflict else TransactionAborted(
                f"a write changed {rows} rows instead of {expect_rows}")


def on_rollback(conn: Any, hook: Callable[[], object]) -> None:
    """Call ``hook`` if the open SQLite transaction on ``conn`` ends without a known commit
    (rolled back, failed, or cancelled while committing). Other connections: nothing."""
    if isinstance(conn, SQLiteConnection):
        conn.on_rollback(hook)


class CancellationSafeSQLiteDatabase(SQLiteDatabase):
    _here: _LoopConnection | None = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # one SQLiteConnection per pooled connection, reused by every lease: between leases it
        # holds no transaction (transaction() always clears its own)
        self._leases: WeakKeyDictionary[TxnConnection, SQLiteConnection] = WeakKeyDictionary()

    async def start(self) -> None:
        await super().start()
        if not self._parent:
            self._here = _LoopConnection.open(self._path, self._init_commands, self._db_args)

    async def stop(self) -> None:
        await super().stop()  # waits until every lease is back
        if self._here is not None:
            self._here.db.close()
            self._here = None

    @asynccontextmanager
    async def _acquire(self) -> AsyncIterator[LoggingConnection]:
        if self._stopped:
            raise RuntimeError("database pool has been stopped")
        conn = await self._pool.get()
        lease = self._leases.get(conn)
        if lease is None or lease._here is not self._here:  # new, or the pool (re)started
            worker = _Worker() if lease is None else lease._worker
            lease = self._leases[conn] = SQLiteConnection(conn, worker, self._here, self.log)
        left_abnormally = True
        try:
            yield lease
            left_abnormally = False
        finally:
            try:
                if left_abnormally or conn.in_transaction:
                    # Shielded: the caller may be the very task being cancelled.
                    await asyncio.shield(_settle(conn, lease._worker, drain=left_abnormally))
            finally:
                self._pool.put_nowait(conn)


async def _settle(conn: TxnConnection, worker: _Worker, *, drain: bool) -> None:
    if drain:
        # Queued behind whatever the holder left in flight; returns once all of it has run.
        await _hand_off(conn, worker, lambda: None)
    if conn.in_transaction:
        await _hand_off(conn, worker, lambda: conn._conn.rollback())
