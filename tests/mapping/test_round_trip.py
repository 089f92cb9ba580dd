"""Matrix → content → (protobuf) → Matrix: what the other side's bridge would show.

The same mappers play both bridges; the file bytes, kinds, captions,
formatting and metadata must survive."""

from __future__ import annotations

import pytest

from bridge.content import decode_content, encode_content
from bridge.mapping import SendEvent

from . import events, samples
from .fakes import PEER_ID, USER_ID, portal
from .media_helpers import matrix_source, read_matrix_file


def _cases(matrix_media, encrypted: bool) -> list[tuple[str, dict]]:
    def src(data: bytes) -> dict:
        return matrix_source(matrix_media, data, encrypted)

    return [
        ("m.room.message", {"msgtype": "m.text", "body": "*hi* there",
                            "format": "org.matrix.custom.html",
                            "formatted_body": "<strong>hi</strong> there"}),
        ("m.room.message", {"msgtype": "m.image", "body": "a caption", "filename": "image.png",
                            "info": {"mimetype": "image/png", "w": 64, "h": 48},
                            **src(samples.png())}),
        ("m.room.message", {"msgtype": "m.video", "body": "video.mp4",
                            "info": {"mimetype": "video/mp4", "w": 64, "h": 48,
                                     "duration": 2000},
                            **src(samples.mp4())}),
        ("m.room.message", {"msgtype": "m.file", "body": "notes.txt", "filename": "notes.txt",
                            "info": {"mimetype": "text/plain"}, **src(b"some notes\n")}),
        ("m.room.message", {"msgtype": "m.audio", "body": "Voice message",
                            "info": {"mimetype": "audio/ogg"},
                            "org.matrix.msc3245.voice": {},
                            "org.matrix.msc1767.audio": {"duration": 2000,
                                                         "waveform": [0, 256, 512, 1024]},
                            **src(samples.ogg_opus())}),
        ("m.room.message", {"msgtype": "m.location", "body": "Lighthouse",
                            "geo_uri": "geo:54.1,-4.7"}),
        ("m.sticker", {"body": "Sticker", "info": {"mimetype": "image/webp", "w": 64, "h": 64},
                       **src(samples.webp())}),
    ]


@pytest.mark.parametrize("encrypted", [False, True], ids=["plain", "encrypted"])
async def test_matrix_to_content_to_matrix(to_gateway, to_matrix, matrix_media,
                                           encrypted) -> None:
    mirrored = portal(encrypted, user_internal_id=PEER_ID, chat_id=USER_ID)
    for event_type, content in _cases(matrix_media, encrypted):
        sent = await to_gateway.map_event(events.event(dict(content), event_type),
                                          portal(encrypted))
        received = decode_content(encode_content(sent.content))
        [action] = await to_matrix.map_content(received, USER_ID, "S", mirrored)
        assert isinstance(action, SendEvent)
        assert str(action.event_type) == event_type
        back = action.content
        for key in ("msgtype", "body", "format", "formatted_body", "geo_uri"):
            if key in content:
                assert back.get(key) == content[key], key
        if "info" in content:
            for key, value in content["info"].items():
                if key == "mimetype":  # voice notes are labelled with their codec
                    assert back["info"][key].split(";")[0] == value
                else:
                    assert back["info"][key] == value, key
            original = read_matrix_file(matrix_media, content)
            assert read_matrix_file(matrix_media, back) == original
            assert ("file" in back) is encrypted
        if "org.matrix.msc3245.voice" in content:
            assert back["org.matrix.msc1767.audio"] == {
                "duration": 2000, "waveform": [0, 256, 512, 1024]}
