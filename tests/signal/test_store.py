"""The sealed SQL store on both engines: key maintenance, sessions, identities."""

from __future__ import annotations

import time

import pytest

from bridge.signal import prekeys
from bridge.signal.errors import MissingPreKeyError
from bridge.signal.party import SignalParty
from bridge.signal.store import SqlSignalStores
from bridge.storage import open_database
from bridge.trust import MasterKey, Vault

from .helpers import peer_bundle


async def test_key_maintenance_and_a_session_through_sql(db_url):
    db = await open_database(db_url)
    try:
        store = SqlSignalStores(Vault(MasterKey.generate()))
        alice, bob = SignalParty(store.for_user("@alice:x")), SignalParty(store.for_user("@bob:x"))
        t0 = int(time.time())
        async with db.acquire() as conn, conn.transaction():
            await alice.ensure_identity(conn, pre_key_count=3, now=t0)
            await bob.ensure_identity(conn, now=t0)
            again = await bob.ensure_identity(conn, now=t0)  # idempotent
            published = await bob.bundle(conn)
        assert again.identity.public == published.identity_key
        assert [k for k, _ in published.pre_keys] == list(range(1, 51))
        await db.execute("DELETE FROM signal_pre_key WHERE user_id='@bob:x' AND key_id < 47")
        t1 = t0 + prekeys.SIGNED_PRE_KEY_ROTATION_SECONDS
        async with db.acquire() as conn, conn.transaction():
            assert await bob.maintain_keys(conn, now=t1)
            refreshed = await bob.bundle(conn)
        assert len(refreshed.pre_keys) == 50 and refreshed.pre_keys[-1][0] == 96
        assert refreshed.signed_pre_key_id == 2
        async with db.acquire() as conn, conn.transaction():
            await alice.process_bundle(conn, "bob", peer_bundle(published))  # old signed prekey
            kind, body = await alice.encrypt(conn, "bob", b"hi")
        # pre-key 1 was deleted above: a session set-up naming it fails, the state is untouched
        async with db.acquire() as conn:
            with pytest.raises(MissingPreKeyError):
                async with conn.transaction():
                    await bob.decrypt(conn, "alice", kind, body)
        async with db.acquire() as conn, conn.transaction():
            await alice.process_bundle(conn, "bob", peer_bundle(refreshed))
            kind, body = await alice.encrypt(conn, "bob", b"hello again")
            assert (await bob.decrypt(conn, "alice", kind, body)).plaintext == b"hello again"
            assert await bob.has_session(conn, "alice")
            assert await bob.trusted_identity(conn, "alice") is not None
            await store.delete_user(conn, "@bob:x")
            assert not await bob.has_session(conn, "alice")
    finally:
        await db.stop()


async def test_concurrent_decryptions_on_one_session_do_not_lose_an_update(db_url):
    """On PostgreSQL two transactions can overlap; the session row lock makes them queue."""
    import asyncio

    from bridge.signal.errors import DuplicateMessageError

    from .helpers import start_session

    db = await open_database(db_url)
    try:
        store = SqlSignalStores(Vault(MasterKey.generate()))
        alice, bob = SignalParty(store.for_user("@alice:x")), SignalParty(store.for_user("@bob:x"))
        await start_session(db, alice, bob)
        async with db.acquire() as conn, conn.transaction():
            kind, body = await alice.encrypt(conn, "bob", b"setup")
            await bob.decrypt(conn, "alice", kind, body)
            reply = await bob.encrypt(conn, "alice", b"ok")
            await alice.decrypt(conn, "bob", *reply)
            first = await alice.encrypt(conn, "bob", b"first")
            second = await alice.encrypt(conn, "bob", b"second")

        async def decrypt_slowly(message):
            async with db.acquire() as conn, conn.transaction():
                result = await bob.decrypt(conn, "alice", *message)
                await asyncio.sleep(0.3)  # hold the transaction open while the other one runs
                return result.plaintext

        results = await asyncio.gather(decrypt_slowly(first), decrypt_slowly(second))
        assert sorted(results) == [b"first", b"second"]
        for message in (first, second):  # both keys are used up: nothing can be decrypted twice
            async with db.acquire() as conn:
                with pytest.raises(DuplicateMessageError):
                    async with conn.transaction():
                        await bob.decrypt(conn, "alice", *message)
    finally:
        await db.stop()
