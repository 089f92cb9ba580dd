"""Hostile input the fuzzers found, each refused as a wire error rather than escaping as a bare
exception that the shells around the state machines do not expect."""

from __future__ import annotations

import pytest

from bridge.gateway.errors import HandshakeError
from bridge.gateway.framing import encode_frame
from bridge.gateway.noise_channel import ServerChannel, generate_static_private, intro_header


@pytest.mark.parametrize("ephemeral", [bytes(32), b"\x01" + bytes(31)])
def test_a_low_order_client_ephemeral_key_is_a_handshake_error(ephemeral: bytes) -> None:
    server = ServerChannel(static_private=generate_static_private())
    with pytest.raises(HandshakeError):
        server.receive(intro_header() + encode_frame(ephemeral))
