"""Voice messages (MSC3245) ⇄ voice notes, converted by the real ffmpeg."""

from __future__ import annotations

import pytest

from bridge.content import decode_content, encode_content
from bridge.content.models import Audio, MediaKind
from bridge.mapping import SendEvent, Unmappable
from bridge.media.convert import VOICE_NOTE_MIME

from . import events, samples
from .fakes import PEER_ID, portal
from .media_helpers import gateway_ref, matrix_source, read_hosted, read_matrix_file


def voice_event(source: dict, mimetype: str, duration_ms: int | None = None,
                waveform: list[int] | None = None):
    extensible = {}
    if duration_ms is not None:
        extensible["duration"] = duration_ms
    if waveform is not None:
        extensible["waveform"] = waveform
    return events.event({
        "msgtype": "m.audio", "body": "Voice message", "info": {"mimetype": mimetype},
        "org.matrix.msc3245.voice": {}, "org.matrix.msc1767.audio": extensible, **source,
    })


@pytest.mark.parametrize("make, mime", [(samples.wav, "audio/wav"), (samples.mp3, "audio/mpeg")],
                         ids=["wav", "mp3"])
@pytest.mark.parametrize("encrypted", [False, True], ids=["plain", "encrypted"])
async def test_voice_message_is_converted_to_ogg_opus(to_gateway, matrix_media, gateway_media,
                                                      make, mime, encrypted) -> None:
    source_audio = make()
    evt = voice_event(matrix_source(matrix_media, source_audio, encrypted), mime,
                      duration_ms=999_000, waveform=[1024] * 10)
    audio = (await to_gateway.map_event(evt, portal(encrypted))).content
    assert isinstance(audio, Audio) and audio.voice_note
    assert audio.media.mime_type == VOICE_NOTE_MIME
    sent = read_hosted(gateway_media, MediaKind.AUDIO, audio.media)
    assert sent.startswith(b"OggS") and b"OpusHead" in sent[:128]
    # Duration and waveform are measured from the audio, not taken from the client.
    expected_seconds = 2 if make is samples.wav else 3
    assert audio.duration_seconds == expected_seconds
    assert len(audio.waveform) == 64 and max(audio.waveform) == 100


async def test_ogg_opus_voice_message_is_kept_with_the_clients_waveform(
    to_gateway, matrix_media, gateway_media
) -> None:
    ogg = samples.ogg_opus()
    waveform = [0, 512, 1024] * 40  # 120 samples: reduced to 64 peaks of 0–100
    evt = voice_event(matrix_source(matrix_media, ogg, False), "audio/ogg",
                      duration_ms=2100, waveform=waveform)
    audio = (await to_gateway.map_event(evt, portal())).content
    assert read_hosted(gateway_media, MediaKind.AUDIO, audio.media) == ogg  # not re-encoded
    assert audio.duration_seconds == 2
    assert len(audio.waveform) == 64 and set(audio.waveform) <= {0, 50, 100}
    # Without the client's figures they are measured.
    bare = voice_event(matrix_source(matrix_media, ogg, False), "audio/ogg")
    measured = (await to_gateway.map_event(bare, portal())).content
    assert measured.duration_seconds == 2 and max(measured.waveform) == 100


async def test_unreadable_voice_message_is_unmappable(to_gateway, matrix_media) -> None:
    evt = voice_event(matrix_source(matrix_media, b"not audio at all" * 10, False), "audio/mp4")
    with pytest.raises(Unmappable, match="could not be converted"):
        await to_gateway.map_event(evt, portal())


@pytest.mark.parametrize("encrypted", [False, True], ids=["plain", "encrypted"])
async def test_voice_note_to_matrix_and_back(to_gateway, to_matrix, matrix_media, gateway_media,
                                             encrypted) -> None:
    ogg = samples.ogg_opus()
    waveform = bytes(range(0, 100, 2)) + bytes([100])
    original = Audio(
        media=gateway_ref(gateway_media, MediaKind.AUDIO, ogg, VOICE_NOTE_MIME),
        duration_seconds=2, voice_note=True, waveform=waveform,
    )
    received = decode_content(encode_content(original))
    [action] = await to_matrix.map_content(received, PEER_ID, "S1", portal(encrypted))
    assert isinstance(action, SendEvent)
    content = action.content
    assert content["msgtype"] == "m.audio" and content["org.matrix.msc3245.voice"] == {}
    assert content["org.matrix.msc1767.audio"]["duration"] == 2000
    assert content["org.matrix.msc1767.audio"]["waveform"][-1] == 1024
    assert content["info"]["duration"] == 2000 and content["body"] == "Voice message"
    assert "filename" not in content
    assert read_matrix_file(matrix_media, content) == ogg

    back = (await to_gateway.map_event(events.event(content), portal(encrypted))).content
    assert back.voice_note and back.duration_seconds == 2
    assert back.waveform == waveform  # 0–100 → 0–1024 → 0–100 is lossless
    assert read_hosted(gateway_media, MediaKind.AUDIO, back.media) == ogg
