"""Mailbox and push: keep until ack, survive restarts, drain on reconnect, expire, dedupe."""

from __future__ import annotations

import asyncio
import base64

import aiohttp

from bridge.gateway.codec import Node
from bridge.gateway.tokens import verify_token

from .conftest import ADMIN_SECRET
from .helpers import GATEWAY_ID, Admin, connect_user, enlist_user, eventually


async def make_gatekeeper_user(admin: Admin, username: str, opted_in: bool = True) -> str:
    status, body = await admin.call("POST", "/gatekeeper-users",
                                    {"username": username, "opted_in": opted_in})
    assert status == 201, body
    return body["address"]


async def send_as_gatekeeper(admin: Admin, username: str, to: str, message_id: str,
                             ciphertext: bytes = b"\x33opaque-ciphertext") -> dict:
    status, body = await admin.call("POST", f"/gatekeeper-users/{username}/messages", {
        "to": to, "id": message_id, "enc_type": "pkmsg",
        "ciphertext": base64.b64encode(ciphertext).decode()})
    assert status == 200, body
    return body["reply"]


async def drain(client) -> list[Node]:
    """Everything between ``<ib><mailbox/></ib>`` and ``<ib><offline/></ib>``."""
    first = await client.receive()
    assert first.tag == "ib" and first.children[0].tag == "mailbox", first
    stanzas = []
    while True:
        node = await client.receive()
        if node.tag == "ib" and node.children[0].tag == "offline":
            assert node.children[0].attrs["count"] == str(len(stanzas))
            assert first.children[0].attrs["count"] == str(len(stanzas))
            return stanzas
        stanzas.append(node)


async def test_offline_message_pushes_waits_for_ack_and_survives_restart(sandbox_factory,
                                                                        partner):
    sandbox = await sandbox_factory()
    admin = Admin(sandbox, ADMIN_SECRET)
    keys, login = await enlist_user(sandbox, partner, "alice")
    await make_gatekeeper_user(admin, "gina")
    gina = (await admin.call("GET", "/gatekeeper-users/gina"))[1]["address"]

    ack = await send_as_gatekeeper(admin, "gina", login, "M1", b"\x33ciphertext-1")
    assert ack["tag"] == "ack" and "children" not in ack  # stored, no error

    # The partner server was pushed, with a JWT that verifies against the sandbox's JWKS.
    await asyncio.wait_for(partner.push_event.wait(), 5)
    body, token = partner.pushes[0]
    assert body == {"to": "alice"}
    async with (
        aiohttp.ClientSession() as http,
        http.get(f"{sandbox.config.base_url}/.well-known/jwks.json") as resp,
    ):
        jwks = await resp.json()
    claims = verify_token(token, jwks, issuer=GATEWAY_ID, audience=partner.base_url,
                          purpose="push")
    assert claims["sub"] == "alice"

    # Delivered on connect, but not acked: still there after a restart of the sandbox.
    client = await connect_user(sandbox, partner, "alice", keys, login)
    [message] = await drain(client)
    assert message.attrs["id"] == "M1" and message.attrs["from"] == gina
    assert message.attrs["offline"] == "1"
    assert message.child("enc").data == b"\x33ciphertext-1"
    await client.close()
    await sandbox.stop()

    sandbox = await sandbox_factory()
    client = await connect_user(sandbox, partner, "alice", keys, login)
    [again] = await drain(client)
    assert again.attrs["id"] == "M1"
    await client.send(Node("ack", {"class": "message", "id": "M1", "to": gina}))

    async def acked():
        return await sandbox.mailbox.count(login) == 0
    await eventually(acked)
    await client.close()

    client = await connect_user(sandbox, partner, "alice", keys, login)
    assert await drain(client) == []
    await client.close()


async def test_live_delivery_and_ack(sandbox, partner):
    admin = Admin(sandbox, ADMIN_SECRET)
    keys, login = await enlist_user(sandbox, partner, "alice")
    await make_gatekeeper_user(admin, "gina")
    client = await connect_user(sandbox, partner, "alice", keys, login)
    try:
        assert await drain(client) == []
        await send_as_gatekeeper(admin, "gina", login, "L1")
        live = await client.receive()
        assert live.tag == "message" and live.attrs["id"] == "L1" and "offline" not in live.attrs
        assert await sandbox.mailbox.count(login) == 1
        await client.send(Node("ack", {"class": "message", "id": "L1",
                                       "to": live.attrs["from"]}))

        async def gone():
            return await sandbox.mailbox.count(login) == 0
        await eventually(gone)
        assert partner.pushes == []  # online: no push
    finally:
        await client.close()


