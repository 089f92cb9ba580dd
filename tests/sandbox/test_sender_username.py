"""The sender's user-visible name (``notify``) on every delivered message, and its parser."""

from __future__ import annotations

import pytest

from bridge.content import Text
from bridge.gateway.codec import Node
from bridge.gateway.stanzas import sender_username

from .conftest import ADMIN_SECRET
from .helpers import Admin, connect_user, enlist_user
from .simulated_support import PartnerSide, simulated_gina
from .test_mailbox import drain, make_gatekeeper_user, send_as_gatekeeper


@pytest.mark.parametrize(("attrs", "expected"), [
    ({"notify": "gina"}, "gina"),
    ({"notify": "Ana María 🌻"}, "Ana María 🌻"),
    ({}, None),
    ({"notify": ""}, None),
    ({"notify": "two\nlines"}, None),
    ({"notify": "bell\x07"}, None),
    ({"notify": "x" * 256}, "x" * 256),
    ({"notify": "x" * 257}, None),
])
def test_sender_username_parser(attrs, expected):
    node = Node("message", {"id": "M1", "from": "1-1@interop", **attrs})
    assert sender_username(node) == expected


def test_sender_username_only_on_messages():
    assert sender_username(Node("receipt", {"id": "M1", "notify": "gina"})) is None


async def test_gateway_names_gatekeeper_senders_live_and_from_the_mailbox(sandbox, partner):
    admin = Admin(sandbox, ADMIN_SECRET)
    await make_gatekeeper_user(admin, "gina")
    keys, alice = await enlist_user(sandbox, partner, "alice")
    # Offline: stored in the mailbox, delivered on connect.
    await send_as_gatekeeper(admin, "gina", alice, "M1")
    client = await connect_user(sandbox, partner, "alice", keys, alice)
    try:
        [stored] = await drain(client)
        assert stored.attrs["offline"] == "1" and sender_username(stored) == "gina"
        await client.send(Node("ack", {"class": "message", "id": "M1",
                                       "to": stored.attrs["from"]}))
        # Live.
        await send_as_gatekeeper(admin, "gina", alice, "M2")
        live = await client.receive_until(lambda n: n.tag == "message")
        assert "offline" not in live.attrs and sender_username(live) == "gina"
    finally:
        await client.close()


async def test_gateway_names_partner_senders_by_their_visible_id(sandbox, partner):
    bob_keys, bob = await enlist_user(sandbox, partner, "bob@example.org")
    alice_keys, alice = await enlist_user(sandbox, partner, "alice")
    a = await connect_user(sandbox, partner, "alice", alice_keys, alice)
    b = await connect_user(sandbox, partner, "bob@example.org", bob_keys, bob)
    try:
        await drain(a)
        await drain(b)
        # A notify the sender puts on its own message is not relayed: the gateway names it.
        ack = await b.request(Node("message", {"id": "B1", "to": alice, "type": "text",
                                               "notify": "mallory"},
                                   [Node("enc", {"v": "2", "type": "pkmsg"}, b"\x33x")]))
        assert not ack.children
        message = await a.receive_until(lambda n: n.tag == "message")
        assert message.attrs["from"] == bob and sender_username(message) == "bob@example.org"
    finally:
        await a.close()
        await b.close()


async def test_simulated_user_sees_partner_username_in_its_inbox(sandbox, partner):
    admin, gina = await simulated_gina(sandbox)
    alice = await PartnerSide.enlist(sandbox, partner, "alice.example")
    try:
        await admin.call("POST", "/gatekeeper-users/gina/send/text",
                         {"to": "alice.example", "text": "hi"})
        message, _ = await alice.receive_content(gina)
        assert sender_username(message) == "gina"
        await alice.send_content(gina, Text(text="hey"), stanza_id="A1")
        _, inbox = await admin.call("GET", "/gatekeeper-users/gina/inbox")
        assert inbox["entries"][0]["from_username"] == "alice.example"
    finally:
        await alice.client.close()
