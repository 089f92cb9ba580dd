"""Deferred writes and the SQLite connection's few-hand-off transactions
(bridge/storage/sqlite.py).

The first tests hold on both engines (PostgreSQL runs deferred writes at once); the rest are about
how an SQLite transaction reaches SQLite: lazily, with its deferred writes, and — when it only
writes — committed on the event loop's thread without ever waiting for a lock or a disk sync."""

from __future__ import annotations

import asyncio
import sqlite3

import pytest

from bridge.storage import open_database
from bridge.storage.sqlite import INLINE_COMMITS_PER_CHECKPOINT, execute_deferred, on_rollback

INSERT = "INSERT INTO bridge_state (key, value) VALUES ($1, $2)"


class Conflict(Exception):
    pass


async def _values(db) -> dict[str, str]:
    return {r["key"]: r["value"] for r in await db.fetch("SELECT key, value FROM bridge_state")}


async def test_deferred_writes_are_read_back_and_commit_with_the_transaction(db_url):
    db = await open_database(db_url)
    try:
        async with db.acquire() as conn, conn.transaction():
            await execute_deferred(conn, INSERT, "a", "1")
            assert await conn.fetchval("SELECT value FROM bridge_state WHERE key='a'") == "1"
            await execute_deferred(conn, "UPDATE bridge_state SET value=$2 WHERE key=$1",
                                   "a", "2", expect_rows=1, conflict=Conflict)
            await execute_deferred(conn, INSERT, "b", "3")
        assert await _values(db) == {"a": "2", "b": "3"}
    finally:
        await db.stop()


async def test_a_deferred_write_changing_the_wrong_row_count_rolls_everything_back(db_url):
    db = await open_database(db_url)
    try:
        with pytest.raises(Conflict):
            async with db.acquire() as conn, conn.transaction():
                await conn.execute(INSERT, "immediate", "x")
                await execute_deferred(conn, INSERT, "deferred", "y")
                await execute_deferred(conn, "UPDATE bridge_state SET value='z' WHERE key=$1",
                                       "missing", expect_rows=1, conflict=Conflict)
        assert await _values(db) == {}
        async with db.acquire() as conn, conn.transaction():  # the connection is usable
            await execute_deferred(conn, INSERT, "after", "ok")
        assert await _values(db) == {"after": "ok"}
    finally:
        await db.stop()


async def test_a_failing_deferred_write_rolls_everything_back(db_url):
    db = await open_database(db_url)
    try:
        await db.execute(INSERT, "taken", "old")
        with pytest.raises(Exception, match=r"(?i)unique|duplicate"):
            async with db.acquire() as conn, conn.transaction():
                await execute_deferred(conn, INSERT, "new", "1")
                await execute_deferred(conn, INSERT, "taken", "again")
        assert await _values(db) == {"taken": "old"}
    finally:
        await db.stop()


@pytest.fixture
async def sqlite_db(tmp_path):
    db = await open_database(f"sqlite:{tmp_path / 'bridge.db'}")
    try:
        yield db
    finally:
        await db.stop()


async def test_a_write_after_a_failed_deferred_write_is_refused(sqlite_db):
    db = sqlite_db
    async with db.acquire() as conn:
        with pytest.raises(Exception, match="rolled back"):
            async with conn.transaction():
                await execute_deferred(conn, "UPDATE bridge_state SET value='z' WHERE key='m'",
                                       expect_rows=1, conflict=Conflict)
                with pytest.raises(Conflict):  # runs with the next statement, and fails it
                    await conn.fetchval("SELECT 1")
                await conn.execute(INSERT, "swallowed", "error")
    assert await _values(db) == {}


async def test_rollback_hooks_run_when_the_transaction_does_not_commit(sqlite_db):
    db = sqlite_db
    calls: list[str] = []
    async with db.acquire() as conn, conn.transaction():
        await execute_deferred(conn, INSERT, "a", "1")
        on_rollback(conn, lambda: calls.append("committed one"))
    with pytest.raises(Conflict):
        async with db.acquire() as conn, conn.transaction():
            on_rollback(conn, lambda: calls.append("failed body"))
            raise Conflict
    with pytest.raises(Conflict):
        async with db.acquire() as conn, conn.transaction():
            await execute_deferred(conn, "UPDATE bridge_state SET value='2' WHERE key='zz'",
                                   expect_rows=1, conflict=Conflict)
            on_rollback(conn, lambda: calls.append("failed commit"))
    assert calls == ["failed body", "failed commit"]


