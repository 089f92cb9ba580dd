"""Message content: the protobuf schema, typed models, and their padded encoding.

See docs/content-schema.md for the schema and docs/message-mapping.md for how
Matrix events map onto it.
"""

from .codec import decode_content, decode_payload, encode_content, parse_payload
from .errors import BadPadding, ContentError, MalformedContent
from .models import (
    Address,
    Audio,
    ChatId,
    Contact,
    ContentModel,
    Document,
    Edit,
    Image,
    Location,
    MediaContent,
    MediaKind,
    MediaRef,
    MessageKey,
    Payload,
    Reaction,
    ReplyTo,
    Revoke,
    SenderKeyDistribution,
    StanzaId,
    Sticker,
    Text,
    Unsupported,
    Video,
)
from .preview import preview

__all__ = [
    "Address",
    "Audio",
    "BadPadding",
    "ChatId",
    "Contact",
    "ContentError",
    "ContentModel",
    "Document",
    "Edit",
    "Image",
    "Location",
    "MalformedContent",
    "MediaContent",
    "MediaKind",
    "MediaRef",
    "MessageKey",
    "Payload",
    "Reaction",
    "ReplyTo",
    "Revoke",
    "SenderKeyDistribution",
    "StanzaId",
    "Sticker",
    "Text",
    "Unsupported",
    "Video",
    "decode_content",
    "decode_payload",
    "encode_content",
    "parse_payload",
    "preview",
]
