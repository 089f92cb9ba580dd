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
from .errors import MalformedContent
from .models import (
    MEDIA_KEY_LENGTH,
    SHA256_LENGTH,
    Audio,
    ChatId,
    Contact,
    ContentModel,
    Document,
    Edit,
    Image,
    InternalId,
    Location,
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
from .padding import pad, unpad

# Nested contents deeper than this are refused: an edit holds one content,
# which must not hold another edit.
_MAX_DEPTH = 1


class _Invalid(Exception):
    """Raised inside the decoder; becomes Unsupported(reason)."""


# --------------------------------------------------------------------------- encode


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


def to_protobuf(
    model: ContentModel, *, sender_key_distribution: SenderKeyDistribution | None = None
) -> pb.Content:
    out = pb.Content()
    if isinstance(model, SenderKeyDistribution):
        if sender_key_distribution is not None:
            raise ValueError("give the sender key either as the model or alongside, not both")
        sender_key_distribution = model
    elif isinstance(model, Unsupported):
        raise ValueError("Unsupported content cannot be sent")
    else:
        _fill_body(out, model)
    if sender_key_distribution is not None:
        out.sender_key_distribution.group_id = sender_key_distribution.group_id
        out.sender_key_distribution.distribution_message = (
            sender_key_distribution.distribution_message
        )
    return out


def _fill_text(target: pb.FormattedText, text: str, mentions: tuple[InternalId, ...]) -> None:
    target.text = text
    target.mentioned_ids.extend(mentions)


def _fill_media(target: pb.MediaInfo, media: MediaRef) -> None:
    target.path = media.path
    target.media_key = media.media_key
    target.sha256_plain = media.sha256_plain
    target.sha256_enc = media.sha256_enc
    target.length = media.length
    target.mime_type = media.mime_type
    target.thumbnail = media.thumbnail


def _fill_key(target: pb.MessageKey, key: MessageKey) -> None:
    target.chat_id = key.chat_id
    target.id = key.id
    target.from_me = key.from_me
    target.participant = key.participant or ""


def _fill_body(out: pb.Content, model: ContentModel) -> None:
    match model:
        case Text():
            _fill_text(out.text.text, model.text, model.mentions)
        case Image():
            _fill_media(out.image.media, model.media)
            _fill_text(out.image.caption, model.caption, model.mentions)
            out.image.width, out.image.height = model.width, model.height
        case Video():
            body = out.video
            _fill_media(body.media, model.media)
            _fill_text(body.caption, model.caption, model.mentions)
            body.width, body.height = model.width, model.height
            body.duration_seconds = model.duration_seconds
            body.gif_playback = model.gif_playback
        case Audio():
            _fill_media(out.audio.media, model.media)
            out.audio.duration_seconds = model.duration_seconds
            out.audio.voice_note = model.voice_note
            out.audio.waveform = model.waveform
        case Document():
            _fill_media(out.document.media, model.media)
            _fill_text(out.document.caption, model.caption, model.mentions)
            out.document.file_name = model.file_name
            out.document.page_count = model.page_count
        case Location():
            out.location.latitude, out.location.longitude = model.latitude, model.longitude
            out.location.name, out.location.address = model.name, model.address
        case Contact():
            out.contact.display_name, out.contact.vcard = model.display_name, model.vcard
        case Sticker():
            _fill_media(out.sticker.media, model.media)
            out.sticker.width, out.sticker.height = model.width, model.height
            out.sticker.animated = model.animated
        case Reaction():
            _fill_key(out.reaction.target, model.target)
            out.reaction.text = model.text
            out.reaction.timestamp_ms = model.timestamp_ms
        case Edit():
            _fill_key(out.edit.target, model.target)
            if not isinstance(model.new_content, Text | Image | Video | Document):
                raise ValueError("an edit's new content must be a text or a captioned media")
            _fill_body(out.edit.new_content, model.new_content)
            out.edit.timestamp_ms = model.timestamp_ms
        case Revoke():
            _fill_key(out.revoke.target, model.target)
        case _:
            raise TypeError(f"not a content model: {type(model).__name__}")
    reply_to = getattr(model, "reply_to", None)
    if reply_to is not None:
        out.context.stanza_id = reply_to.stanza_id
        out.context.participant = reply_to.participant or ""
        out.context.quoted_preview = reply_to.quoted_preview


# --------------------------------------------------------------------------- decode


def decode_payload(plaintext: bytes) -> Payload:
    """Unpad and parse a decrypted plaintext into its body and sender key.

    Raises BadPadding or MalformedContent for bytes that are not content.
    """
    raw = unpad(plaintext)
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


def from_protobuf(message: pb.Content, depth: int = 0) -> ContentModel | None:
    """The body model of a parsed message; None when no known body is set."""
    kind = message.WhichOneof("body")
    if kind is None:
        return None
    try:
        return _DECODERS[kind](getattr(message, kind), message, depth)
    except _Invalid as exc:
        return Unsupported(reason=str(exc))


def _unknown_body(message: pb.Content) -> Unsupported | None:
    """Unsupported naming the unknown top-level fields, if there are any."""
    numbers = sorted({field.field_number for field in UnknownFieldSet(message)})
    if numbers:
        return Unsupported(reason=f"unknown content type (field {', '.join(map(str, numbers))})")
    return None


def _reply_to(message: pb.Content) -> ReplyTo | None:
    if not message.HasField("context") or not message.context.stanza_id:
        return None
    context = message.context
    return ReplyTo(
        stanza_id=StanzaId(context.stanza_id),
        participant=InternalId(context.participant) if context.participant else None,
        quoted_preview=context.quoted_preview,
    )


def _media(body, what: str) -> MediaRef:
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


def _key(body, what: str) -> MessageKey:
    if not body.HasField("target") or not body.target.id:
        raise _Invalid(f"{what} without a target message")
    target = body.target
    return MessageKey(
        chat_id=ChatId(target.chat_id),
        id=StanzaId(target.id),
        from_me=target.from_me,
        participant=InternalId(target.participant) if target.participant else None,
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
    return Reaction(
        target=_key(body, "reaction"), text=body.text, timestamp_ms=body.timestamp_ms
    )


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


_DECODERS = {
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
