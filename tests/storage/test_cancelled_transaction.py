"""A task cancelled inside a transaction leaves no trace and does not wedge the pool."""

from __future__ import annotations

import asyncio

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
