"""Round trips of every content model through the padded protobuf encoding."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bridge.content import (
    ChatId,
    Edit,
    Location,
    MalformedContent,
    MessageKey,
    Payload,
    Reaction,
    SenderKeyDistribution,
    StanzaId,
    Text,
    Unsupported,
    decode_content,
    decode_payload,
    encode_content,
)
from bridge.content import content_pb2 as pb
from bridge.content.codec import to_protobuf
from bridge.content.padding import unpad

from . import strategies as cs


@pytest.mark.parametrize(
    "strategy",
    [
        cs.text_models, cs.image_models, cs.video_models, cs.audio_models, cs.document_models,
        cs.location_models, cs.contact_models, cs.sticker_models, cs.reaction_models,
        cs.edit_models, cs.revoke_models,
    ],
    ids=lambda s: repr(s).split("(")[1].split(",")[0],
)
@given(data=st.data())
def test_every_model_round_trips(strategy, data) -> None:
    model = data.draw(strategy)
    assert decode_content(encode_content(model)) == model


@given(body=cs.body_models, sender_key=cs.sender_keys)
def test_body_with_sender_key_round_trips(body, sender_key) -> None:
    payload = decode_payload(encode_content(body, sender_key_distribution=sender_key))
    assert payload == Payload(content=body, sender_key_distribution=sender_key)


@given(sender_key=cs.sender_keys)
def test_lone_sender_key_round_trips(sender_key) -> None:
    encoded = encode_content(sender_key)
    assert decode_content(encoded) == sender_key
    assert decode_payload(encoded) == Payload(content=None, sender_key_distribution=sender_key)


def test_reaction_with_empty_text_is_a_revoke() -> None:
    key = MessageKey(chat_id=ChatId("peer@interop"), id=StanzaId("ABC"))
    decoded = decode_content(encode_content(Reaction(target=key, text="", timestamp_ms=5)))
    assert isinstance(decoded, Reaction) and decoded.is_revoke
    assert not Reaction(target=key, text="👍").is_revoke


def test_schema_field_numbers_are_stable() -> None:
    # Renumbering would break every peer already deployed: pin the wire shape.
    encoded = to_protobuf(Text(text="hi")).SerializeToString()
    assert encoded == b"\x0a\x06\x0a\x04\x0a\x02hi"
    fields = {f.name: f.number for f in pb.Content.DESCRIPTOR.fields}
    assert fields == {
        "text": 1, "image": 2, "video": 3, "audio": 4, "document": 5, "location": 6,
        "contact": 7, "sticker": 8, "reaction": 9, "edit": 10, "revoke": 11,
        "context": 30, "sender_key_distribution": 31,
    }


# ------------------------------------------------------------------ unsupported content


def _padded(message: pb.Content | bytes) -> bytes:
    raw = message if isinstance(message, bytes) else message.SerializeToString()
    return raw + b"\x01"


def test_unknown_body_field_decodes_to_unsupported() -> None:
    # Field 12 is a body this version does not know: a length-delimited field.
    decoded = decode_content(_padded(b"\x62\x02\x08\x01"))
    assert decoded == Unsupported(reason="unknown content type (field 12)")


def test_unknown_body_beside_a_sender_key_is_not_dropped() -> None:
    message = pb.Content()
    message.sender_key_distribution.group_id = "g@group"
    message.sender_key_distribution.distribution_message = b"\x33key"
    payload = decode_payload(_padded(message.SerializeToString() + b"\x62\x00"))
    assert payload.content == Unsupported(reason="unknown content type (field 12)")
    assert payload.sender_key_distribution == SenderKeyDistribution(
        group_id=ChatId("g@group"), distribution_message=b"\x33key"
    )


def test_empty_content_decodes_to_unsupported() -> None:
    assert decode_content(_padded(b"")) == Unsupported(reason="empty content")


@pytest.mark.parametrize(
    ("build", "reason"),
    [
        (lambda m: m.image.SetInParent(), "image without media"),
        (lambda m: setattr(m.video.media, "path", ""), "video without a download path"),
        (lambda m: (setattr(m.audio.media, "path", "/v/t1"),
                    setattr(m.audio.media, "media_key", b"k" * 31)),
         "audio with a 31-byte media key"),
        (lambda m: (setattr(m.document.media, "path", "/v/t1"),
                    setattr(m.document.media, "media_key", b"k" * 32)),
         "document without valid SHA-256 hashes"),
        (lambda m: m.reaction.SetInParent(), "reaction without a target message"),
        (lambda m: m.revoke.target.SetInParent(), "revoke without a target message"),
        (lambda m: setattr(m.edit.target, "id", "X"), "edit without new content"),
        (lambda m: setattr(m.contact, "display_name", "A"), "contact without a vCard"),
        (lambda m: setattr(m.location, "latitude", 91.0), "location with invalid coordinates"),
        (lambda m: setattr(m.location, "longitude", float("nan")),
         "location with invalid coordinates"),
    ],
)
def test_incomplete_bodies_decode_to_unsupported(build, reason) -> None:
    message = pb.Content()
    build(message)
    assert decode_content(_padded(message)) == Unsupported(reason=reason)


def test_edit_to_a_reaction_is_unsupported() -> None:
    message = pb.Content()
    message.edit.target.id = "X"
    message.edit.new_content.reaction.target.id = "Y"
    decoded = decode_content(_padded(message))
    assert decoded == Unsupported(reason="edit to a reaction, which cannot be edited")


def test_edit_nested_in_edit_is_unsupported() -> None:
    message = pb.Content()
    message.edit.target.id = "X"
    message.edit.new_content.edit.target.id = "Y"
    message.edit.new_content.edit.new_content.text.text.text = "deep"
    decoded = decode_content(_padded(message))
    assert isinstance(decoded, Unsupported) and "nested" in decoded.reason


def test_sender_key_without_group_is_unsupported() -> None:
    message = pb.Content()
    message.sender_key_distribution.distribution_message = b"\x33"
    decoded = decode_payload(_padded(message))
    assert decoded.sender_key_distribution is None
    assert isinstance(decoded.content, Unsupported)


def test_unknown_extra_fields_beside_a_known_body_are_ignored() -> None:
    # Forward compatibility: a newer sender may add fields to a known body.
    raw = to_protobuf(Text(text="hi")).SerializeToString() + b"\xa0\x06\x01"
    assert decode_content(_padded(raw)) == Text(text="hi")


# ------------------------------------------------------------------ malformed bytes


@pytest.mark.parametrize(
    "raw",
    [
        b"\x0a\x05\x0a\x02",  # length runs past the end
        b"\x0a\x04\x0a\x02\xff\xfe",  # invalid UTF-8 in a string field
        b"\x07",  # wire type 7 does not exist
    ],
)
def test_malformed_protobuf_raises(raw: bytes) -> None:
    with pytest.raises(MalformedContent):
        decode_content(_padded(raw))


def test_encoding_refuses_unsupported_and_bad_edits() -> None:
    with pytest.raises(ValueError):
        encode_content(Unsupported(reason="x"))
    key = MessageKey(chat_id=ChatId("c"), id=StanzaId("i"))
    with pytest.raises(ValueError):
        encode_content(Edit(target=key, new_content=Reaction(target=key, text="x")))  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        encode_content(
            SenderKeyDistribution(group_id=ChatId("g"), distribution_message=b"x"),
            sender_key_distribution=SenderKeyDistribution(
                group_id=ChatId("g"), distribution_message=b"y"
            ),
        )


def test_models_reject_invalid_values() -> None:
    with pytest.raises(ValueError):
        Location(latitude=100.0, longitude=0.0)
    with pytest.raises(ValueError):
        Location(latitude=float("inf"), longitude=0.0)


def test_encoded_content_is_padded() -> None:
    encoded = encode_content(Text(text="hi"), pad_length=7)
    assert encoded.endswith(b"\x07" * 7)
    assert unpad(encoded) == to_protobuf(Text(text="hi")).SerializeToString()
