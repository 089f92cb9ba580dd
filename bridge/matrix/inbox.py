"""The durable inbox of appservice transactions.

mautrix answers the homeserver before its handlers run and remembers transaction IDs in memory
only, so a crash loses events. Here a transaction is stored (with its ID, for de-duplication across
restarts) before the homeserver gets its 200, and handled afterwards from the database, strictly in
order within each room. Work that was accepted but not yet handled when the process stops stays in
the database and is handled on the next start.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from attrs import define
from mautrix.types import DeviceLists, DeviceOTKCount, UserID
from mautrix.util.async_db import Database

from ..storage import acquire, transaction

# Items without a room (to-device events, presence) share one queue under this key.
NO_ROOM = ""


@define
class InboxItem:
    seq: int
    txn_id: str
    kind: str  # "pdu", "edu" or "to_device"
    room_id: str
    event: dict[str, Any]
    attempts: int


Handler = Callable[[InboxItem], Awaitable[None]]
#: Device-list changes and one-time-key counts, as a transaction carried them.
CryptoStateHandler = Callable[[DeviceLists | None, dict[UserID, dict[str, DeviceOTKCount]]],
                              Awaitable[None]]


def _room_of(event: Any) -> str:
    room_id = event.get("room_id") if isinstance(event, dict) else None
    return room_id if isinstance(room_id, str) else NO_ROOM


class MatrixInbox:
    def __init__(self, db: Database, *, max_attempts: int = 5,
                 retry_delay: float = 1.0, log: logging.Logger | None = None,
                 on_retry: Callable[[], None] | None = None) -> None:
        self.db = db
        # Both given by start(): the listener stores transactions before the router exists.
        self._handler: Handler | None = None
        self._crypto_state: CryptoStateHandler | None = None
        self.max_attempts = max_attempts
        self.retry_delay = retry_delay
        self.on_retry = on_retry
        self.log = log or logging.getLogger("bridge.matrix.inbox")
        self._workers: dict[str, asyncio.Task] = {}
        # Transactions are stored from the moment the listener is up; handling waits for start().
        self._running = False

    async def accept(self, txn_id: str, *, events: Iterable[dict], ephemeral: Iterable[dict] = (),
                     to_device: Iterable[dict] = ()) -> bool:
        """Store a transaction. Returns False for a transaction ID seen before (nothing stored)."""
        now = int(time.time() * 1000)
        rows = [
            (txn_id, kind, _room_of(event), json.dumps(event), now)
            for kind, items in (("to_device", to_device), ("edu", ephemeral), ("pdu", events))
            for event in items
        ]
        # A homeserver resends a transaction under the same id with the same body; Synapse on
        # SQLite also starts its ids again after a restart, with other bodies: those are new.
        # (Ids stored before digests were kept count as new: a retry exactly across the upgrade
        # is far less likely than a restarted local homeserver.)
        digest = hashlib.sha256(json.dumps([[row[1], row[3]] for row in rows]).encode()
                                ).hexdigest()
        async with acquire(self.db) as conn, transaction(conn):
            inserted = await conn.fetchval(
                "INSERT INTO appservice_txn (txn_id, received_at, digest) VALUES ($1, $2, $3) "
                "ON CONFLICT (txn_id) DO UPDATE SET received_at=excluded.received_at, "
                "digest=excluded.digest WHERE appservice_txn.digest IS NULL "
                "OR appservice_txn.digest <> excluded.digest "
                "RETURNING txn_id",
                txn_id, now, digest,
            )
            if inserted is None:
                return False
            if rows:
                await conn.executemany(
                    "INSERT INTO matrix_inbox (txn_id, kind, room_id, event, received_at) "
                    "VALUES ($1, $2, $3, $4, $5)",
                    rows,
                )
        for room_id in {row[2] for row in rows}:
            self._ensure_worker(room_id)
        return True

    def start_crypto_state(self, handler: CryptoStateHandler) -> None:
        """Hand device lists and key counts to ``handler`` from now on (the encryption, once it
        runs: before the stored events, which may need the keys those counts top up)."""
        self._crypto_state = handler

    async def start(self, handler: Handler) -> None:
        """Start handling with ``handler``, beginning with work stored earlier (by a previous
        run, or before now)."""
        self._handler = handler
        self._running = True
        rooms = await self.db.fetch(
            "SELECT DISTINCT room_id FROM matrix_inbox WHERE attempts < $1", self.max_attempts
        )
        if rooms:
            self.log.info("Handling stored events of %d room(s)", len(rooms))
        for row in rooms:
            self._ensure_worker(row["room_id"])

    async def stop(self, timeout: float = 30.0) -> None:
        """Finish the item each queue is handling, then stop; the rest waits in the database."""
        self._running = False
        workers = list(self._workers.values())
        if not workers:
            return
        _done, pending = await asyncio.wait(workers, timeout=timeout)
        for task in pending:
            task.cancel()
        if pending:
            self.log.warning("%d room queue(s) did not finish in %.0f s; their current item "
                             "will be handled again on the next start", len(pending), timeout)
            await asyncio.gather(*pending, return_exceptions=True)

    async def crypto_state(self, device_lists: DeviceLists | None,
                           counts: dict[UserID, dict[str, DeviceOTKCount]]) -> None:
        """Device lists and key counts describe current state: re-reading them is harmless, so
        they are handled at once rather than stored (and dropped until the encryption runs: it
        reads both afresh when it starts)."""
        if self._crypto_state is not None:
            await self._crypto_state(device_lists, counts)

    async def pending_count(self) -> int:
        return await self.db.fetchval("SELECT COUNT(*) FROM matrix_inbox")

    async def wait_idle(self) -> None:
        """Wait until every queue has run dry (used by tests and the demo)."""
        while self._workers:
            await asyncio.gather(*list(self._workers.values()), return_exceptions=True)

    def _ensure_worker(self, room_id: str) -> None:
        if not self._running or room_id in self._workers:
            return
        task = asyncio.create_task(self._work(room_id), name=f"inbox:{room_id or 'no-room'}")
        self._workers[room_id] = task
        task.add_done_callback(lambda _: self._workers.pop(room_id, None))

    async def _work(self, room_id: str) -> None:
        while self._running:
            row = await self.db.fetchrow(
                "SELECT seq, txn_id, kind, room_id, event, attempts FROM matrix_inbox "
                "WHERE room_id=$1 AND attempts < $2 ORDER BY seq LIMIT 1",
                room_id, self.max_attempts,
            )
            if row is None:
                return
            item = InboxItem(seq=row["seq"], txn_id=row["txn_id"], kind=row["kind"],
                             room_id=row["room_id"], event=json.loads(row["event"]),
                             attempts=row["attempts"])
            assert self._handler is not None  # set before the first worker starts
            try:
                await self._handler(item)
            except Exception as error:  # noqa: BLE001 - logged with its traceback, retried
                await self._record_failure(item, error)
            else:
                await self.db.execute("DELETE FROM matrix_inbox WHERE seq=$1", item.seq)

    async def _record_failure(self, item: InboxItem, error: Exception) -> None:
        attempts = item.attempts + 1
        await self.db.execute("UPDATE matrix_inbox SET attempts=$1 WHERE seq=$2",
                              attempts, item.seq)
        event_id = item.event.get("event_id") or item.event.get("type")
        if attempts >= self.max_attempts:
            self.log.error("Giving up on %s %s in %s after %d attempts; it stays in the "
                           "inbox table for inspection", item.kind, event_id,
                           item.room_id or "(no room)", attempts, exc_info=error)
            return
        self.log.error("Handling %s %s failed (attempt %d of %d); retrying",
                       item.kind, event_id, attempts, self.max_attempts, exc_info=error)
        if self.on_retry:
            self.on_retry()
        # Later items of this room wait: order within a room matters more than latency.
        await asyncio.sleep(self.retry_delay * 2 ** (attempts - 1))
