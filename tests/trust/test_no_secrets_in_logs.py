"""Key material and message plaintext never reach a log, even at DEBUG and on failures."""

from __future__ import annotations

import base64
import json
import logging

import pytest

from bridge.signal.durable import Inbox, Outbox
from bridge.signal.errors import UntrustedIdentityError
from bridge.signal.party import SignalParty
from bridge.signal.store import SqlSignalStores
from bridge.storage import open_database
from bridge.trust import MasterKey, Vault
from bridge.trust.scope import UserScope
from bridge.trust.vault import unwrap_data_key

from ..signal.helpers import peer_bundle, start_session


def _forms(secret: bytes) -> list[str]:
    return [secret.hex(), base64.b64encode(secret).decode(), repr(secret)[2:-1]]


def _session_secrets(serialized: bytes) -> list[bytes]:
    """The secret values of a serialised session record: root key, ratchet private key, chain keys
    and skipped message keys (public keys in it are not secrets)."""
    found = []
    for session in json.loads(serialized):
        if session["ps"]:
            found.append(base64.b64decode(session["ps"][0]))
        ratchet = session["r"]
        if ratchet:
            found.append(base64.b64decode(ratchet[0]))
            found += [base64.b64decode(chain[1]) for chain in ratchet[2:5] if chain]
            found += [base64.b64decode(skipped[2]) for skipped in ratchet[6]]
    return found


async def test_full_exchange_at_debug_logs_no_secret(db_url, caplog):
    caplog.set_level(logging.DEBUG)
    logging.getLogger().setLevel(logging.DEBUG)
    db = await open_database(db_url)
    try:
        master = MasterKey.generate()
        vault = Vault(master)
        store = SqlSignalStores(vault)
        alice, bob = SignalParty(store.for_user("@alice:x")), SignalParty(store.for_user("@bob:x"))
        await start_session(db, alice, bob)
        alices, bobs = UserScope(vault, alice.user_id), UserScope(vault, bob.user_id)
        alice_out, bob_in = Outbox(db, alices, alice), Inbox(db, bobs, bob)
        bob_out, alice_in = Outbox(db, bobs, bob), Inbox(db, alices, alice)
        plaintexts = [b"the quick brown fox %d jumps" % i for i in range(6)]
        for i, text in enumerate(plaintexts[:3]):
            await alice_out.submit(f"a{i}", "bob", text)
            msg = await alice_out.ciphertext(f"a{i}")
            assert (await bob_in.receive(f"a{i}", "alice", msg.message_type,
                                         msg.ciphertext)).plaintext == text
            # replays and tampering exercise the error paths' logging too
            await bob_in.receive(f"a{i}-replay", "alice", msg.message_type, msg.ciphertext)
            await bob_in.receive(f"a{i}-bad", "alice", msg.message_type,
                                 msg.ciphertext[:-1] + b"\0")
        for i, text in enumerate(plaintexts[3:]):
            await bob_out.submit(f"b{i}", "alice", text)
            msg = await bob_out.ciphertext(f"b{i}")
            assert (await alice_in.receive(f"b{i}", "bob", msg.message_type,
                                           msg.ciphertext)).plaintext == text
        # an identity change is logged by fingerprint only
        impostor = SignalParty(SqlSignalStores(Vault(master)).for_user("@bob-reinstalled:x"))
        async with db.acquire() as conn, conn.transaction():
            await impostor.ensure_identity(conn, pre_key_count=1)
            new_bundle = await impostor.bundle(conn)
        async with db.acquire() as conn:
            with pytest.raises(UntrustedIdentityError):
                await alice.process_bundle(conn, "bob", peer_bundle(new_bundle))

        secrets: list[bytes] = [master.secret] + [bytes(p) for p in plaintexts]
        async with db.acquire() as conn:
            for user in ("@alice:x", "@bob:x"):
                own = store.for_user(user)
                identity, _ = await own.load_identity(conn)
                secrets.append(identity.identity.private)
                signed = await own.load_signed_pre_keys(conn)
                secrets += [k.key_pair.private for k in signed]
                secrets += [k.key_pair.private for k in await own.load_pre_keys(conn)]
                wrapped = await conn.fetchval(
                    "SELECT wrapped_key FROM trust_user_key WHERE user_id=$1", user)
                secrets.append(unwrap_data_key(master, user, wrapped))
            for peer, user in (("bob", "@alice:x"), ("alice", "@bob:x")):
                record = await store.for_user(user).load_session(conn, peer)
                secrets += _session_secrets(record.serialize())
    finally:
        await db.stop()

    logged = "\n".join(
        r.getMessage() + (logging.Formatter().formatException(r.exc_info) if r.exc_info else "")
        for r in caplog.records)
    assert caplog.records, "nothing was logged at all: the test would prove nothing"
    assert "fingerprint" in logged or "changed" in logged
    for secret in secrets:
        for form in _forms(secret):
            assert form not in logged, "secret material reached the log"
    assert b"quick brown fox".decode() not in logged
