"""Frame splitter: any chunking reassembles; oversize headers fail fast with a typed error."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bridge.gateway.codec import FrameError
from bridge.gateway.framing import MAX_FRAME_SIZE, FrameSplitter, encode_frame


@given(st.lists(st.binary(max_size=2000), max_size=12), st.data())
@settings(max_examples=300)
def test_arbitrary_chunking_reassembles(payloads: list[bytes], data) -> None:
    stream = b"".join(encode_frame(p) for p in payloads)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=20)))
    splitter = FrameSplitter()
    received: list[bytes] = []
    start = 0
    for cut in [*cuts, len(stream)]:
        received += splitter.feed(stream[start:cut])
        start = cut
    assert received == payloads
    assert splitter.buffered == 0


@given(st.binary(max_size=600))
@settings(max_examples=500)
def test_garbage_yields_frames_or_frame_error(garbage: bytes) -> None:
    splitter = FrameSplitter(max_size=200)
    try:
        frames = splitter.feed(garbage)
    except FrameError:
        return
    assert sum(len(f) + 3 for f in frames) + splitter.buffered == len(garbage)


def test_oversize_header_fails_before_body_arrives() -> None:
    splitter = FrameSplitter()
    with pytest.raises(FrameError):
        splitter.feed((MAX_FRAME_SIZE + 1).to_bytes(3, "big"))
    with pytest.raises(FrameError):
        splitter.feed(b"\x00\x00\x00")  # a failed stream stays failed


def test_encode_refuses_oversize_payload() -> None:
    with pytest.raises(FrameError):
        encode_frame(b"x" * (MAX_FRAME_SIZE + 1))
    assert encode_frame(b"ab") == b"\x00\x00\x02ab"
