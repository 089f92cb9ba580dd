"""The durable inbox: ordered per room, retried on failure, nothing lost when stopped midway."""

from __future__ import annotations

import asyncio

from bridge.matrix.inbox import MatrixInbox
from bridge.storage import open_database


def events(room: str, start: int, count: int) -> list[dict]:
    return [{"type": "m.room.message", "room_id": room, "event_id": f"${room}:{n}",
             "content": {"n": n}} for n in range(start, start + count)]


async def test_events_are_handled_in_order_within_each_room(db_url):
    db = await open_database(db_url)
    seen: dict[str, list[int]] = {}

    async def handler(item):
        await asyncio.sleep(0)  # let the rooms interleave
        seen.setdefault(item.room_id, []).append(item.event["content"]["n"])

    inbox = MatrixInbox(db)
    try:
        await inbox.start(handler)
        for txn in range(5):
            await inbox.accept(f"t{txn}",
                               events=events("!a", txn * 10, 10) + events("!b", txn * 10, 10))
        await inbox.wait_idle()
        assert seen == {"!a": list(range(50)), "!b": list(range(50))}
        assert await inbox.pending_count() == 0
    finally:
        await inbox.stop()
        await db.stop()


async def test_failing_handler_is_retried_and_keeps_later_events_waiting(db_url):
    db = await open_database(db_url)
    order: list[int] = []
    failures = {1: 2}  # event 1 fails twice, then succeeds

    async def handler(item):
        n = item.event["content"]["n"]
        if failures.get(n, 0) > 0:
            failures[n] -= 1
            raise RuntimeError("transient")
        order.append(n)

    inbox = MatrixInbox(db, retry_delay=0.01)
    try:
        await inbox.start(handler)
        await inbox.accept("t", events=events("!a", 0, 4))
        await inbox.wait_idle()
        assert order == [0, 1, 2, 3]
    finally:
        await inbox.stop()
        await db.stop()


async def test_event_failing_every_attempt_is_kept_for_inspection(db_url):
    db = await open_database(db_url)
    order: list[int] = []

    async def handler(item):
        if item.event["content"]["n"] == 1:
            raise RuntimeError("permanent")
        order.append(item.event["content"]["n"])

    inbox = MatrixInbox(db, max_attempts=3, retry_delay=0.01)
    try:
        await inbox.start(handler)
        await inbox.accept("t", events=events("!a", 0, 3))
        await inbox.wait_idle()
        assert order == [0, 2]
        row = await db.fetchrow("SELECT event, attempts FROM matrix_inbox")
        assert row["attempts"] == 3 and '"n": 1' in row["event"]
    finally:
        await inbox.stop()
        await db.stop()


async def test_stopping_midway_loses_nothing_and_handles_nothing_twice(db_url):
    db = await open_database(db_url)
    handled: list[int] = []
    half = asyncio.Event()

    async def slow_handler(item):
        await asyncio.sleep(0.005)
        handled.append(item.event["content"]["n"])
        if len(handled) == 20:
            half.set()

    inbox = MatrixInbox(db)
    await inbox.start(slow_handler)
    await inbox.accept("t1", events=events("!a", 0, 60))
    await half.wait()
    await inbox.stop()
    remaining = await inbox.pending_count()
    assert 0 < remaining < 60 - 19
    assert len(handled) + remaining == 60
    await db.stop()

    # A new process: the leftover work resumes where it stopped.
    db = await open_database(db_url)
    inbox = MatrixInbox(db)
    try:
        await inbox.start(slow_handler)
        await inbox.wait_idle()
        assert handled == list(range(60))
    finally:
        await inbox.stop()
        await db.stop()


async def test_stored_events_wait_for_start(db_url):
    db = await open_database(db_url)
    handled: list[int] = []

    async def handler(item):
        handled.append(item.event["content"]["n"])

    inbox = MatrixInbox(db)
    try:
        await inbox.accept("early", events=events("!a", 0, 3))
        await asyncio.sleep(0.05)
        assert handled == [] and await inbox.pending_count() == 3
        await inbox.start(handler)
        await inbox.wait_idle()
        assert handled == [0, 1, 2]
    finally:
        await inbox.stop()
        await db.stop()


async def test_a_reused_transaction_id_with_new_events_is_not_taken_for_a_retry(db_url):
    """Synapse on SQLite numbers its transactions from 1 again after a restart: the same id with
    other events is a new transaction, the same id with the same events a retry."""
    db = await open_database(db_url)
    seen: list[int] = []

    async def handler(item):
        seen.append(item.event["content"]["n"])

    inbox = MatrixInbox(db)
    try:
        await inbox.start(handler)
        assert await inbox.accept("1", events=events("!a", 0, 2))
        assert not await inbox.accept("1", events=events("!a", 0, 2))  # a retry
        assert await inbox.accept("1", events=events("!a", 2, 2))      # the homeserver restarted
        assert not await inbox.accept("1", events=events("!a", 2, 2))
        await inbox.wait_idle()
        assert seen == [0, 1, 2, 3]
    finally:
        await inbox.stop()
        await db.stop()
