"""Typed models of message content, independent of the protobuf classes.

What people wrote (texts, captions, names, places, vCards) is left out of
every model's repr, so that logging a model never logs message content.

The bridge core maps Matrix events to these models and back; `codec` turns
them into padded protobuf bytes and back. Every model is immutable. A body
that a human sees (text, media, location, contact, sticker) may carry a
`ReplyTo`; control bodies (reaction, edit, revoke) point at a `MessageKey`.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Callable
from typing import NewType, TypeAlias

import attrs

# re-exported: the content schema's ids are the gateway's
from ..gateway.ids import Address as Address
from ..gateway.ids import StanzaId as StanzaId

ChatId = NewType("ChatId", str)
"""A chat: the peer's internal id in a 1:1 chat, or a group id."""

MEDIA_KEY_LENGTH = 32
SHA256_LENGTH = 32
WAVEFORM_MAX_SAMPLES = 64


class MediaKind(enum.Enum):
    """Which media body a blob belongs to; selects the HKDF info string."""

    IMAGE = "image"
    VIDEO = "video"
    AUDIO = "audio"
    DOCUMENT = "document"
    STICKER = "sticker"


def _exact_length(expected: int) -> Callable[[object, attrs.Attribute[bytes], bytes], None]:
    def check(instance: object, attribute: attrs.Attribute[bytes], value: bytes) -> None:
        if len(value) != expected:
            raise ValueError(f"{attribute.name} must be {expected} bytes, not {len(value)}")

    return check


def _mentions(value: object) -> tuple[Address, ...]:
    return tuple(Address(str(item)) for item in value)  # type: ignore[attr-defined]


@attrs.frozen(kw_only=True)
class MessageKey:
    """Names an earlier message: the target of a reaction, edit or revoke."""

    chat_id: ChatId
    id: StanzaId
    from_me: bool = False
    # The target's author in groups; None in 1:1 chats.
    participant: Address | None = None


@attrs.frozen(kw_only=True)
class ReplyTo:
    """The quoted message of a reply."""

    stanza_id: StanzaId
    participant: Address | None = None
    # Plain text shown when the receiver no longer has the quoted message.
    quoted_preview: str = attrs.field(default="", repr=False)


@attrs.frozen(kw_only=True)
class MediaRef:
    """Where an encrypted blob is and how to decrypt and verify it."""

    path: str
    media_key: bytes = attrs.field(validator=_exact_length(MEDIA_KEY_LENGTH), repr=False)
    sha256_plain: bytes = attrs.field(validator=_exact_length(SHA256_LENGTH))
    sha256_enc: bytes = attrs.field(validator=_exact_length(SHA256_LENGTH))
    length: int
    mime_type: str
    thumbnail: bytes = attrs.field(default=b"", repr=False)


@attrs.frozen(kw_only=True)
class Text:
    text: str = attrs.field(repr=False)
    mentions: tuple[Address, ...] = attrs.field(default=(), converter=_mentions)
    reply_to: ReplyTo | None = None


@attrs.frozen(kw_only=True)
class Image:
    media: MediaRef
    caption: str = attrs.field(default="", repr=False)
    mentions: tuple[Address, ...] = attrs.field(default=(), converter=_mentions)
    width: int = 0
    height: int = 0
    reply_to: ReplyTo | None = None

    kind = MediaKind.IMAGE


@attrs.frozen(kw_only=True)
class Video:
    media: MediaRef
    caption: str = attrs.field(default="", repr=False)
    mentions: tuple[Address, ...] = attrs.field(default=(), converter=_mentions)
    width: int = 0
    height: int = 0
    duration_seconds: int = 0
    gif_playback: bool = False
    reply_to: ReplyTo | None = None

    kind = MediaKind.VIDEO


def _waveform(instance: object, attribute: attrs.Attribute[bytes], value: bytes) -> None:
    if len(value) > WAVEFORM_MAX_SAMPLES or any(sample > 100 for sample in value):
        raise ValueError(f"waveform must be at most {WAVEFORM_MAX_SAMPLES} samples of 0..100")


