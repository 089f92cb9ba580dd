"""The protobuf `Content` message → content models.

A body that is present but cannot be shown (missing media keys, no target,
an edit to something that cannot be edited) becomes `Unsupported(reason)`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeAlias

from . import content_pb2 as pb
from .models import (
    MEDIA_KEY_LENGTH,
    SHA256_LENGTH,
    Address,
    Audio,
    ChatId,
    Contact,
    Document,
    Edit,
    Image,
    Location,
    MediaRef,
    MessageBody,
    MessageKey,
    Reaction,
    ReplyTo,
    Revoke,
    StanzaId,
    Sticker,
    Text,
    Unsupported,
    Video,
)

# Nested contents deeper than this are refused: an edit holds one content,
# which must not hold another edit.
_MAX_DEPTH = 1


class _Invalid(Exception):
    """Raised inside the decoder; becomes Unsupported(reason)."""


_MediaBody: TypeAlias = (
    "pb.ImageMessage | pb.VideoMessage | pb.AudioMessage | pb.DocumentMessage | pb.StickerMessage"
)
#: a body's decoder: (the set field of the ``body`` oneof, the whole message, nesting depth);
#: the field is read by name (``getattr``), so its type is known only to each decoder
_Decoder: TypeAlias = Callable[[Any, pb.Content, int], MessageBody]


def from_protobuf(message: pb.Content, depth: int = 0) -> MessageBody | None:
    """The body model of a parsed message; None when no known body is set."""
    kind = message.WhichOneof("body")
    if kind is None:
        return None
    try:
        return _DECODERS[kind](getattr(message, kind), message, depth)
    except _Invalid as exc:
        return Unsupported(reason=str(exc))


def _reply_to(message: pb.Content) -> ReplyTo | None:
    if not message.HasField("context") or not message.context.stanza_id:
        return None
    context = message.context
    return ReplyTo(
        stanza_id=StanzaId(context.stanza_id),
        participant=Address(context.participant) if context.participant else None,
        quoted_preview=context.quoted_preview,
    )


def _media(body: _MediaBody, what: str) -> MediaRef:
    if not body.HasField("media"):
        raise _Invalid(f"{what} without media")
    info = body.media
    if not info.path:
        raise _Invalid(f"{what} without a download path")
    if len(info.media_key) != MEDIA_KEY_LENGTH:
        raise _Invalid(f"{what} with a {len(info.media_key)}-byte media key")
    if len(info.sha256_plain) != SHA256_LENGTH or len(info.sha256_enc) != SHA256_LENGTH:
        raise _Invalid(f"{what} without valid SHA-256 hashes")
    return MediaRef(
        path=info.path,
        media_key=info.media_key,
        sha256_plain=info.sha256_plain,
        sha256_enc=info.sha256_enc,
        length=info.length,
        mime_type=info.mime_type,
        thumbnail=info.thumbnail,
    )


def _key(body: pb.ReactionMessage | pb.EditMessage | pb.RevokeMessage, what: str) -> MessageKey:
    if not body.HasField("target") or not body.target.id:
        raise _Invalid(f"{what} without a target message")
    target = body.target
    return MessageKey(
        chat_id=ChatId(target.chat_id),
        id=StanzaId(target.id),
        from_me=target.from_me,
        participant=Address(target.participant) if target.participant else None,
    )


def _decode_text(body: pb.TextMessage, message: pb.Content, depth: int) -> Text:
    return Text(
        text=body.text.text, mentions=tuple(body.text.mentioned_ids), reply_to=_reply_to(message)
    )


def _decode_image(body: pb.ImageMessage, message: pb.Content, depth: int) -> Image:
    return Image(
        media=_media(body, "image"),
        caption=body.caption.text,
        mentions=tuple(body.caption.mentioned_ids),
        width=body.width,
        height=body.height,
        reply_to=_reply_to(message),
    )


def _decode_video(body: pb.VideoMessage, message: pb.Content, depth: int) -> Video:
    return Video(
        media=_media(body, "video"),
        caption=body.caption.text,
        mentions=tuple(body.caption.mentioned_ids),
        width=body.width,
        height=body.height,
        duration_seconds=body.duration_seconds,
        gif_playback=body.gif_playback,
        reply_to=_reply_to(message),
    )


def _decode_audio(body: pb.AudioMessage, message: pb.Content, depth: int) -> Audio:
    media = _media(body, "audio")
    # A bad waveform only spoils the preview: drop it rather than the message.
    waveform = body.waveform
    if len(waveform) > 64 or any(sample > 100 for sample in waveform):
        waveform = b""
    return Audio(
        media=media,
        duration_seconds=body.duration_seconds,
        voice_note=body.voice_note,
        waveform=waveform,
        reply_to=_reply_to(message),
    )


def _decode_document(body: pb.DocumentMessage, message: pb.Content, depth: int) -> Document:
    return Document(
        media=_media(body, "document"),
        file_name=body.file_name,
        page_count=body.page_count,
        caption=body.caption.text,
        mentions=tuple(body.caption.mentioned_ids),
        reply_to=_reply_to(message),
    )


def _decode_location(body: pb.LocationMessage, message: pb.Content, depth: int) -> Location:
    try:
        return Location(
            latitude=body.latitude,
            longitude=body.longitude,
            name=body.name,
            address=body.address,
            reply_to=_reply_to(message),
        )
    except ValueError:
        raise _Invalid("location with invalid coordinates") from None


def _decode_contact(body: pb.ContactMessage, message: pb.Content, depth: int) -> Contact:
    if not body.vcard:
        raise _Invalid("contact without a vCard")
    return Contact(display_name=body.display_name, vcard=body.vcard, reply_to=_reply_to(message))


def _decode_sticker(body: pb.StickerMessage, message: pb.Content, depth: int) -> Sticker:
    return Sticker(
        media=_media(body, "sticker"),
        width=body.width,
        height=body.height,
        animated=body.animated,
        reply_to=_reply_to(message),
    )


def _decode_reaction(body: pb.ReactionMessage, message: pb.Content, depth: int) -> Reaction:
    return Reaction(target=_key(body, "reaction"), text=body.text, timestamp_ms=body.timestamp_ms)


def _decode_edit(body: pb.EditMessage, message: pb.Content, depth: int) -> Edit:
    target = _key(body, "edit")
    if depth >= _MAX_DEPTH:
        raise _Invalid("edit nested inside an edit")
    new_content = from_protobuf(body.new_content, depth + 1)
    if new_content is None:
        raise _Invalid("edit without new content")
    if isinstance(new_content, Unsupported):
        raise _Invalid(f"edit with unsupported new content: {new_content.reason}")
    if not isinstance(new_content, Text | Image | Video | Document):
        raise _Invalid(f"edit to a {type(new_content).__name__.lower()}, which cannot be edited")
    return Edit(target=target, new_content=new_content, timestamp_ms=body.timestamp_ms)


def _decode_revoke(body: pb.RevokeMessage, message: pb.Content, depth: int) -> Revoke:
    return Revoke(target=_key(body, "revoke"))


_DECODERS: dict[str, _Decoder] = {
    "text": _decode_text,
    "image": _decode_image,
    "video": _decode_video,
    "audio": _decode_audio,
    "document": _decode_document,
    "location": _decode_location,
    "contact": _decode_contact,
    "sticker": _decode_sticker,
    "reaction": _decode_reaction,
    "edit": _decode_edit,
    "revoke": _decode_revoke,
}
