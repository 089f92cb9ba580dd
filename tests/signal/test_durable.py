"""Crash consistency of the inbound and outbound tables, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest

from bridge.signal.durable import InboundState, Inbox, OutboundState, Outbox
from bridge.signal.party import SignalParty
from bridge.signal.store import SqlSignalStores
from bridge.storage import open_database
from bridge.trust import MasterKey, Vault
from bridge.trust.scope import UserScope

from .helpers import peer_bundle, start_session


class SimulatedCrash(Exception):
    pass


class CrashingInbox(Inbox):
    crash_at: str | None = None

    async def _checkpoint(self, step: str) -> None:
        if step == self.crash_at:
            self.crash_at = None
            raise SimulatedCrash(step)


class CrashingOutbox(Outbox):
    crash_at: str | None = None

    async def _checkpoint(self, step: str) -> None:
        if step == self.crash_at:
            self.crash_at = None
            raise SimulatedCrash(step)


class CountingParty(SignalParty):
    decrypt_calls = 0

    async def decrypt(self, conn, peer, kind, body):
        type(self).decrypt_calls += 1
        return await super().decrypt(conn, peer, kind, body)


class World:
    """The database plus freshly built objects, as a restarted process would build them."""

    def __init__(self, db, master: MasterKey) -> None:
        self.db, self.master = db, master
        self.restart()

    def restart(self) -> None:
        self.vault = Vault(self.master)
        store = SqlSignalStores(self.vault)
        self.alice = SignalParty(store.for_user("@alice:example.org"))
        self.bob = CountingParty(store.for_user("@bob:example.org"))
        alices, bobs = (UserScope(self.vault, p.user_id) for p in (self.alice, self.bob))
        self.bob_inbox = CrashingInbox(self.db, bobs, self.bob)
        self.alice_outbox = CrashingOutbox(self.db, alices, self.alice)
        self.alice_inbox = Inbox(self.db, alices, self.alice)
        self.bob_outbox = Outbox(self.db, bobs, self.bob)


@pytest.fixture
async def world(db_url):
    db = await open_database(db_url)
    try:
        w = World(db, MasterKey.generate())
        await start_session(db, w.alice, w.bob, alice_name="alice", bob_name="bob")
        yield w
    finally:
        await db.stop()


INBOUND_STEPS = ["before-lookup", "before-decrypt", "after-decrypt", "before-commit",
                 "after-commit"]


async def _alice_encrypts(w: World, text: bytes) -> tuple[str, bytes]:
    async with w.db.acquire() as conn, conn.transaction():
        return await w.alice.encrypt(conn, "bob", text)


async def test_inbound_survives_a_crash_at_every_step(world):
    w = world
    for number, step in enumerate(INBOUND_STEPS):
        text = b"message %d" % number
        kind, body = await _alice_encrypts(w, text)
        gateway_id = f"gw-{number}"
        w.bob_inbox.crash_at = step
        with pytest.raises(SimulatedCrash):
            await w.bob_inbox.receive(gateway_id, "alice", kind, body)
        w.restart()
        calls_before = CountingParty.decrypt_calls
        result = await w.bob_inbox.receive(gateway_id, "alice", kind, body)  # redelivery
        assert result.plaintext == text and result.state == InboundState.DECRYPTED
        # committed before the crash: recognised by id, not decrypted again
        assert result.redelivered == (step == "after-commit")
        assert CountingParty.decrypt_calls == calls_before + (0 if result.redelivered else 1)
        again = await w.bob_inbox.receive(gateway_id, "alice", kind, body)
        assert again.redelivered and again.plaintext == text
    rows = await w.db.fetch("SELECT gateway_message_id, state FROM signal_inbound ORDER BY 1")
    assert [(r["gateway_message_id"], r["state"]) for r in rows] == [
        (f"gw-{i}", "decrypted") for i in range(len(INBOUND_STEPS))]
    # the session still works both ways
    kind, body = await _alice_encrypts(w, b"after all that")
    last = await w.bob_inbox.receive("gw-last", "alice", kind, body)
    assert last.plaintext == b"after all that"
    await w.bob_outbox.submit("b-1", "alice", b"reply")
    reply = await w.bob_outbox.ciphertext("b-1")
    result = await w.alice_inbox.receive("gw-b-1", "bob", reply.message_type, reply.ciphertext)
    assert result.plaintext == b"reply"


async def test_undecryptable_message_is_recorded_once_and_leaves_the_session_alone(world):
    w = world
    kind, body = await _alice_encrypts(w, b"fine")
    tampered = body[:-1] + bytes((body[-1] ^ 1,))
    bad = await w.bob_inbox.receive("gw-bad", "alice", kind, tampered)
    assert bad.state == InboundState.FAILED and bad.error
    assert (await w.bob_inbox.receive("gw-bad", "alice", kind, tampered)).redelivered
    good = await w.bob_inbox.receive("gw-good", "alice", kind, body)
    assert good.plaintext == b"fine"
    assert await w.bob_inbox.undelivered() == ["gw-good"]
    await w.bob_inbox.mark_delivered("gw-good")
    assert await w.bob_inbox.undelivered() == []


OUTBOUND_STEPS = ["before-encrypt", "after-encrypt", "before-commit", "after-commit",
                  "after-send"]


async def test_outbound_survives_a_crash_at_every_step(world):
    w = world
    wire: list[tuple[str, str, bytes]] = []  # what reached the gateway, duplicates included
    for number, step in enumerate(OUTBOUND_STEPS):
        local_id = f"out-{number}"
        await w.alice_outbox.submit(local_id, "bob", b"outgoing %d" % number)
        w.alice_outbox.crash_at = step if step != "after-send" else None
        try:
            message = await w.alice_outbox.ciphertext(local_id)
            wire.append((local_id, message.message_type, message.ciphertext))  # "send"
            if step == "after-send":
                raise SimulatedCrash(step)
            await w.alice_outbox.mark_sent(local_id)
        except SimulatedCrash:
            committed = await w.db.fetchval(
                "SELECT ciphertext FROM signal_outbound WHERE local_id=$1", local_id)
            w.restart()
            assert await w.alice_outbox.unsent() == [local_id]
            resumed = await w.alice_outbox.ciphertext(local_id)
            if committed is not None:  # committed before the crash: the very same bytes again
                assert resumed.ciphertext == committed
            wire.append((local_id, resumed.message_type, resumed.ciphertext))
            await w.alice_outbox.mark_sent(local_id)
    assert await w.alice_outbox.unsent() == []
    states = await w.db.fetch("SELECT state FROM signal_outbound")
    assert {r["state"] for r in states} == {OutboundState.SENT.value}

    received = []
    for local_id, kind, body in wire:  # the gateway delivers everything, duplicates included
        result = await w.bob_inbox.receive(local_id, "alice", kind, body)
        assert result.state == InboundState.DECRYPTED, result.error
        if not result.redelivered:
            received.append(result.plaintext)
    assert received == [b"outgoing %d" % i for i in range(len(OUTBOUND_STEPS))]
    assert len(wire) > len(OUTBOUND_STEPS)  # the after-commit/after-send crashes resent


@pytest.mark.parametrize("step", ["after-decrypt", "before-commit"])
async def test_a_rolled_back_decrypt_leaves_no_trace_in_the_same_process(world, step):
    """No restart: the very objects that saw the rolled-back transaction must not reuse its state
    (the store keeps decoded sessions in memory)."""
    w = world
    kind, body = await _alice_encrypts(w, b"warm-up")  # bob has a stored session from here on
    assert (await w.bob_inbox.receive("gw-0", "alice", kind, body)).plaintext == b"warm-up"
    kind, body = await _alice_encrypts(w, b"first try fails")
    w.bob_inbox.crash_at = step
    with pytest.raises(SimulatedCrash):
        await w.bob_inbox.receive("gw-1", "alice", kind, body)
    result = await w.bob_inbox.receive("gw-1", "alice", kind, body)
    assert result.plaintext == b"first try fails" and not result.redelivered
    kind, body = await _alice_encrypts(w, b"and the next one")
    second = await w.bob_inbox.receive("gw-2", "alice", kind, body)
    assert second.plaintext == b"and the next one"


async def test_a_rolled_back_encrypt_is_encrypted_again_and_arrives(world):
    w = world
    await w.alice_outbox.submit("o-0", "bob", b"warm-up")
    warm_up = await w.alice_outbox.ciphertext("o-0")
    await w.bob_inbox.receive("o-0", "alice", warm_up.message_type, warm_up.ciphertext)
    await w.alice_outbox.submit("o-1", "bob", b"rolled back once")
    w.alice_outbox.crash_at = "before-commit"
    with pytest.raises(SimulatedCrash):
        await w.alice_outbox.ciphertext("o-1")
    message = await w.alice_outbox.ciphertext("o-1")
    result = await w.bob_inbox.receive("o-1", "alice", message.message_type, message.ciphertext)
    assert result.plaintext == b"rolled back once"
    await w.alice_outbox.submit("o-2", "bob", b"next")
    message = await w.alice_outbox.ciphertext("o-2")
    assert (await w.bob_inbox.receive("o-2", "alice", message.message_type,
                                      message.ciphertext)).plaintext == b"next"


async def test_a_message_refused_for_a_changed_identity_opens_once_accepted(world):
    w = world
    kind, body = await _alice_encrypts(w, b"hello")
    assert (await w.bob_inbox.receive("gw-1", "alice", kind, body)).plaintext == b"hello"
    # alice reinstalls: new identity, new session towards bob
    reinstalled = SignalParty(SqlSignalStores(w.vault).for_user("@alice-new:example.org"))
    async with w.db.acquire() as conn, conn.transaction():
        await reinstalled.ensure_identity(conn, pre_key_count=1)
        await reinstalled.process_bundle(conn, "bob", peer_bundle(await w.bob.bundle(conn)))
        kind, body = await reinstalled.encrypt(conn, "bob", b"it is me, new phone")
    refused = await w.bob_inbox.receive("gw-2", "alice", kind, body)
    assert refused.state == InboundState.FAILED and refused.error == "UntrustedIdentityError"
    assert (await w.bob_inbox.retry_failed("gw-2")).state == InboundState.FAILED
    async with w.db.acquire() as conn, conn.transaction():
        identity, _ = await reinstalled.store.load_identity(conn)
        await w.bob.accept_identity(conn, "alice", identity.identity.public)
    retried = await w.bob_inbox.retry_failed("gw-2")
    assert retried.state == InboundState.DECRYPTED and retried.plaintext == b"it is me, new phone"
    assert (await w.bob_inbox.receive("gw-2", "alice", kind, body)).redelivered


async def test_a_session_changed_behind_the_stores_back_is_caught_and_the_step_redone(world):
    """Another store (another process, say) advances bob's session while bob's store still
    holds the older state in memory. Bob's next decryption must not use that older state: it
    goes on from the row the other store wrote."""
    w = world
    kind, body = await _alice_encrypts(w, b"warm-up")
    assert (await w.bob_inbox.receive("gw-0", "alice", kind, body)).plaintext == b"warm-up"
    first = await _alice_encrypts(w, b"first")
    second = await _alice_encrypts(w, b"second")
    elsewhere = Inbox(w.db, UserScope(w.vault, w.bob.user_id),
                      SignalParty(SqlSignalStores(w.vault).for_user(w.bob.user_id)))
    assert (await elsewhere.receive("gw-2", "alice", *second)).plaintext == b"second"

    result = await w.bob_inbox.receive("gw-1", "alice", *first)
    assert result.state == InboundState.DECRYPTED and result.plaintext == b"first"
    # bob went on from the row the other store wrote: "second" is used up there
    replay = await w.bob_inbox.receive("gw-2-again", "alice", *second)
    assert replay.state == InboundState.FAILED and replay.error == "DuplicateMessageError"
    kind, body = await _alice_encrypts(w, b"third")
    assert (await w.bob_inbox.receive("gw-3", "alice", kind, body)).plaintext == b"third"


async def test_an_inbox_or_outbox_refuses_another_users_scope(world):
    """The durable boxes seal with their own user's scope only: a scope for someone else is a
    wiring error, refused before anything is stored."""
    w = world
    alices_scope = UserScope(w.vault, w.alice.user_id)
    with pytest.raises(ValueError, match="does not hold the records"):
        Inbox(w.db, alices_scope, w.bob)
    with pytest.raises(ValueError, match="does not hold the records"):
        Outbox(w.db, alices_scope, w.bob)
