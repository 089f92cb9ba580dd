"""Property tests: the wire codec, and sessions under arbitrary delivery orders."""

from __future__ import annotations

import asyncio

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bridge.signal.errors import DuplicateMessageError
from bridge.signal.party import SignalParty
from bridge.signal.protobuf_codec import decode_fields, encode_fields
from bridge.signal.store import MemorySignalStore

from .helpers import peer_bundle

field_values = st.one_of(st.integers(min_value=0, max_value=2**64 - 1), st.binary(max_size=300))


@given(st.dictionaries(st.integers(min_value=1, max_value=2**29 - 1), field_values, max_size=8))
def test_protobuf_codec_round_trips(fields):
    assert decode_fields(encode_fields(sorted(fields.items()))) == fields


# An action: (direction 0 = alice->bob / 1 = bob->alice, what, which)
actions = st.lists(st.tuples(st.integers(0, 1), st.sampled_from(["send", "deliver", "replay"]),
                             st.integers(0, 50)), min_size=1, max_size=60)


async def _run(script):
    parties = [SignalParty(MemorySignalStore("@alice:x")),
               SignalParty(MemorySignalStore("@bob:x"))]
    names = ["alice", "bob"]
    await parties[0].ensure_identity(None, pre_key_count=2)
    await parties[1].ensure_identity(None, pre_key_count=2)
    await parties[0].process_bundle(None, "bob", peer_bundle(await parties[1].bundle(None)))
    # bob can only write once alice's first message arrived
    kind, body = await parties[0].encrypt(None, "bob", b"hello")
    assert (await parties[1].decrypt(None, "alice", kind, body)).plaintext == b"hello"
    in_flight: list[list[tuple[bytes, str, bytes]]] = [[], []]
    delivered: list[list[tuple[str, bytes]]] = [[], []]
    counter = 0
    for direction, what, which in script:
        sender, receiver = parties[direction], parties[1 - direction]
        sender_name = names[direction]
        if what == "send":
            counter += 1
            text = b"m%d" % counter
            kind, body = await sender.encrypt(None, names[1 - direction], text)
            in_flight[direction].append((text, kind, body))
        elif what == "deliver" and in_flight[direction]:
            text, kind, body = in_flight[direction].pop(which % len(in_flight[direction]))
            result = await receiver.decrypt(None, sender_name, kind, body)
            assert result.plaintext == text
            delivered[direction].append((kind, body))
        elif what == "replay" and delivered[direction]:
            kind, body = delivered[direction][which % len(delivered[direction])]
            with pytest.raises(DuplicateMessageError):
                await receiver.decrypt(None, sender_name, kind, body)
    for direction in (0, 1):  # whatever is still in flight arrives, in any order, exactly once
        for text, kind, body in in_flight[direction]:
            result = await parties[1 - direction].decrypt(None, names[direction], kind, body)
            assert result.plaintext == text


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(actions)
def test_every_message_decrypts_once_whatever_the_delivery_order(script):
    asyncio.run(_run(script))
