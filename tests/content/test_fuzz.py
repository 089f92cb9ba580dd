"""Whatever bytes a peer sends, decoding ends in a model or a ContentError."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bridge.content import ContentError, MalformedContent, decode_payload, encode_content

from . import strategies as cs


def _decode_or_content_error(data: bytes) -> None:
    with contextlib.suppress(ContentError):
        decode_payload(data)


@settings(max_examples=500)
@given(data=st.binary(max_size=300))
def test_random_bytes(data: bytes) -> None:
    _decode_or_content_error(data)


@settings(max_examples=500)
@given(model=cs.body_models, flips=st.lists(st.tuples(st.integers(0), st.integers(0, 7)),
                                            min_size=1, max_size=4))
def test_bit_flipped_valid_content(model, flips) -> None:
    data = bytearray(encode_content(model, pad_length=1)[:-1])
    if not data:
        return
    for position, bit in flips:
        data[position % len(data)] ^= 1 << bit
    _decode_or_content_error(bytes(data) + b"\x01")


def test_deeply_nested_edits_are_refused() -> None:
    # Content{edit(10){new_content(2){edit{new_content{...}}}}}, 150 levels:
    # past protobuf's recursion limit, so refused as malformed, not a crash.
    nested = b""
    for _ in range(150):
        edit = b"\x12" + _varint(len(nested)) + nested
        nested = b"\x52" + _varint(len(edit)) + edit
    with pytest.raises(MalformedContent):
        decode_payload(nested + b"\x01")


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)
