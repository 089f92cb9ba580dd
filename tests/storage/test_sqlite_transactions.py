"""Transactions and look-ups of the bridge's database connections (bridge/storage/sqlite.py).

The first tests hold on both engines; the rest are about SQLite, whose connection is the bridge's
own: its transactions roll back on any exception, a lease never hands a transaction on to the
next holder, and a look-up is one call to aiosqlite's worker thread."""

from __future__ import annotations

import asyncio
import sqlite3

import pytest

from bridge.storage import open_database

INSERT = "INSERT INTO bridge_state (key, value) VALUES ($1, $2)"


class Failure(Exception):
    pass


async def _values(db) -> dict[str, str]:
    return {r["key"]: r["value"] for r in await db.fetch("SELECT key, value FROM bridge_state")}


async def test_writes_are_read_back_and_commit_with_the_transaction(db_url):
    db = await open_database(db_url)
    try:
        async with db.acquire() as conn, conn.transaction():
            await conn.execute(INSERT, "a", "1")
            assert await conn.fetchval("SELECT value FROM bridge_state WHERE key='a'") == "1"
            await conn.execute("UPDATE bridge_state SET value=$2 WHERE key=$1", "a", "2")
            await conn.execute(INSERT, "b", "3")
        assert await _values(db) == {"a": "2", "b": "3"}
    finally:
        await db.stop()


async def test_a_failing_write_rolls_the_whole_transaction_back(db_url):
    db = await open_database(db_url)
    try:
        await db.execute(INSERT, "taken", "old")
        with pytest.raises(Exception, match=r"(?i)unique|duplicate"):
            async with db.acquire() as conn, conn.transaction():
                await conn.execute(INSERT, "new", "1")
                await conn.execute(INSERT, "taken", "again")
        assert await _values(db) == {"taken": "old"}
        async with db.acquire() as conn, conn.transaction():  # the connection is usable
            await conn.execute(INSERT, "after", "ok")
        assert await _values(db) == {"taken": "old", "after": "ok"}
    finally:
        await db.stop()


async def test_a_nested_transaction_is_part_of_the_outer_one(db_url):
    db = await open_database(db_url)
    try:
        with pytest.raises(Failure):
            async with db.acquire() as conn, conn.transaction():
                async with db.acquire() as inner, inner.transaction():
                    await inner.execute(INSERT, "inner", "1")
                raise Failure
        assert await _values(db) == {}
    finally:
        await db.stop()


@pytest.fixture
async def sqlite_db(tmp_path):
    db = await open_database(f"sqlite:{tmp_path / 'bridge.db'}")
    try:
        yield db
    finally:
        await db.stop()


async def test_a_transaction_left_open_is_not_handed_to_the_next_holder(sqlite_db):
    db = sqlite_db
    async with db.acquire() as conn:  # BEGIN by hand, never committed
        await conn.execute("BEGIN")
        await conn.execute(INSERT, "dangling", "x")
    async with db.acquire() as conn, conn.transaction():  # BEGIN works: nothing left open
        await conn.execute(INSERT, "next", "y")
    assert await _values(db) == {"next": "y"}


async def test_look_ups_return_rows_as_mautrix_does(sqlite_db):
    db = sqlite_db
    await db.execute(INSERT, "a", "1")
    await db.execute(INSERT, "b", "2")
    rows = await db.fetch("SELECT key, value FROM bridge_state ORDER BY key")
    assert all(isinstance(r, sqlite3.Row) for r in rows)
    assert [tuple(r) for r in rows] == [("a", "1"), ("b", "2")]
    row = await db.fetchrow("SELECT key, value FROM bridge_state WHERE key=$1", "b")
    assert row is not None and row["value"] == "2"
    assert await db.fetchrow("SELECT key FROM bridge_state WHERE key='none'") is None
    assert await db.fetchval("SELECT key, value FROM bridge_state WHERE key='a'", column=1) == "1"
    assert await db.fetchval("SELECT value FROM bridge_state WHERE key='none'") is None
    assert await db.fetch("SELECT key FROM bridge_state WHERE key='none'") == []
    cursor = await db.execute("DELETE FROM bridge_state WHERE key=$1", "a")
    assert cursor.rowcount == 1  # as mautrix's: an aiosqlite cursor


async def test_a_write_waits_for_another_writer_without_blocking_the_loop(sqlite_db, tmp_path):
    db = sqlite_db
    other = sqlite3.connect(tmp_path / "bridge.db", isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")  # another process holds the write lock
        other.execute("INSERT INTO bridge_state (key, value) VALUES ('other', 'x')")

        async def write() -> None:
            async with db.acquire() as conn, conn.transaction():
                await conn.execute(INSERT, "ours", "y")

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


async def test_a_task_cancelled_while_its_commit_is_queued_leaves_no_open_transaction(sqlite_db):
    db = sqlite_db
    await db.execute(INSERT, "k", "0")
    started = asyncio.Event()

    async def read_then_write() -> None:
        async with db.acquire() as conn, conn.transaction():
            await conn.fetchval("SELECT value FROM bridge_state WHERE key='k'")
            await conn.execute("UPDATE bridge_state SET value='1' WHERE key='k'")
            await conn.execute(INSERT, "k2", "1")
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


async def test_an_in_memory_database_works():
    db = await open_database("sqlite::memory:")
    try:
        async with db.acquire() as conn, conn.transaction():
            await conn.execute(INSERT, "a", "1")
        assert await _values(db) == {"a": "1"}
    finally:
        await db.stop()
