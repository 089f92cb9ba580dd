"""The sandbox's stores on both engines (SQLite and PostgreSQL through ``db_url``)."""

from __future__ import annotations

import pytest

from bridge.sandbox.storage import create_sandbox_database
from bridge.sandbox.storage.mailbox import ContactStore, MailboxStore, SendLedger
from bridge.sandbox.storage.partners import OneTimePrekey, PartnerStore, PartnerUser, SignedPrekey


@pytest.fixture
async def db(db_url):
    database = create_sandbox_database(db_url)
    await database.start()
    try:
        yield database
    finally:
        await database.stop()


def user(internal_id: str, visible: str, identity: bytes = b"\x01" * 32) -> PartnerUser:
    return PartnerUser(internal_id, visible, b"\x02" * 32 if visible == "a" else b"\x03" * 32,
                       1234, identity, SignedPrekey(7, b"\x04" * 32, b"\x05" * 64), 0, 0)


async def test_mailbox_keeps_until_the_matching_ack_and_expires(db):
    mailbox = MailboxStore(db)
    await mailbox.put("r", "message", "m1", "s", "", '{"tag":"message"}', 1000)
    await mailbox.put("r", "receipt", "m1", "s", "read", '{"tag":"receipt"}', 2000)
    await mailbox.put("r", "message", "m2", "s", "", '{"tag":"message"}', 3000)
    assert [e.stanza_id for e in await mailbox.pending("r")] == ["m1", "m1", "m2"]
    # An ack must name class, id, peer and type exactly.
    assert await mailbox.ack("r", "message", "m1", "other", "") == 0
    assert await mailbox.ack("r", "receipt", "m1", "s", "") == 0
    assert await mailbox.ack("r", "message", "m1", "s", "") == 1
    assert [e.ack_class for e in await mailbox.pending("r")] == ["receipt", "message"]
    # Storing the same key again replaces it (a resend after a retry receipt).
    await mailbox.put("r", "message", "m2", "s", "", '{"tag":"message","v":2}', 4000)
    assert (await mailbox.pending("r"))[-1].stanza.endswith('"v":2}')
    assert await mailbox.count("r") == 2
    assert await mailbox.expire(2500) == 1
    assert [e.stanza_id for e in await mailbox.pending("r")] == ["m2"]


async def test_bundle_fetch_consumes_one_prekey_and_remembers_the_fetcher(db):
    partners = PartnerStore(db)
    await partners.upsert(user("1-1@interop", "a"))
    await partners.add_one_time_prekeys("1-1@interop", [OneTimePrekey(i, bytes([i]) * 32)
                                                        for i in (3, 1, 2)])
    first = await partners.take_bundle("f", "1-1@interop", 10)
    second = await partners.take_bundle("f", "1-1@interop", 11)
    assert [first.one_time_prekey.key_id, second.one_time_prekey.key_id] == [1, 2]
    assert await partners.count_one_time_prekeys("1-1@interop") == 1
    assert await partners.take_bundle("f", "1-9@interop", 12) is None
    assert await partners.fetchers_of_other_identity("1-1@interop", b"\x01" * 32) == []
    assert await partners.fetchers_of_other_identity("1-1@interop", b"\x09" * 32) == ["f"]
    # Each fetcher hears of one change once.
    assert await partners.fetchers_of_other_identity("1-1@interop", b"\x09" * 32) == []


async def test_removal_forgets_everything_and_remembers_why(db):
    partners, mailbox, contacts = PartnerStore(db), MailboxStore(db), ContactStore(db)
    await partners.upsert(user("1-1@interop", "a"))
    await mailbox.put("1-1@interop", "message", "m", "s", "", "{}", 1)
    await contacts.add_pair("1-1@interop", "x@gk")
    await partners.remove("1-1@interop", "idle", 5)
    assert await partners.get("1-1@interop") is None
    assert await mailbox.count("1-1@interop") == 0
    assert await contacts.contacts_of("x@gk") == []
    assert await partners.retirement_reason("1-1@interop") == "idle"
    # Enlisting again clears the retirement.
    await partners.upsert(user("1-1@interop", "a"))
    assert await partners.retirement_reason("1-1@interop") is None


async def test_send_ledger_keeps_the_first_outcome(db):
    ledger = SendLedger(db)
    assert await ledger.outcome("s", "message\nm1\n") is None
    await ledger.record("s", "message\nm1\n", "null", 1)
    await ledger.record("s", "message\nm1\n", '{"code":403}', 2)
    assert await ledger.outcome("s", "message\nm1\n") == "null"
    await ledger.forget_before(5)
    assert await ledger.outcome("s", "message\nm1\n") is None
