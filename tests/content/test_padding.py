"""The 1–15 byte Signal plaintext padding."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bridge.content import BadPadding, Text, decode_content, encode_content
from bridge.content.padding import pad, random_pad_length, unpad


@pytest.mark.parametrize("length", [1, 15])
def test_edge_lengths_round_trip(length: int) -> None:
    padded = pad(b"payload", length)
    assert len(padded) == len(b"payload") + length
    assert padded[-length:] == bytes([length]) * length
    assert unpad(padded) == b"payload"
    assert decode_content(encode_content(Text(text="x"), pad_length=length)) == Text(text="x")


@given(data=st.binary(max_size=64), length=st.integers(1, 15))
def test_any_plaintext_round_trips(data: bytes, length: int) -> None:
    assert unpad(pad(data, length)) == data


def test_random_lengths_cover_the_whole_range() -> None:
    seen = {random_pad_length() for _ in range(2000)}
    assert seen == set(range(1, 16))
    lengths = {len(encode_content(Text(text="hi"))) for _ in range(500)}
    assert len(lengths) > 1


@pytest.mark.parametrize("length", [0, 16, -1])
def test_pad_refuses_out_of_range_lengths(length: int) -> None:
    with pytest.raises(ValueError):
        pad(b"x", length)


@pytest.mark.parametrize(
    "padded",
    [
        b"",  # nothing at all
        b"payload\x00",  # pad length 0
        b"payload\x10" * 1 + b"\x10" * 15,  # pad length 16
        b"payload\xff",  # far out of range
        b"payload\x02\x03\x03",  # mixed bytes: last three must all be 3
        b"payload\x01\x02",  # the second-to-last byte differs
        b"\x05\x05\x05",  # pad longer than the whole plaintext
    ],
)
def test_bad_padding_is_rejected(padded: bytes) -> None:
    with pytest.raises(BadPadding):
        unpad(padded)
    with pytest.raises(BadPadding):
        decode_content(padded)
