"""The whole sandbox on both database engines: SQLite (its default) and PostgreSQL."""

from __future__ import annotations

from bridge.gateway.codec import Node

from .conftest import ADMIN_SECRET
from .helpers import Admin, connect_user, enlist_user
from .test_keys_and_receipts import bundle_request, upload
from .test_mailbox import drain, make_gatekeeper_user, send_as_gatekeeper


async def test_full_flow_survives_a_restart(db_url, sandbox_factory, partner):
    sandbox = await sandbox_factory(database_url=db_url)
    admin = Admin(sandbox, ADMIN_SECRET)
    alice_keys, alice = await enlist_user(sandbox, partner, "alice")
    bob_keys, bob = await enlist_user(sandbox, partner, "bob")
    gina = await make_gatekeeper_user(admin, "gina")
    await send_as_gatekeeper(admin, "gina", alice, "M1")
    a = await connect_user(sandbox, partner, "alice", alice_keys, alice)
    await drain(a)
    assert (await a.request(upload("u", range(1, 8)))).attrs["type"] == "result"
    await a.close()
    await sandbox.stop()

    sandbox = await sandbox_factory(database_url=db_url)
    b = await connect_user(sandbox, partner, "bob", bob_keys, bob)
    a = await connect_user(sandbox, partner, "alice", alice_keys, alice)
    try:
        [message] = await drain(a)
        assert (message.attrs["id"], message.attrs["from"]) == ("M1", gina)
        await drain(b)
        reply = await b.request(bundle_request("k", alice))
        assert reply.child("list").children[0].child("key").child("id").data == b"\x00\x00\x01"
        ack = await b.request(Node("message", {"id": "B1", "to": alice, "type": "text"},
                                   [Node("enc", {"v": "2", "type": "pkmsg"}, b"\x33x")]))
        assert not ack.children
        live = await a.receive_until(lambda n: n.tag == "message")
        assert live.attrs["from"] == bob
        assert (await a.request(Node("iq", {"id": "d", "type": "set", "xmlns": "deletion"},
                                     [Node("delete")]))).attrs["type"] == "result"
        note = await b.receive_until(lambda n: n.tag == "notification")
        assert note.attrs["type"] == "opt-out"
        assert await sandbox.partners.get(alice) is None
    finally:
        await a.close()
        await b.close()