async def test_messages_expire_after_retention(sandbox, partner):
    admin = Admin(sandbox, ADMIN_SECRET)
    keys, login = await enlist_user(sandbox, partner, "alice")
    await make_gatekeeper_user(admin, "gina")
    await send_as_gatekeeper(admin, "gina", login, "OLD")
    status, _ = await admin.call("POST", "/clock/advance", {"days": 29})
    assert status == 200
    await send_as_gatekeeper(admin, "gina", login, "NEW")
    # Keep the user active so idle un-enlistment does not interfere.
    await sandbox.partners.touch(login, int(sandbox.clock.now() * 1000))
    status, body = await admin.call("POST", "/clock/advance", {"days": 2})
    assert body["housekeeping"]["expired_mailbox_entries"] == 1
    client = await connect_user(sandbox, partner, "alice", keys, login)
    try:
        assert [n.attrs["id"] for n in await drain(client)] == ["NEW"]
    finally:
        await client.close()


async def test_duplicate_sends_are_stored_once_and_acked_again(sandbox, partner):
    admin = Admin(sandbox, ADMIN_SECRET)
    alice_keys, alice = await enlist_user(sandbox, partner, "alice")
    await make_gatekeeper_user(admin, "gina")
    gina = (await admin.call("GET", "/gatekeeper-users/gina"))[1]["address"]
    client = await connect_user(sandbox, partner, "alice", alice_keys, alice)
    try:
        await drain(client)
        message = Node("message", {"id": "DUP1", "to": gina, "type": "text"},
                       [Node("enc", {"v": "2", "type": "pkmsg"}, b"\x33abc")])
        first = await client.request(message)
        second = await client.request(message)
        assert first.tag == second.tag == "ack"
        assert first.attrs["class"] == "message" and not first.children and not second.children
        _, received = await admin.call("GET", "/gatekeeper-users/gina/received")
        assert [e["id"] for e in received["entries"]] == ["DUP1"]
        # Once the recipient has acked it, a late duplicate must not be delivered again.
        await admin.call("POST", "/gatekeeper-users/gina/ack",
                         {"class": "message", "id": "DUP1", "from": alice})
        third = await client.request(message)
        assert third.tag == "ack" and not third.children
        _, received = await admin.call("GET", "/gatekeeper-users/gina/received")
        assert received["entries"] == []
        # A resend answering a retry receipt (enc count) is a new send.
        resend = Node("message", {"id": "DUP1", "to": gina, "type": "text"},
                      [Node("enc", {"v": "2", "type": "msg", "count": "1"}, b"\x33def")])
        await client.request(resend)
        _, received = await admin.call("GET", "/gatekeeper-users/gina/received")
        [entry] = received["entries"]
        assert base64.b64decode(entry["stanza"]["children"][0]["bytes"]) == b"\x33def"
    finally:
        await client.close()


async def test_refused_sends_carry_documented_errors(sandbox, partner):
    admin = Admin(sandbox, ADMIN_SECRET)
    keys, alice = await enlist_user(sandbox, partner, "alice")
    shy = await make_gatekeeper_user(admin, "shy", opted_in=False)
    grumpy = await make_gatekeeper_user(admin, "grumpy")
    await admin.call("POST", "/blocks/" + grumpy, {"address": alice})
    client = await connect_user(sandbox, partner, "alice", keys, alice)

    def message(mid: str, to: str) -> Node:
        return Node("message", {"id": mid, "to": to, "type": "text"},
                    [Node("enc", {"v": "2", "type": "msg"}, b"\x33x")])
    try:
        await drain(client)
        for mid, to, code in [("E1", shy, "403"), ("E2", grumpy, "409"),
                              ("E3", "123@gk", "404"), ("E4", "7-99@interop", "404")]:
            ack = await client.request(message(mid, to))
            assert ack.child("error").attrs["code"] == code, (mid, ack)
        # The same refused send, repeated, gets the same outcome.
        again = await client.request(message("E1", shy))
        assert again.child("error").attrs["code"] == "403"
        # The sender's own blocklist refuses too.
        await client.request(Node("iq", {"id": "b1", "type": "set", "xmlns": "blocklist"},
                                      [Node("item", {"jid": shy, "action": "block"})]))
        await admin.call("POST", "/gatekeeper-users/shy/opt-in")
        ack = await client.request(message("E5", shy))
        assert ack.child("error").attrs["code"] == "409"
    finally:
        await client.close()
