"""A task cancelled inside a transaction leaves no trace and does not wedge the pool."""

from __future__ import annotations

import asyncio
import time

from bridge.storage import open_database


async def test_cancelled_transaction_rolls_back_and_pool_keeps_working(db_url):
    db = await open_database(db_url)
    try:
        inside = asyncio.Event()

        async def write_then_hang() -> None:
            async with db.acquire() as conn, conn.transaction():
                await conn.execute("INSERT INTO bridge_state (key, value) VALUES ('k', 'half')")
                inside.set()
                await asyncio.Event().wait()

        task = asyncio.create_task(write_then_hang())
        await inside.wait()
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

        async with db.acquire() as conn, conn.transaction():
            await conn.execute("INSERT INTO bridge_state (key, value) VALUES ('k2', 'whole')")
        rows = await db.fetch("SELECT key, value FROM bridge_state WHERE key IN ('k', 'k2')")
        assert [tuple(r) for r in rows] == [("k2", "whole")]
    finally:
        await db.stop()



async def test_cancelled_while_begin_is_queued_leaves_no_open_transaction(tmp_path):
    """Cancelled after queueing ``BEGIN`` but before SQLite ran it: the statement still runs.

    A pool that checked for an open transaction before that queued work finished would hand the
    next holder a connection inside a transaction nobody owns: its plain writes would ride along
    uncommitted, and the next ``BEGIN`` would fail and roll them back. (SQLite only: asyncpg
    has no worker thread that outlives a cancelled call.)
    """
    db = await open_database(f"sqlite:///{tmp_path}/race.db")
    try:
        waiting_for_begin = asyncio.Event()

        async def begin_behind_busy_worker() -> None:
            async with db.acquire() as conn:
                # Keeps aiosqlite's worker thread busy, as a loaded machine does, so that BEGIN
                # is still queued when the cancellation lands.
                await conn.wrapped.create_function("pause", 1, time.sleep)
                busy = asyncio.ensure_future(conn.execute("SELECT pause(0.3)"))
                await asyncio.sleep(0)
                waiting_for_begin.set()
                async with conn.transaction():
                    await conn.execute(
                        "INSERT INTO bridge_state (key, value) VALUES ('lost', 'x')")
                await busy

        task = asyncio.create_task(begin_behind_busy_worker())
        await waiting_for_begin.wait()
        await asyncio.sleep(0.05)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

        await db.execute("INSERT INTO bridge_state (key, value) VALUES ('plain', 'x')")
        async with db.acquire() as conn, conn.transaction():
            await conn.execute("INSERT INTO bridge_state (key, value) VALUES ('txn', 'y')")

        reader = await open_database(f"sqlite:///{tmp_path}/race.db")
        try:
            rows = await reader.fetch("SELECT key FROM bridge_state ORDER BY key")
        finally:
            await reader.stop()
        assert [r["key"] for r in rows] == ["plain", "txn"]
    finally:
        await db.stop()

