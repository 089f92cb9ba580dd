"""The chat channel over real WebSockets on loopback: admission, replacement, malformed input."""

from __future__ import annotations

import asyncio

from bridge.gateway.codec import Node
from bridge.gateway.framing import encode_frame

from .helpers import ChatClient, ClientKeys, connect_user, enlist_user, eventually


def is_ib(child_tag: str):
    return lambda n: n.tag == "ib" and n.children and n.children[0].tag == child_tag


async def test_admitted_client_gets_success_and_an_empty_mailbox(sandbox, partner):
    keys, login = await enlist_user(sandbox, partner, "alice")
    client = await connect_user(sandbox, partner, "alice", keys, login)
    try:
        assert client.opened is not None
        assert client.opened.success.attrs["login"] == login
        first = await client.receive()
        assert first.tag == "ib" and first.children[0].attrs == {"count": "0"}
        drained = await client.receive()
        assert drained.children[0].tag == "offline"
        pong = await client.request(Node("iq", {"id": "p1", "type": "get", "xmlns": "ping"}))
        assert pong.attrs["type"] == "result"
        assert sandbox.is_connected(login)
    finally:
        await client.close()


async def test_hello_is_refused_for_wrong_key_unknown_login_and_bad_token(sandbox, partner):
    keys, login = await enlist_user(sandbox, partner, "alice")
    cases = [
        (ChatClient(sandbox, ClientKeys(), login, partner.identity_token("alice")), "401"),
        (ChatClient(sandbox, keys, "7-999@interop", partner.identity_token("alice")), "401"),
        (ChatClient(sandbox, keys, login, partner.identity_token("mallory")), "401"),
        (ChatClient(sandbox, keys, login, partner.identity_token("alice", audience="x")), "401"),
    ]
    for client, code in cases:
        try:
            await client.connect()
            assert client.opened is None
            assert client.refused is not None and str(int(client.refused.error.code)) == code
        finally:
            await client.close()
    assert not sandbox.is_connected(login)


async def test_second_login_replaces_the_first(sandbox, partner):
    keys, login = await enlist_user(sandbox, partner, "alice")
    first = await connect_user(sandbox, partner, "alice", keys, login)
    second = await connect_user(sandbox, partner, "alice", keys, login)
    try:
        await first.wait_closed()
        assert first.closed_with is not None
        assert int(first.closed_with.error.code) == 440
        assert first.closed_with.error.text == "replaced"
        pong = await second.request(Node("iq", {"id": "p", "type": "get", "xmlns": "ping"}))
        assert pong.attrs["type"] == "result"
        assert sandbox.router.connections[login] is not None
    finally:
        await first.close()
        await second.close()


async def test_malformed_frame_closes_only_that_connection(sandbox, partner):
    alice_keys, alice = await enlist_user(sandbox, partner, "alice")
    bob_keys, bob = await enlist_user(sandbox, partner, "bob")
    a = await connect_user(sandbox, partner, "alice", alice_keys, alice)
    b = await connect_user(sandbox, partner, "bob", bob_keys, bob)
    try:
        # A frame that is not a Noise transport message for this session.
        await a.ws.send_bytes(encode_frame(b"\x00" * 40))
        await a.wait_closed()
        await eventually(lambda: not sandbox.is_connected(alice))
        pong = await b.request(Node("iq", {"id": "still-here", "type": "get", "xmlns": "ping"}))
        assert pong.attrs["type"] == "result"
        assert sandbox.is_connected(bob)
    finally:
        await a.close()
        await b.close()


async def test_undecodable_stanza_gets_a_stream_error(sandbox, partner):
    keys, login = await enlist_user(sandbox, partner, "alice")
    client = await connect_user(sandbox, partner, "alice", keys, login)
    try:
        # Properly encrypted, but the plaintext is not a valid stanza encoding.
        noise = client.channel._noise
        await client.ws.send_bytes(encode_frame(noise.encrypt(b"\xff\xff\xff")))
        await client.wait_closed()
        assert client.closed_with is not None and int(client.closed_with.error.code) == 400
    finally:
        await client.close()


async def test_oversized_frame_header_closes_the_connection(sandbox, partner):
    keys, login = await enlist_user(sandbox, partner, "alice")
    client = await connect_user(sandbox, partner, "alice", keys, login)
    try:
        await client.ws.send_bytes(b"\xff\xff\xff")
        await client.wait_closed()
        await eventually(lambda: not sandbox.is_connected(login))
    finally:
        await client.close()
    await asyncio.sleep(0)
