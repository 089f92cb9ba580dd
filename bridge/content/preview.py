"""Short plain-text previews of content, for reply quotes (`ReplyTo.quoted_preview`).

A preview names the kind of message and its caption or text, cut to a
length; it never includes media keys, paths or vCards.
"""

from __future__ import annotations

from .models import (
    Audio,
    Contact,
    ContentModel,
    Document,
    Edit,
    Image,
    Location,
    Reaction,
    Revoke,
    SenderKeyDistribution,
    Sticker,
    Text,
    Unsupported,
    Video,
)

DEFAULT_LIMIT = 100
_ELLIPSIS = "…"


def _labelled(label: str, detail: str) -> str:
    return f"{label}: {detail}" if detail else label


def _describe(model: ContentModel) -> str:
    match model:
        case Text():
            return model.text
        case Image():
            return _labelled("Photo", model.caption)
        case Video():
            return _labelled("GIF" if model.gif_playback else "Video", model.caption)
        case Audio():
            return "Voice message" if model.voice_note else "Audio"
        case Document():
            return _labelled("Document", model.caption or model.file_name)
        case Location():
            return _labelled("Location", model.name or model.address)
        case Contact():
            return _labelled("Contact", model.display_name)
        case Sticker():
            return "Sticker"
        case Reaction():
            return _labelled("Reaction", model.text) if model.text else "Reaction removed"
        case Edit():
            return _describe(model.new_content)
        case Revoke():
            return "Message deleted"
        case SenderKeyDistribution():
            return ""
        case Unsupported():
            return "Unsupported message"
    raise TypeError(f"not a content model: {type(model).__name__}")


def preview(model: ContentModel, limit: int = DEFAULT_LIMIT) -> str:
    """One line of at most `limit` characters describing `model`."""
    text = " ".join(_describe(model).split())
    if len(text) > limit:
        text = text[: max(limit - len(_ELLIPSIS), 0)].rstrip() + _ELLIPSIS
    return text
