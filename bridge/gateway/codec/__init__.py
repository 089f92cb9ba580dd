"""The wire encoding of stanzas, behind one interface (:class:`StanzaCodec`).

Everything above this package handles :class:`Node` trees only, so a different encoding (for
example the gatekeeper's own token dictionary) replaces :class:`BinaryStanzaCodec` without
touching the rest of the client.
"""

from __future__ import annotations

from typing import Protocol

from .binary import BinaryStanzaCodec
from .errors import CodecError, FrameError, WireError
from .node import Node


class StanzaCodec(Protocol):
    """Turns one stanza tree into bytes and back. ``decode`` raises only :class:`CodecError`."""

    name: str

    def encode(self, node: Node) -> bytes: ...

    def decode(self, data: bytes) -> Node: ...


def default_codec() -> StanzaCodec:
    return BinaryStanzaCodec()


__all__ = [
    "BinaryStanzaCodec", "CodecError", "FrameError", "Node", "StanzaCodec", "WireError",
    "default_codec",
]
