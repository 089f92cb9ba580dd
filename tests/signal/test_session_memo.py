"""The store's memory of decoded sessions: per user, only for the row's exact bytes, bounded."""

from __future__ import annotations

import pytest

from bridge.signal import store as store_module
from bridge.signal.party import SignalParty
from bridge.signal.session import SessionRecord
from bridge.signal.store import SessionMemo, SqlSignalStores
from bridge.storage import open_database
from bridge.trust import MasterKey, Vault

from .helpers import start_session


def test_a_record_is_handed_out_once_and_only_for_its_user_peer_and_bytes():
    memo = SessionMemo(10)
    record = SessionRecord()
    memo.keep("@a:x", "peer", b"sealed", record)
    assert memo.take("@b:x", "peer", b"sealed") is None  # another user's partition is empty
    assert memo.take("@a:x", "other", b"sealed") is None
    assert memo.take("@a:x", "peer", b"sealed") is record
    assert memo.take("@a:x", "peer", b"sealed") is None  # taken out: the caller may change it
    memo.keep("@a:x", "peer", b"sealed", record)
    assert memo.take("@a:x", "peer", b"the row holds other bytes") is None
    assert memo.take("@a:x", "peer", b"sealed") is None  # and the outdated record is gone
    assert len(memo) == 0


def test_forgetting_a_user_drops_their_records_only():
    memo = SessionMemo(10)
    a, b = SessionRecord(), SessionRecord()
    memo.keep("@a:x", "p1", b"1", a)
    memo.keep("@a:x", "p2", b"2", a)
    memo.keep("@b:x", "p1", b"1", b)
    memo.forget("@a:x")
    assert len(memo) == 1
    assert memo.take("@a:x", "p1", b"1") is None and memo.take("@a:x", "p2", b"2") is None
    assert memo.take("@b:x", "p1", b"1") is b


def test_the_least_recently_used_go_first():
    memo = SessionMemo(3)
    records = [SessionRecord() for _ in range(4)]
    memo.keep("@a:x", "p1", b"1", records[0])
    memo.keep("@b:x", "p1", b"1", records[1])
    memo.keep("@a:x", "p2", b"2", records[2])  # @a:x is now the more recent user
    memo.keep("@c:x", "p1", b"1", records[3])  # one too many: @b:x's goes
    assert len(memo) == 3
    assert memo.take("@b:x", "p1", b"1") is None
    assert memo.take("@a:x", "p1", b"1") is records[0]
    assert memo.take("@a:x", "p2", b"2") is records[2]
    assert memo.take("@c:x", "p1", b"1") is records[3]


@pytest.fixture
def decodes(monkeypatch):
    """How many session records were decoded from a row."""
    calls = []
    original = SessionRecord.deserialize

    def counting(data: bytes) -> SessionRecord:
        calls.append(1)
        return original(data)

    monkeypatch.setattr(store_module.SessionRecord, "deserialize", staticmethod(counting))
    return calls


async def test_steady_state_reads_the_row_but_does_not_decode_it_again(db_url, decodes):
    db = await open_database(db_url)
    try:
        store = SqlSignalStores(Vault(MasterKey.generate()))
        alice, bob = SignalParty(store.for_user("@alice:x")), SignalParty(store.for_user("@bob:x"))
        await start_session(db, alice, bob)
        for text in (b"one", b"two", b"three"):
            async with db.acquire() as conn, conn.transaction():
                message = await alice.encrypt(conn, "bob", text)
            async with db.acquire() as conn, conn.transaction():
                assert (await bob.decrypt(conn, "alice", *message)).plaintext == text
        assert decodes == []
        # deleting bob forgets his sessions; alice's stay
        async with db.acquire() as conn, conn.transaction():
            await store.delete_user(conn, "@bob:x")
            assert await bob.store.load_session(conn, "alice") is None
            assert await alice.has_session(conn, "bob")
        assert decodes == []
    finally:
        await db.stop()


async def test_a_session_written_by_another_store_is_decoded_from_the_row(db_url, decodes):
    db = await open_database(db_url)
    try:
        vault = Vault(MasterKey.generate())
        store = SqlSignalStores(vault)
        alice, bob = SignalParty(store.for_user("@alice:x")), SignalParty(store.for_user("@bob:x"))
        await start_session(db, alice, bob)
        elsewhere = SignalParty(SqlSignalStores(vault).for_user("@alice:x"))
        async with db.acquire() as conn, conn.transaction():
            await elsewhere.encrypt(conn, "bob", b"from the other store")  # decodes the row
        assert len(decodes) == 1
        async with db.acquire() as conn, conn.transaction():
            kind, body = await alice.encrypt(conn, "bob", b"from the first store")
        assert len(decodes) == 2  # the row changed behind the first store: decoded, not reused
        async with db.acquire() as conn, conn.transaction():
            assert (await bob.decrypt(conn, "alice", kind, body)).plaintext == (
                b"from the first store")
    finally:
        await db.stop()
