"""Simulated users' Signal state survives a sandbox restart: the conversation goes on with the
same sessions and identity, on SQLite and PostgreSQL."""

from __future__ import annotations

import os
import stat

from bridge.content import Text, decode_content
from bridge.gateway.ids import Address
from bridge.sandbox.simulated import MASTER_KEY_STATE

from .conftest import ADMIN_SECRET
from .helpers import Admin, ChatClient
from .simulated_support import PartnerSide, simulated_gina
from .test_mailbox import drain


async def reconnect(sandbox, partner, alice: PartnerSide) -> PartnerSide:
    client = await ChatClient(sandbox, alice.client.keys, alice.login,
                              partner.identity_token("alice", now=sandbox.clock.now())).connect()
    return PartnerSide(alice.party, alice.login, client)


async def test_conversation_continues_across_a_restart(db_url, sandbox_factory, partner,
                                                       tmp_path):
    key_file = tmp_path / "simulated-users.key"
    sandbox = await sandbox_factory(database_url=db_url, simulated_users_key_file=str(key_file))
    admin, gina = await simulated_gina(sandbox)
    identity_before = await sandbox.partners.identity_key(gina)
    alice = await PartnerSide.enlist(sandbox, partner)
    await admin.call("POST", "/gatekeeper-users/gina/send/text", {"to": "alice", "text": "one"})
    message, content = await alice.receive_content(gina)
    assert message.child("enc").attrs["type"] == "pkmsg" and content == Text(text="one")
    await alice.send_content(gina, Text(text="two"), stanza_id="A2")
    _, inbox = await admin.call("GET", "/gatekeeper-users/gina/inbox")
    assert [e["content"]["text"] for e in inbox["entries"]] == ["two"]
    # Mid-conversation: alice's next message waits in gina's mailbox over the restart.
    await alice.send_content(gina, Text(text="three"), stanza_id="A3")
    await alice.client.close()
    await sandbox.stop()
    assert stat.S_IMODE(os.stat(key_file).st_mode) == 0o600

    sandbox = await sandbox_factory(database_url=db_url, simulated_users_key_file=str(key_file))
    admin = Admin(sandbox, ADMIN_SECRET)
    assert await sandbox.state.get(MASTER_KEY_STATE) is None  # the key is in the file only
    # Still simulated without calling simulate again; gina's reply travels on the old session.
    status, answer = await admin.call("POST", "/gatekeeper-users/gina/send/text",
                                      {"to": "alice", "text": "four", "id": "G4"})
    assert status == 200 and "error" not in answer, answer
    alice = await reconnect(sandbox, partner, alice)
    try:
        [offline] = await drain(alice.client)  # no identity-change notification, just the text
        assert offline.tag == "message" and offline.child("enc").attrs["type"] == "msg"
        plain = await alice.party.decrypt(None, Address(gina), "msg", offline.child("enc").data)
        assert decode_content(plain.plaintext) == Text(text="four")
        assert plain.identity_change is None

        # simulate again is harmless: same identity, no prekey published twice.
        status, again = await admin.call("POST", "/gatekeeper-users/gina/simulate")
        assert status == 200 and again["one_time_prekeys"] == 0
        assert await sandbox.partners.identity_key(gina) == identity_before

        await alice.send_content(gina, Text(text="five"), stanza_id="A5")
        _, inbox = await admin.call("GET", "/gatekeeper-users/gina/inbox")
        assert [e["content"]["text"] for e in inbox["entries"]] == ["two", "three", "five"]
        assert not any("error" in e for e in inbox["entries"])
    finally:
        await alice.client.close()


async def test_master_key_kept_in_the_state_database_without_a_key_file(sandbox_factory,
                                                                        partner):
    sandbox = await sandbox_factory()
    _, gina = await simulated_gina(sandbox)
    identity = await sandbox.partners.identity_key(gina)
    assert await sandbox.state.get(MASTER_KEY_STATE)
    await sandbox.stop()
    sandbox = await sandbox_factory()
    assert sandbox.simulated.is_simulated(gina)
    async with sandbox.db.acquire() as conn:
        bundle = await sandbox.simulated.party(gina).bundle(conn)
    assert bundle.identity_key == identity


async def test_signal_state_is_sealed_at_rest(db_url, sandbox_factory, partner):
    sandbox = await sandbox_factory(database_url=db_url)
    admin, gina = await simulated_gina(sandbox)
    alice = await PartnerSide.enlist(sandbox, partner)
    try:
        await admin.call("POST", "/gatekeeper-users/gina/send/text",
                         {"to": "alice", "text": "secret words"})
        await alice.receive_content(gina)
        await alice.send_content(gina, Text(text="secret reply"))
        await admin.call("GET", "/gatekeeper-users/gina/inbox")
        async with sandbox.db.acquire() as conn:
            identity = await sandbox.simulated.signal_store.for_user(gina).load_identity(conn)
            private = identity[0].identity.private
            rows = []
            for table in ("signal_identity", "signal_session", "simulated_inbox"):
                rows += [bytes(r["sealed"]) for r in await conn.fetch(
                    f"SELECT sealed FROM {table}")]
        assert rows and not any(private in r or b"secret reply" in r for r in rows)
    finally:
        await alice.client.close()
