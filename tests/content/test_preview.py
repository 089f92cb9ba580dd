"""Plain-text previews for reply quotes."""

from __future__ import annotations

import pytest
from hypothesis import given

from bridge.content import (
    Audio,
    ChatId,
    Contact,
    Document,
    Image,
    Location,
    MediaRef,
    MessageKey,
    Reaction,
    Revoke,
    StanzaId,
    Text,
    Unsupported,
    Video,
)
from bridge.content.preview import preview

from . import strategies as cs


@given(model=cs.body_models)
def test_every_model_has_a_one_line_preview(model) -> None:
    text = preview(model, limit=40)
    assert len(text) <= 40 and "\n" not in text


MEDIA = MediaRef(
    path="/v/t62/SECRETPATH", media_key=b"K" * 32, sha256_plain=b"P" * 32,
    sha256_enc=b"E" * 32, length=10, mime_type="image/jpeg",
)


def test_media_previews() -> None:
    assert preview(Image(media=MEDIA, caption="beach\nday")) == "Photo: beach day"
    assert preview(Video(media=MEDIA, gif_playback=True)) == "GIF"
    assert preview(Audio(media=MEDIA, voice_note=True)) == "Voice message"
    assert preview(Document(media=MEDIA, file_name="report.pdf")) == "Document: report.pdf"
    # Nothing about where or how the file is stored leaks into a preview.
    for model in (Image(media=MEDIA), Audio(media=MEDIA), Document(media=MEDIA)):
        assert "SECRET" not in preview(model) and "KKKK" not in preview(model)


@pytest.mark.parametrize(
    ("model", "expected"),
    [
        (Text(text="hello   there"), "hello there"),
        (Text(text="x" * 200), "x" * 99 + "…"),
        (Location(latitude=1.0, longitude=2.0, name="Cafe"), "Location: Cafe"),
        (Contact(display_name="Ann", vcard="BEGIN:VCARD\nEND:VCARD"), "Contact: Ann"),
        (Reaction(target=MessageKey(chat_id=ChatId("c"), id=StanzaId("i")), text=""),
         "Reaction removed"),
        (Revoke(target=MessageKey(chat_id=ChatId("c"), id=StanzaId("i"))), "Message deleted"),
        (Unsupported(reason="x"), "Unsupported message"),
    ],
)
def test_previews(model, expected: str) -> None:
    assert preview(model) == expected
