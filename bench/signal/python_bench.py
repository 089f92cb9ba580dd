"""Our side of the benchmark: encrypt+decrypt operations per second in three modes, and the CPU
time this process spent per operation (every thread: aiosqlite's worker thread included)."""

from __future__ import annotations

import asyncio
import contextlib
import tempfile
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

from bridge.signal.agreement import PeerBundle
from bridge.signal.party import SignalParty
from bridge.signal.store import MemorySignalStore, SignalStore, SqlSignalStores
from bridge.storage import open_database
from bridge.trust import MasterKey, Vault


def _bundle(published, use_pre_key=True) -> PeerBundle:
    pre_key_id, pre_key = published.pre_keys[0] if use_pre_key else (None, None)
    return PeerBundle(published.registration_id, 1, published.identity_key,
                      published.signed_pre_key_id, published.signed_pre_key,
                      published.signed_pre_key_signature, pre_key_id, pre_key)


class Harness:
    """Two parties and a way to run each step in its own transaction (or none)."""

    def __init__(self, store_for: Callable[[str], SignalStore], db=None) -> None:
        self.db = db
        self.alice = SignalParty(store_for("@alice:bench"))
        self.bob = SignalParty(store_for("@bob:bench"))

    @contextlib.asynccontextmanager
    async def txn(self) -> AsyncIterator[Any]:
        if self.db is None:
            yield None
            return
        async with self.db.acquire() as conn, conn.transaction():
            yield conn

    async def setup(self, pre_keys: int) -> None:
        async with self.txn() as conn:
            await self.alice.ensure_identity(conn, pre_key_count=1)
            await self.bob.ensure_identity(conn, pre_key_count=pre_keys)

    async def send(self, src: SignalParty, dst: SignalParty, src_name: str, dst_name: str,
                   plaintext: bytes) -> None:
        async with self.txn() as conn:
            kind, body = await src.encrypt(conn, dst_name, plaintext)
        async with self.txn() as conn:
            result = await dst.decrypt(conn, src_name, kind, body)
        assert result.plaintext == plaintext


@contextlib.asynccontextmanager
async def harness(persistent: bool) -> AsyncIterator[Harness]:
    if not persistent:
        yield Harness(MemorySignalStore)
        return
    with tempfile.TemporaryDirectory(prefix="signal-bench-") as tmp:
        db = await open_database(f"sqlite:{Path(tmp) / 'bench.db'}")
        try:
            yield Harness(SqlSignalStores(Vault(MasterKey.generate())).for_user, db)
        finally:
            await db.stop()


PLAINTEXT = b"x" * 100

#: (operations per second, CPU microseconds of this process per operation)
Figures = tuple[float, float]


def stopwatch() -> Callable[[int], Figures]:
    """Wall clock and this process's CPU time from now on."""
    wall, cpu = time.perf_counter(), time.process_time()

    def done(count: int) -> Figures:
        return (count / (time.perf_counter() - wall),
                (time.process_time() - cpu) / count * 1e6)
    return done


async def steady(persistent: bool, count: int) -> Figures:
    async with harness(persistent) as h:
        await h.setup(5)
        async with h.txn() as conn:
            await h.alice.process_bundle(conn, "bob", _bundle(await h.bob.bundle(conn)))
        await h.send(h.alice, h.bob, "alice", "bob", PLAINTEXT)
        await h.send(h.bob, h.alice, "bob", "alice", PLAINTEXT)
        done = stopwatch()
        for _ in range(count):
            await h.send(h.alice, h.bob, "alice", "bob", PLAINTEXT)
        return done(count)


async def ping_pong(persistent: bool, count: int) -> Figures:
    async with harness(persistent) as h:
        await h.setup(5)
        async with h.txn() as conn:
            await h.alice.process_bundle(conn, "bob", _bundle(await h.bob.bundle(conn)))
        await h.send(h.alice, h.bob, "alice", "bob", PLAINTEXT)
        done = stopwatch()
        for i in range(count):
            if i % 2:
                await h.send(h.alice, h.bob, "alice", "bob", PLAINTEXT)
            else:
                await h.send(h.bob, h.alice, "bob", "alice", PLAINTEXT)
        return done(count)


async def new_sessions(persistent: bool, count: int) -> Figures:
    """One op: fetch-bundle processing, first PreKey message, its decryption (X3DH both sides)."""
    async with harness(persistent) as h:
        await h.setup(count)
        async with h.txn() as conn:
            published = await h.bob.bundle(conn)
        done = stopwatch()
        for i in range(count):
            pre_key_id, pre_key = published.pre_keys[i]
            bundle = PeerBundle(published.registration_id, 1, published.identity_key,
                                published.signed_pre_key_id, published.signed_pre_key,
                                published.signed_pre_key_signature, pre_key_id, pre_key)
            async with h.txn() as conn:
                # a fresh peer name each time, so every op is a genuinely new session
                await h.alice.process_bundle(conn, f"bob{i}", bundle)
            async with h.txn() as conn:
                kind, body = await h.alice.encrypt(conn, f"bob{i}", PLAINTEXT)
            async with h.txn() as conn:
                result = await h.bob.decrypt(conn, f"alice{i}", kind, body)
            assert result.plaintext == PLAINTEXT
        return done(count)


MODES = {"steady": steady, "ping-pong": ping_pong, "new-sessions": new_sessions}


async def run(counts: dict[str, int]) -> dict[tuple[str, bool], Figures]:
    results = {}
    for mode, fn in MODES.items():
        for persistent in (False, True):
            results[(mode, persistent)] = await fn(persistent, counts[mode])
    return results


if __name__ == "__main__":
    print(asyncio.run(run({"steady": 1000, "ping-pong": 1000, "new-sessions": 200})))
