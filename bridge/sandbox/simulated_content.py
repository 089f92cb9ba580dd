"""The content that simulated gatekeeper users speak: admin-API JSON ⇄ typed content models.

Pure functions (no I/O): the admin API resolves addresses and uploads media first, then builds
the model here; received plaintext is decoded with ``bridge.content.decode_payload`` and shown
with :func:`content_to_json`. Key material (media keys, thumbnails) never appears in the JSON.
"""

from __future__ import annotations

import enum
from typing import Any

import attrs

from bridge.content import (
    Address,
    Audio,
    ChatId,
    Contact,
    ContentModel,
    Document,
    Edit,
    Image,
    Location,
    MediaKind,
    MediaRef,
    MessageKey,
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

#: The message kinds a simulated user can send (``POST …/send/{kind}``).
SEND_KINDS = frozenset({"text", "reply", "media", "location", "reaction", "edit", "revoke"})

MEDIA_KINDS = {kind.value: kind for kind in MediaKind}
DEFAULT_MIME = {
    MediaKind.IMAGE: "image/jpeg",
    MediaKind.VIDEO: "video/mp4",
    MediaKind.AUDIO: "audio/ogg; codecs=opus",
    MediaKind.DOCUMENT: "application/octet-stream",
    MediaKind.STICKER: "image/webp",
}

_KIND_NAMES: dict[type, str] = {
    Text: "text", Image: "image", Video: "video", Audio: "audio", Document: "document",
    Sticker: "sticker", Location: "location", Contact: "contact", Reaction: "reaction",
    Edit: "edit", Revoke: "revoke", SenderKeyDistribution: "sender_key_distribution",
    Unsupported: "unsupported",
}
# Secrets a receiver needs but a listing must not show.
_HIDDEN_FIELDS = frozenset({"media_key", "thumbnail", "distribution_message"})


class BadContentRequest(ValueError):
    """The request does not describe a valid message; the text says which field is wrong."""


def _str(body: dict[str, Any], name: str, default: str | None = None) -> str:
    value = body.get(name, default)
    if not isinstance(value, str):
        raise BadContentRequest(f"{name} must be a string")
    return value


def _int(body: dict[str, Any], name: str, default: int = 0) -> int:
    value = body.get(name, default)
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise BadContentRequest(f"{name} must be a non-negative integer")
    return value


def _number(body: dict[str, Any], name: str) -> float:
    value = body.get(name)
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        raise BadContentRequest(f"{name} must be a number")
    return float(value)


def reply_to_from(value: Any) -> ReplyTo | None:
    """``"ID"`` or ``{"id", "participant"?, "preview"?}``; None when absent."""
    if value is None:
        return None
    if isinstance(value, str) and value:
        return ReplyTo(stanza_id=StanzaId(value))
    if isinstance(value, dict) and isinstance(value.get("id"), str) and value["id"]:
        participant = value.get("participant")
        return ReplyTo(stanza_id=StanzaId(value["id"]),
                       participant=Address(participant) if participant else None,
                       quoted_preview=_str(value, "preview", ""))
    raise BadContentRequest('reply_to must be a message id or {"id", "participant"?, "preview"?}')


def message_key(body: dict[str, Any], chat: str, *, from_me_default: bool) -> MessageKey:
    """The target of a reaction, edit or revoke, in the sender's view of the 1:1 chat: the chat
    is the peer's address and ``from_me`` says whether the sender wrote the target."""
    target = body.get("target")
    if not isinstance(target, str) or not target:
        raise BadContentRequest("target (a message id) is required")
    from_me = body.get("from_me", from_me_default)
    if not isinstance(from_me, bool):
        raise BadContentRequest("from_me must be a boolean")
    return MessageKey(chat_id=ChatId(chat), id=StanzaId(target), from_me=from_me)


def text_content(body: dict[str, Any], mentions: list[Address], *,
                 require_reply: bool = False) -> Text:
    """Text with the protocol's markup (``*bold*``, ``_italic_``, …) left as written; a mention
    is ``@username`` in the text plus the mentioned user's internal id in ``mentions``."""
    reply_to = reply_to_from(body.get("reply_to"))
    if require_reply and reply_to is None:
        raise BadContentRequest("a reply needs reply_to")
    text = _str(body, "text")
    if not text:
        raise BadContentRequest("text must not be empty")
    return Text(text=text, mentions=tuple(mentions), reply_to=reply_to)


def media_kind(body: dict[str, Any]) -> MediaKind:
    kind = MEDIA_KINDS.get(body.get("kind"))  # type: ignore[arg-type]
    if kind is None:
        raise BadContentRequest(f"kind must be one of {', '.join(sorted(MEDIA_KINDS))}")
    return kind


def media_content(body: dict[str, Any], kind: MediaKind, media: MediaRef,
                  mentions: list[Address]) -> ContentModel:
    """The media body for an already encrypted and uploaded file."""
    reply_to = reply_to_from(body.get("reply_to"))
    try:
        if kind is MediaKind.IMAGE:
            return Image(media=media, caption=_str(body, "caption", ""), mentions=mentions,
                         width=_int(body, "width"), height=_int(body, "height"),
                         reply_to=reply_to)
        if kind is MediaKind.VIDEO:
            return Video(media=media, caption=_str(body, "caption", ""), mentions=mentions,
                         width=_int(body, "width"), height=_int(body, "height"),
                         duration_seconds=_int(body, "duration_seconds"), reply_to=reply_to)
        if kind is MediaKind.AUDIO:
            voice_note = body.get("voice_note", False)
            if not isinstance(voice_note, bool):
                raise BadContentRequest("voice_note must be a boolean")
            return Audio(media=media, duration_seconds=_int(body, "duration_seconds"),
                         voice_note=voice_note, reply_to=reply_to)
        if kind is MediaKind.DOCUMENT:
            return Document(media=media, file_name=_str(body, "file_name", ""),
                            page_count=_int(body, "page_count"),
                            caption=_str(body, "caption", ""), mentions=mentions,
                            reply_to=reply_to)
        return Sticker(media=media, width=_int(body, "width"), height=_int(body, "height"),
                       reply_to=reply_to)
    except (TypeError, ValueError) as e:
        raise BadContentRequest(str(e)) from None


def location_content(body: dict[str, Any]) -> Location:
    try:
        return Location(latitude=_number(body, "latitude"), longitude=_number(body, "longitude"),
                        name=_str(body, "name", ""), address=_str(body, "address", ""),
                        reply_to=reply_to_from(body.get("reply_to")))
    except ValueError as e:
        raise BadContentRequest(str(e)) from None


def reaction_content(body: dict[str, Any], chat: str, now_ms: int) -> Reaction:
    """``emoji`` empty or absent: revoke the sender's earlier reaction to the target."""
    return Reaction(target=message_key(body, chat, from_me_default=False),
                    text=_str(body, "emoji", ""), timestamp_ms=now_ms)


def edit_content(body: dict[str, Any], chat: str, now_ms: int) -> Edit:
    return Edit(target=message_key(body, chat, from_me_default=True),
                new_content=text_content(body, []), timestamp_ms=now_ms)


def revoke_content(body: dict[str, Any], chat: str) -> Revoke:
    return Revoke(target=message_key(body, chat, from_me_default=True))


def delivery_type(model: ContentModel) -> str:
    """The stanza's ``type`` hint (protocol §7.1)."""
    if isinstance(model, (Image, Video, Audio, Document, Sticker)):
        return "media"
    if isinstance(model, Reaction):
        return "reaction"
    return "text"


def _serialize(instance: Any, attribute: attrs.Attribute | None, value: Any) -> Any:
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, enum.Enum):
        return value.value
    return value


def content_to_json(model: Any) -> dict[str, Any]:
    """A content model as JSON: ``kind`` plus its fields (hashes in hex, secrets left out)."""
    data = attrs.asdict(model, value_serializer=_serialize,
                        filter=lambda attribute, value: attribute.name not in _HIDDEN_FIELDS)
    data["kind"] = _KIND_NAMES.get(type(model), type(model).__name__.lower())
    if isinstance(model, Reaction) and model.is_revoke:
        data["kind"] = "reaction_revoke"
    if isinstance(model, Edit):
        data["new_content"] = content_to_json(model.new_content)
    if isinstance(model, (Image, Video, Audio, Document, Sticker)):
        data["media_kind"] = model.kind.value
    return data