async def test_a_write_only_transaction_commits_without_yielding_to_the_loop(sqlite_db):
    """The Signal step in steady state: nothing read from the database, only deferred writes.
    It is committed right away on the loop's thread, not handed to the driver's thread."""
    db = sqlite_db
    others_ran = []
    asyncio.get_running_loop().call_soon(others_ran.append, True)
    async with db.acquire() as conn, conn.transaction():
        await execute_deferred(conn, INSERT, "a", "1")
        await execute_deferred(conn, INSERT, "b", "2")
    assert others_ran == []  # no await on the way suspended this task
    assert await _values(db) == {"a": "1", "b": "2"}


async def test_a_write_only_transaction_waits_for_another_writer_without_blocking_the_loop(
        sqlite_db, tmp_path):
    db = sqlite_db
    # The commit on the loop's thread never waits for the lock (SQLite would wait in C code for
    # up to busy_timeout, the whole loop with it): it leaves the transaction to the worker.
    assert db._here.db.execute("PRAGMA busy_timeout").fetchone()[0] == 0
    other = sqlite3.connect(tmp_path / "bridge.db", isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")  # another process holds the write lock
        other.execute("INSERT INTO bridge_state (key, value) VALUES ('other', 'x')")

        async def write() -> None:
            async with db.acquire() as conn, conn.transaction():
                await execute_deferred(conn, INSERT, "ours", "y")

        task = asyncio.create_task(write())
        ticks = 0
        for _ in range(20):  # the loop keeps running while the write waits for the lock
            await asyncio.sleep(0.01)
            ticks += 1
        assert ticks == 20 and not task.done()
        other.execute("COMMIT")
        await task
        assert await _values(db) == {"other": "x", "ours": "y"}
    finally:
        other.close()


async def test_commits_made_on_the_loop_thread_are_checkpointed_by_the_worker(sqlite_db):
    db = sqlite_db

    async def wal_frames() -> int:
        row = await db.fetchrow("PRAGMA wal_checkpoint(PASSIVE)")
        return row[1]

    async def one_write(i: int) -> None:
        async with db.acquire() as conn, conn.transaction():
            await execute_deferred(conn, INSERT, f"k{i}", "v" * 200)

    await wal_frames()  # everything checkpointed: the next write starts the WAL afresh
    await one_write(-1)
    per_commit = await wal_frames()
    assert per_commit >= 1
    count = 3 * INLINE_COMMITS_PER_CHECKPOINT
    for i in range(count):
        await one_write(i)
    # Without checkpoints after the loop-thread commits the WAL would hold them all (SQLite's
    # automatic checkpoint is off for that connection); with them, at most one round's worth.
    assert await wal_frames() <= (INLINE_COMMITS_PER_CHECKPOINT + 10) * per_commit
    assert len(await _values(db)) == count + 1


async def test_a_task_cancelled_while_its_commit_is_queued_leaves_no_open_transaction(sqlite_db):
    db = sqlite_db
    await db.execute(INSERT, "k", "0")
    started = asyncio.Event()

    async def read_then_write() -> None:
        async with db.acquire() as conn, conn.transaction():
            await conn.fetchval("SELECT value FROM bridge_state WHERE key='k'")  # BEGIN sent
            await execute_deferred(conn, "UPDATE bridge_state SET value='1' WHERE key='k'")
            await execute_deferred(conn, INSERT, "k2", "1")
            started.set()
            await asyncio.sleep(0)  # the commit goes to the worker thread next

    for delay in range(4):  # cancelled in the body, while the commit is queued or running, after
        task = asyncio.create_task(read_then_write())
        await started.wait()
        started.clear()
        for _ in range(delay):
            await asyncio.sleep(0)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        async with db.acquire() as conn, conn.transaction():  # BEGIN works: nothing left open
            values = await _values(db)
            assert values in ({"k": "0"}, {"k": "1", "k2": "1"})  # all or nothing
            await conn.execute("DELETE FROM bridge_state WHERE key='k2'")
            await conn.execute("UPDATE bridge_state SET value='0' WHERE key='k'")


async def test_an_in_memory_database_commits_through_the_worker_thread():
    db = await open_database("sqlite::memory:")
    try:
        async with db.acquire() as conn, conn.transaction():
            await execute_deferred(conn, INSERT, "a", "1")
        assert await _values(db) == {"a": "1"}
    finally:
        await db.stop()
