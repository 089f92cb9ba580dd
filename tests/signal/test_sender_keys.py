"""Group messages with sender keys, in memory and through the sealed store on both engines."""

from __future__ import annotations

import random

import pytest

from bridge.signal.errors import (
    DuplicateMessageError,
    NoSessionError,
    TamperedMessageError,
    TooFarAheadError,
)
from bridge.signal.sender_keys import (
    MAX_FUTURE_MESSAGES,
    GroupCipher,
    SenderKeyRecord,
    create_own_chain,
    group_decrypt,
    group_encrypt,
    process_distribution,
)
from bridge.signal.store import SqlSignalStores
from bridge.signal.wire import SenderKeyDistributionMessage, SenderKeyMessage
from bridge.storage import open_database
from bridge.trust import MasterKey, Vault


def _members():
    sender, receiver = SenderKeyRecord(), SenderKeyRecord()
    distribution = create_own_chain(sender)
    process_distribution(receiver, SenderKeyDistributionMessage.parse(distribution.serialize()))
    return sender, receiver


def test_group_messages_in_order_out_of_order_replayed_and_tampered():
    sender, receiver = _members()
    bodies = [group_encrypt(sender, b"g%d" % i) for i in range(30)]
    assert SenderKeyMessage.parse(bodies[3]).iteration == 3
    order = list(range(30))
    random.Random(3).shuffle(order)
    for i in order:
        assert group_decrypt(receiver, bodies[i]) == b"g%d" % i
    with pytest.raises(DuplicateMessageError):
        group_decrypt(receiver, bodies[5])
    body = group_encrypt(sender, b"signed")
    for index in (2, len(body) - 70, len(body) - 1):  # header, ciphertext, signature
        flipped = body[:index] + bytes((body[index] ^ 1,)) + body[index + 1:]
        with pytest.raises((TamperedMessageError, NoSessionError)):
            group_decrypt(receiver, flipped)
    assert group_decrypt(receiver, body) == b"signed"


def test_a_late_joiner_starts_at_the_distributed_iteration_and_jumps_are_bounded():
    sender = SenderKeyRecord()
    create_own_chain(sender)
    early = group_encrypt(sender, b"before you joined")
    late_joiner = SenderKeyRecord()
    process_distribution(late_joiner, create_own_chain(sender))
    with pytest.raises(DuplicateMessageError):
        group_decrypt(late_joiner, early)
    for _ in range(MAX_FUTURE_MESSAGES + 1):
        group_encrypt(sender, b"lost")
    with pytest.raises(TooFarAheadError):
        group_decrypt(late_joiner, group_encrypt(sender, b"far"))


def test_no_distribution_no_decrypt():
    sender, _ = _members()
    with pytest.raises(NoSessionError):
        group_decrypt(SenderKeyRecord(), group_encrypt(sender, b"x"))


async def test_group_cipher_through_the_sealed_store(db_url):
    db = await open_database(db_url)
    try:
        store = SqlSignalStores(Vault(MasterKey.generate()))
        alice = GroupCipher(store.for_user("@alice:x"))
        bob = GroupCipher(store.for_user("@bob:x"))
        async with db.acquire() as conn, conn.transaction():
            distribution = await alice.distribution_message(conn, "group-1")
            await bob.process_distribution(conn, "group-1", "@alice:x", distribution)
            for i in range(5):
                body = await alice.encrypt(conn, "group-1", b"hello group %d" % i)
                plaintext = await bob.decrypt(conn, "group-1", "@alice:x", body)
                assert plaintext == b"hello group %d" % i
        sealed = await db.fetchval("SELECT sealed FROM signal_sender_key WHERE user_id='@bob:x'")
        assert b"hello" not in sealed
    finally:
        await db.stop()
