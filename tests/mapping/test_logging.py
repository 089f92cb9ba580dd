"""Mapping logs name problems, never message content, file names or key material,
even at DEBUG and on failures."""

from __future__ import annotations

import base64
import contextlib
import logging

import attrs

from bridge.content.models import Document, Image, MediaKind, Text
from bridge.mapping import Unmappable

from . import events, samples
from .fakes import PEER_ID, portal
from .media_helpers import gateway_ref, matrix_source

SECRET_TEXT = "TOPSECRET-words-7f3a"
SECRET_NAME = "TOPSECRET-name-19c2.pdf"


def _forms(secret: bytes) -> list[str]:
    return [secret.hex(), base64.b64encode(secret).decode(),
            base64.urlsafe_b64encode(secret).decode().rstrip("="), repr(secret)[2:-1]]


async def test_no_content_or_keys_in_logs(caplog, to_gateway, to_matrix, matrix_media,
                                          gateway_media) -> None:
    caplog.set_level(logging.DEBUG)
    secrets: list[str] = [SECRET_TEXT, SECRET_NAME]

    # Matrix → gateway: a file with caption in an encrypted room, then broken ones.
    source = matrix_source(matrix_media, samples.png(), encrypted=True)
    secrets += [source["file"]["key"]["k"], source["file"]["iv"]]
    sent = await to_gateway.map_event(events.event({
        "msgtype": "m.file", "body": SECRET_TEXT, "filename": SECRET_NAME, **source,
    }), portal(encrypted=True))
    secrets += _forms(sent.content.media.media_key)
    await to_gateway.map_event(events.text(SECRET_TEXT, f"<b>{SECRET_TEXT}</b>"), portal())
    matrix_media.fail_downloads = True
    with contextlib.suppress(Unmappable):
        await to_gateway.map_event(events.event({
            "msgtype": "m.image", "body": SECRET_NAME, **source}), portal(encrypted=True))
    matrix_media.fail_downloads = False

    # Gateway → Matrix: a good file, a tampered one, a voice note that fails conversion.
    ref = gateway_ref(gateway_media, MediaKind.DOCUMENT, b"data", "application/pdf")
    secrets += _forms(ref.media_key)
    await to_matrix.map_content(Document(media=ref, file_name=SECRET_NAME, caption=SECRET_TEXT),
                                PEER_ID, "S1", portal(encrypted=True))
    bad = attrs.evolve(ref, media_key=bytes(range(32)))
    secrets += _forms(bad.media_key)
    await to_matrix.map_content(Image(media=bad, caption=SECRET_TEXT), PEER_ID, "S2", portal())
    await to_matrix.map_content(Text(text=SECRET_TEXT), PEER_ID, "S3", portal())
    with contextlib.suppress(Unmappable):
        await to_gateway.map_event(events.event({
            "msgtype": "m.audio", "body": SECRET_NAME, "org.matrix.msc3245.voice": {},
            "url": matrix_media.put(SECRET_TEXT.encode() * 20)}), portal())

    logged = "\n".join(
        record.getMessage() + (record.exc_text or "") for record in caplog.records
    )
    assert caplog.records, "the failures above should have been logged"
    for secret in secrets:
        assert secret not in logged
