"""Whatever arrives, the mapping answers with content, an `Unmappable`, or a notice:
never another exception (which would lose the message silently)."""

from __future__ import annotations

import asyncio

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from mautrix.types import Event
from mautrix.types.util.serializable import SerializerError

from bridge.content import ContentError, decode_content
from bridge.mapping import (
    GatewayMessage,
    GatewayToMatrix,
    MatrixToGateway,
    Notice,
    Redact,
    SendEvent,
    Unmappable,
)
from bridge.media import MediaLimits
from tests.formatting import resolvers

from .fakes import (
    PEER_ID,
    USER_ID,
    InMemoryGatewayMedia,
    InMemoryMatrixMedia,
    InMemoryMessageIds,
    portal,
)

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-2**40, 2**40) | st.floats(allow_nan=True)
    | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=12,
)
msgtypes = st.sampled_from(["m.text", "m.notice", "m.emote", "m.image", "m.video", "m.audio",
                            "m.file", "m.location", "m.bad"])
field_names = st.sampled_from([
    "body", "formatted_body", "format", "url", "file", "info", "filename", "geo_uri",
    "m.relates_to", "m.new_content", "org.matrix.msc3245.voice", "org.matrix.msc1767.audio",
    "org.matrix.msc3488.location", "redacts",
])
contents = st.builds(
    lambda msgtype, fields: {"msgtype": msgtype, **fields},
    msgtypes, st.dictionaries(field_names, json_values, max_size=6),
)
event_types = st.sampled_from(["m.room.message", "m.sticker", "m.reaction", "m.room.redaction",
                               "m.poll.start", "m.room.encrypted"])


def _mappers():
    matrix_media, gateway_media, ids = (InMemoryMatrixMedia(), InMemoryGatewayMedia(),
                                        InMemoryMessageIds())
    mine = ids.add_message("$mine", "M1", USER_ID)
    ids.add_message("$theirs", "T1", PEER_ID)
    ids.add_reaction("$react", mine, USER_ID, "👍")
    limits = MediaLimits(image=4096, video=4096, audio=4096, document=4096, sticker=4096)
    return (
        MatrixToGateway(matrix_media=matrix_media, gateway_media=gateway_media, message_ids=ids,
                        resolve_mention=resolvers.to_remote_async, limits=limits),
        GatewayToMatrix(matrix_media=matrix_media, gateway_media=gateway_media, message_ids=ids,
                        resolve_mention=resolvers.to_matrix, limits=limits),
    )


def _run(coroutine):
    # Hypothesis drives a plain function; each example gets its own short loop.
    loop = asyncio.new_event_loop()
    try:
        return loop.run_until_complete(coroutine)
    finally:
        loop.close()


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(event_types, contents, st.booleans())
def test_any_matrix_event_maps_or_is_unmappable(event_type, content, encrypted) -> None:
    raw = {"type": event_type, "event_id": "$fuzz", "sender": "@alice:example.org",
           "room_id": "!portal:example.org", "origin_server_ts": 1, "content": content}
    if event_type == "m.room.redaction":
        raw["redacts"] = content.get("redacts") if isinstance(content.get("redacts"), str) \
            else "$mine"
    try:
        evt = Event.deserialize(raw)
    except (SerializerError, ValueError, TypeError, AttributeError, KeyError):
        return  # the core never gets an event mautrix cannot parse
    to_gateway, _ = _mappers()
    try:
        result = _run(to_gateway.map_event(evt, portal(encrypted)))
    except Unmappable as error:
        assert error.reason
        return
    assert result is None or isinstance(result, GatewayMessage)


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.binary(max_size=300), st.booleans())
def test_any_decoded_gateway_content_maps_to_actions(plaintext, encrypted) -> None:
    try:
        model = decode_content(plaintext + b"\x01")
    except ContentError:
        return
    _, to_matrix = _mappers()
    actions = _run(to_matrix.map_content(model, PEER_ID, "S", portal(encrypted)))
    assert all(isinstance(action, SendEvent | Redact | Notice) for action in actions)
