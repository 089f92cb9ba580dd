"""Noise XX channel between the client and server state machines, in memory."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bridge.gateway.codec import Node, WireError
from bridge.gateway.errors import ErrorCode, ErrorInfo, HandshakeError, ServerKeyMismatch
from bridge.gateway.ids import InternalId
from bridge.gateway.noise_channel import (
    ChannelOpened,
    ChannelRefused,
    ClientChannel,
    ClientHello,
    HelloReceived,
    ServerChannel,
    StanzaReceived,
    StreamClosed,
    generate_static_private,
    static_public_from_private,
)

SERVER_KEY = generate_static_private()
CLIENT_KEY = generate_static_private()
HELLO = ClientHello(1, InternalId("7-1@interop"), "tok.en.sig", "198.51.100.7")


def handshake(client: ClientChannel, server: ServerChannel) -> HelloReceived:
    out, events = server.receive(client.start())
    assert events == []
    out, events = client.receive(out)
    assert events == []
    out, events = server.receive(out)
    assert out == b""
    assert len(events) == 1 and isinstance(events[0], HelloReceived)
    return events[0]


def new_pair(server_pub: bytes | None = None) -> tuple[ClientChannel, ServerChannel]:
    client = ClientChannel(
        static_private=CLIENT_KEY,
        server_static_public=server_pub or static_public_from_private(SERVER_KEY),
        hello=HELLO,
    )
    return client, ServerChannel(static_private=SERVER_KEY)


def test_handshake_carries_hello_and_client_key_then_stanzas_flow() -> None:
    client, server = new_pair()
    event = handshake(client, server)
    assert event.hello == HELLO
    assert event.client_static == static_public_from_private(CLIENT_KEY)
    assert event.announced_version == 1
    _, events = client.receive(server.accept({"t": "5"}))
    assert events == [ChannelOpened(Node("success", {"t": "5"}))]
    message = Node("message", {"id": "a", "to": "b"}, [Node("enc", {}, b"\x00" * 100)])
    _, events = server.receive(client.send_stanza(message))
    assert events == [StanzaReceived(message)]
    _, events = client.receive(server.send_stanza(Node("ack", {"id": "a"})))
    assert events == [StanzaReceived(Node("ack", {"id": "a"}))]
    _, events = client.receive(server.stream_error(ErrorInfo(ErrorCode.CONNECTION_REPLACED)))
    assert events == [StreamClosed(ErrorInfo(ErrorCode.CONNECTION_REPLACED))]


def test_wrong_server_static_key_is_refused() -> None:
    client, server = new_pair(server_pub=static_public_from_private(generate_static_private()))
    out, _ = server.receive(client.start())
    with pytest.raises(ServerKeyMismatch):
        client.receive(out)


def test_refusal_reaches_client_as_typed_error() -> None:
    client, server = new_pair()
    handshake(client, server)
    out = server.refuse(ErrorInfo(ErrorCode.VERSION_UNSUPPORTED, "v"), {"versions": "1"})
    _, events = client.receive(out)
    assert events == [ChannelRefused(ErrorInfo(ErrorCode.VERSION_UNSUPPORTED, "v"))]


def test_tampered_transport_frame_fails_authentication() -> None:
    client, server = new_pair()
    handshake(client, server)
    client.receive(server.accept())
    frame = bytearray(client.send_stanza(Node("iq", {"id": "1"})))
    frame[-1] ^= 1
    with pytest.raises(HandshakeError):
        server.receive(bytes(frame))


def test_bad_intro_header_refused() -> None:
    server = ServerChannel(static_private=SERVER_KEY)
    with pytest.raises(HandshakeError):
        server.receive(b"HTTP/1.1")


@given(st.lists(st.integers(1, 40), max_size=30))
@settings(max_examples=50, deadline=None)
def test_byte_by_byte_delivery_still_works(chunk_sizes: list[int]) -> None:
    client, server = new_pair()
    stream = client.start()
    replies = bytearray()
    events: list = []
    position = 0
    for size in [*chunk_sizes, len(stream)]:
        out, evs = server.receive(stream[position:position + size])
        replies += out
        events += evs
        position += size
    out, _ = client.receive(bytes(replies))
    for index in range(len(out)):
        _, evs = server.receive(out[index:index + 1])
        events += evs
    assert [type(e) for e in events] == [HelloReceived]


@given(st.binary(max_size=300))
@settings(max_examples=200, deadline=None)
def test_garbage_after_intro_raises_only_wire_errors(garbage: bytes) -> None:
    server = ServerChannel(static_private=SERVER_KEY)
    with contextlib.suppress(WireError):
        server.receive(b"ISB\x01" + garbage)


@given(st.binary(max_size=300))
@settings(max_examples=200, deadline=None)
def test_garbage_to_client_raises_only_wire_errors(garbage: bytes) -> None:
    client, _ = new_pair()
    client.start()
    with contextlib.suppress(WireError):
        client.receive(garbage)


def test_server_refuses_stanzas_before_its_decision() -> None:
    client, server = new_pair()
    handshake(client, server)
    client.state = client.state.OPEN  # a misbehaving client that does not wait for success
    with pytest.raises(HandshakeError):
        server.receive(client.send_stanza(Node("message", {"id": "early"})))
