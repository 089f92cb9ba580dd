"""Stanza codec: round trips, canonical form, and typed errors on hostile input."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bridge.gateway.codec import BinaryStanzaCodec, CodecError, Node
from bridge.gateway.codec.dictionary import TOKENS_V1

codec = BinaryStanzaCodec()

texts = st.one_of(st.sampled_from(TOKENS_V1), st.text(max_size=40))
tags = st.one_of(st.sampled_from(TOKENS_V1), st.text(min_size=1, max_size=20))
leaf_content = st.one_of(st.none(), st.binary(max_size=300))


def nodes(max_leaves: int = 20):
    return st.recursive(
        st.builds(Node, tags, st.dictionaries(texts, texts, max_size=5), leaf_content),
        lambda children: st.builds(Node, tags, st.dictionaries(texts, texts, max_size=5),
                                   st.lists(children, max_size=6)),
        max_leaves=max_leaves,
    )


@given(nodes())
@settings(max_examples=200)
def test_any_tree_round_trips(node: Node) -> None:
    encoded = codec.encode(node)
    assert codec.decode(encoded) == node
    # canonical: encoding the decoded tree gives the same bytes
    assert codec.encode(codec.decode(encoded)) == encoded


@given(nodes(), st.data())
@settings(max_examples=150)
def test_truncated_input_raises_codec_error(node: Node, data) -> None:
    encoded = codec.encode(node)
    cut = data.draw(st.integers(min_value=0, max_value=len(encoded) - 1))
    with pytest.raises(CodecError):
        codec.decode(encoded[:cut])


@given(nodes(), st.binary(min_size=1, max_size=10))
def test_trailing_bytes_rejected(node: Node, junk: bytes) -> None:
    with pytest.raises(CodecError):
        codec.decode(codec.encode(node) + junk)


@given(st.binary(max_size=400))
@settings(max_examples=1000)
def test_garbage_decodes_or_raises_codec_error_only(garbage: bytes) -> None:
    try:
        node = codec.decode(garbage)
    except CodecError:
        return
    assert codec.decode(codec.encode(node)) == node


def test_exact_vector() -> None:
    node = Node("ack", {"id": "x"}, None)
    # tag token 3 -> varint 7; 1 attr; key token 13 -> 27 (0x1b); literal "x" -> len 1 -> 0x02 'x'
    assert codec.encode(node) == bytes([0x07, 0x01, 0x1B, 0x02, ord("x"), 0x00])
    assert codec.decode(bytes([0x07, 0x01, 0x1B, 0x02, ord("x"), 0x00])) == node


@pytest.mark.parametrize("bad", [
    b"",
    bytes([0x07, 0x00, 0x09]),  # unknown content kind
    bytes([0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01]),  # varint too long
    bytes([0x81, 0x00, 0x00, 0x00]),  # non-minimal varint
    bytes([0x7F, 0x00, 0x00]),  # token 63 exists; 0x7F is fine? no: index 63 -> valid; see next
    bytes([0xF1, 0x01, 0x00, 0x00]),  # token 120: unknown
    bytes([0x02, 0xFF, 0x00, 0x00]),  # invalid UTF-8 literal tag
    bytes([0x00, 0x00, 0x00]),  # empty tag
    bytes([0x07, 0x02, 0x1B, 0x02, 0x78, 0x1B, 0x02, 0x79, 0x00]),  # duplicate attribute
    bytes([0x07, 0x00, 0x02, 0xFF, 0xFF, 0x03]),  # child count larger than input
])
def test_bad_inputs_raise_codec_error(bad: bytes) -> None:
    if bad == bytes([0x7F, 0x00, 0x00]):
        assert codec.decode(bad) == Node(TOKENS_V1[63])
        return
    with pytest.raises(CodecError):
        codec.decode(bad)


def test_deep_nesting_refused_both_ways() -> None:
    node = Node("x")
    for _ in range(40):
        node = Node("x", {}, [node])
    with pytest.raises(CodecError):
        codec.encode(node)
    # hand-build 40 nested levels: tag literal "x", 0 attrs, list of 1
    raw = b"\x02x\x00\x02\x01" * 40 + b"\x02x\x00\x00"
    with pytest.raises(CodecError):
        codec.decode(raw)


def test_unencodable_values_raise_codec_error() -> None:
    with pytest.raises(CodecError):
        codec.encode(Node(""))
    with pytest.raises(CodecError):
        codec.encode(Node("a", {"k": "\ud800"}))
    with pytest.raises(CodecError):
        codec.encode(Node("a", {"k": 1}))  # type: ignore[dict-item]


def test_repr_never_shows_bytes() -> None:
    assert "secret" not in repr(Node("enc", {}, b"secret"))


@given(nodes(), st.data())
@settings(max_examples=200)
def test_corrupted_encodings_raise_codec_error_or_decode(node: Node, data) -> None:
    encoded = bytearray(codec.encode(node))
    for _ in range(data.draw(st.integers(1, 4))):
        position = data.draw(st.integers(0, len(encoded) - 1))
        encoded[position] = data.draw(st.integers(0, 255))
    try:
        decoded = codec.decode(bytes(encoded))
    except CodecError:
        return
    assert codec.decode(codec.encode(decoded)) == decoded


def test_nesting_limit_is_32_levels_below_the_root() -> None:
    def nested(levels: int) -> Node:
        node = Node("x")
        for _ in range(levels):
            node = Node("x", {}, [node])
        return node

    assert codec.decode(codec.encode(nested(32))) == nested(32)
    with pytest.raises(CodecError):
        codec.encode(nested(33))
