"""Models ⇄ padded protobuf bytes.

`encode_content` serialises a model and appends the random 1–15 byte
padding; the result is the plaintext handed to the Signal session.
`decode_content` / `decode_payload` do the reverse on a decrypted plaintext.

Bytes that are not padded content raise a typed `ContentError`. Bytes that
parse but carry nothing this bridge can show (an unknown body, a body
missing what it needs) decode to `Unsupported(reason)` so that the caller
tells the user instead of dropping the message.
"""

from __future__ import annotations

from google.protobuf.message import DecodeError
from google.protobuf.unknown_fields import UnknownFieldSet

from . import content_pb2 as pb
from .decode import from_protobuf
from .encode import to_protobuf
from .errors import MalformedContent
from .models import ChatId, ContentModel, Payload, SenderKeyDistribution, Unsupported
from .padding import pad, unpad

__all__ = ["decode_content", "decode_payload", "encode_content", "from_protobuf", "parse_payload",
           "to_protobuf"]


def encode_content(
    model: ContentModel,
    *,
    sender_key_distribution: SenderKeyDistribution | None = None,
    pad_length: int | None = None,
) -> bytes:
    """Serialise `model` (optionally with a sender key) and pad it.

    `pad_length` fixes the padding for tests; leave it None in the bridge.
    """
    message = to_protobuf(model, sender_key_distribution=sender_key_distribution)
    return pad(message.SerializeToString(), pad_length)


def decode_payload(plaintext: bytes) -> Payload:
    """Unpad and parse a decrypted plaintext into its body and sender key.

    Raises BadPadding or MalformedContent for bytes that are not content.
    """
    return parse_payload(unpad(plaintext))


def parse_payload(raw: bytes) -> Payload:
    """Parse an unpadded content protobuf (e.g. a message disclosed in a report).

    Raises MalformedContent for bytes that are not a content protobuf.
    """
    message = pb.Content()
    try:
        message.ParseFromString(raw)
    except DecodeError as exc:
        raise MalformedContent(f"not a content protobuf: {exc}") from None
    sender_key = None
    if message.HasField("sender_key_distribution"):
        skdm = message.sender_key_distribution
        if skdm.group_id and skdm.distribution_message:
            sender_key = SenderKeyDistribution(
                group_id=ChatId(skdm.group_id), distribution_message=skdm.distribution_message
            )
    body = from_protobuf(message)
    if body is None:
        unknown = _unknown_body(message)
        if unknown is not None:
            # Even beside a sender key: the sender meant a body to be shown.
            body = unknown
        elif sender_key is None:
            body = Unsupported(
                reason="sender key distribution without group id or key"
                if message.HasField("sender_key_distribution")
                else "empty content"
            )
    return Payload(content=body, sender_key_distribution=sender_key)


def decode_content(plaintext: bytes) -> ContentModel:
    """Decode the body of a plaintext; a lone sender key decodes to itself.

    A message that carries a body and a sender key returns the body: callers
    that handle group messages use `decode_payload` to see both.
    """
    payload = decode_payload(plaintext)
    if payload.content is not None:
        return payload.content
    assert payload.sender_key_distribution is not None
    return payload.sender_key_distribution


def _unknown_body(message: pb.Content) -> Unsupported | None:
    """Unsupported naming the unknown top-level fields, if there are any."""
    # the stubs give UnknownFieldSet __getitem__ and __len__ only; it iterates through those
    numbers = sorted({field.field_number
                      for field in UnknownFieldSet(message)})  # type: ignore[attr-defined]
    if numbers:
        return Unsupported(reason=f"unknown content type (field {', '.join(map(str, numbers))})")
    return None
