"""Model invariants: logging a model never logs what people wrote."""

from __future__ import annotations

import pytest

from bridge.content import (
    Audio,
    ChatId,
    Contact,
    Document,
    Edit,
    Image,
    Location,
    MediaRef,
    MessageKey,
    Reaction,
    ReplyTo,
    StanzaId,
    Text,
    Video,
)

SECRET = "TOPSECRET"
MEDIA = MediaRef(
    path="/v/t1", media_key=SECRET.encode().ljust(32, b"!"), sha256_plain=b"p" * 32,
    sha256_enc=b"e" * 32, length=1, mime_type="image/jpeg", thumbnail=SECRET.encode(),
)
KEY = MessageKey(chat_id=ChatId("c"), id=StanzaId("i"))
REPLY = ReplyTo(stanza_id=StanzaId("q"), quoted_preview=SECRET)


@pytest.mark.parametrize(
    "model",
    [
        Text(text=SECRET, reply_to=REPLY),
        Image(media=MEDIA, caption=SECRET),
        Video(media=MEDIA, caption=SECRET),
        Audio(media=MEDIA, waveform=bytes([1, 2])),
        Document(media=MEDIA, caption=SECRET, file_name=SECRET),
        Location(latitude=12.3456, longitude=65.4321, name=SECRET, address=SECRET),
        Contact(display_name=SECRET, vcard=SECRET),
        Reaction(target=KEY, text=SECRET),
        Edit(target=KEY, new_content=Text(text=SECRET)),
    ],
    ids=lambda model: type(model).__name__,
)
def test_repr_leaves_out_content_and_keys(model) -> None:
    shown = repr(model)
    assert SECRET not in shown and "12.3456" not in shown and "\\x01\\x02" not in shown
