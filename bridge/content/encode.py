"""Content models → the protobuf `Content` message."""

from __future__ import annotations

from . import content_pb2 as pb
from .models import (
    Address,
    Audio,
    Contact,
    ContentModel,
    Document,
    Edit,
    Image,
    Location,
    MediaRef,
    MessageKey,
    Reaction,
    Revoke,
    SenderKeyDistribution,
    Sticker,
    Text,
    Unsupported,
    Video,
)


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


def _fill_text(target: pb.FormattedText, text: str, mentions: tuple[Address, ...]) -> None:
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