@attrs.frozen(kw_only=True)
class Audio:
    media: MediaRef
    duration_seconds: int = 0
    # Push-to-talk: shown as a voice note, expected to be Ogg/Opus.
    voice_note: bool = False
    waveform: bytes = attrs.field(default=b"", validator=_waveform, repr=False)
    reply_to: ReplyTo | None = None

    kind = MediaKind.AUDIO


@attrs.frozen(kw_only=True)
class Document:
    media: MediaRef
    file_name: str = attrs.field(default="", repr=False)
    page_count: int = 0
    caption: str = attrs.field(default="", repr=False)
    mentions: tuple[Address, ...] = attrs.field(default=(), converter=_mentions)
    reply_to: ReplyTo | None = None

    kind = MediaKind.DOCUMENT


def _finite(instance: object, attribute: attrs.Attribute[float], value: float) -> None:
    if not math.isfinite(value):
        raise ValueError(f"{attribute.name} must be finite")


@attrs.frozen(kw_only=True)
class Location:
    latitude: float = attrs.field(validator=_finite, repr=False)
    longitude: float = attrs.field(validator=_finite, repr=False)
    name: str = attrs.field(default="", repr=False)
    address: str = attrs.field(default="", repr=False)
    reply_to: ReplyTo | None = None

    def __attrs_post_init__(self) -> None:
        if not (-90.0 <= self.latitude <= 90.0 and -180.0 <= self.longitude <= 180.0):
            raise ValueError("latitude must be within ±90 and longitude within ±180")


@attrs.frozen(kw_only=True)
class Contact:
    display_name: str = attrs.field(repr=False)
    vcard: str = attrs.field(repr=False)
    reply_to: ReplyTo | None = None


@attrs.frozen(kw_only=True)
class Sticker:
    media: MediaRef
    width: int = 0
    height: int = 0
    animated: bool = False
    reply_to: ReplyTo | None = None

    # Stickers are encrypted with the image keys.
    kind = MediaKind.STICKER


@attrs.frozen(kw_only=True)
class Reaction:
    target: MessageKey
    # One emoji; the empty string revokes the sender's earlier reaction.
    text: str = attrs.field(repr=False)
    timestamp_ms: int = 0

    @property
    def is_revoke(self) -> bool:
        return self.text == ""


EditableContent: TypeAlias = "Text | Image | Video | Document"
"""What an edit may replace a message with: its text or its caption."""


@attrs.frozen(kw_only=True)
class Edit:
    target: MessageKey
    new_content: EditableContent
    timestamp_ms: int = 0


@attrs.frozen(kw_only=True)
class Revoke:
    """Deletes the target message for everyone."""

    target: MessageKey


@attrs.frozen(kw_only=True)
class SenderKeyDistribution:
    """A Signal sender-key distribution message (type 5) for one group."""

    group_id: ChatId
    distribution_message: bytes = attrs.field(repr=False)


@attrs.frozen(kw_only=True)
class Unsupported:
    """Content this bridge cannot show; `reason` is safe to put in a notice.

    The reason names the kind of problem, never message content.
    """

    reason: str


MediaContent: TypeAlias = "Image | Video | Audio | Document | Sticker"
ContentModel: TypeAlias = (
    "Text | Image | Video | Audio | Document | Location | Contact | Sticker"
    " | Reaction | Edit | Revoke | SenderKeyDistribution | Unsupported"
)
#: what a message's body decodes to: any content model but a sender key distribution, which
#: travels beside the body (:class:`Payload`)
MessageBody: TypeAlias = (
    "Text | Image | Video | Audio | Document | Location | Contact | Sticker"
    " | Reaction | Edit | Revoke | Unsupported"
)


@attrs.frozen(kw_only=True)
class Payload:
    """Everything one decrypted message carries.

    A pairwise message in a group may carry both a body and the sender key
    that later group messages need; `content` is None when only the sender
    key came.
    """

    content: MessageBody | None
    sender_key_distribution: SenderKeyDistribution | None = None
