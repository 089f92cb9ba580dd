"""Voice-note conversion with the real ffmpeg."""

from __future__ import annotations

import array
import io
import math
import wave

import pytest

from bridge.media.convert import (
    VOICE_NOTE_MIME,
    ConversionError,
    ffmpeg_path,
    measure_audio,
    to_voice_note,
    waveform_from_pcm,
)


def test_ffmpeg_is_installed():
    # The conversions below need the real binary; .ci/run installs it (apt-get install ffmpeg).
    assert ffmpeg_path() is not None, "ffmpeg is not installed (apt-get install ffmpeg)"


def tone_then_silence(rate: int = 44100, tone_seconds: float = 1.0, silence_seconds: float = 1.0
                      ) -> bytes:
    """A WAV file: a 440 Hz tone, then silence."""
    tone = range(int(rate * tone_seconds))
    samples = array.array("h", (int(12000 * math.sin(2 * math.pi * 440 * n / rate)) for n in tone))
    samples.extend([0] * int(rate * silence_seconds))
    out = io.BytesIO()
    with wave.open(out, "wb") as file:
        file.setnchannels(1)
        file.setsampwidth(2)
        file.setframerate(rate)
        file.writeframes(samples.tobytes())
    return out.getvalue()


def test_waveform_from_pcm() -> None:
    loud_then_quiet = array.array("h", [1000] * 100 + [-500] * 100 + [0] * 200).tobytes()
    assert waveform_from_pcm(loud_then_quiet, samples=4) == bytes([100, 50, 0, 0])
    assert waveform_from_pcm(b"", samples=8) == bytes(8)
    assert waveform_from_pcm(bytes(64), samples=8) == bytes(8)
    assert len(waveform_from_pcm(array.array("h", [7] * 10).tobytes())) == 64


async def test_converts_wav_to_ogg_opus_voice_note() -> None:
    note = await to_voice_note(tone_then_silence())
    assert note.data.startswith(b"OggS") and b"OpusHead" in note.data[:200]
    assert note.mime_type == VOICE_NOTE_MIME
    assert note.duration_seconds == 2
    assert len(note.waveform) == 64 and max(note.waveform) == 100
    # The tone fills the first half, silence the second.
    assert min(note.waveform[4:28]) > 50
    assert max(note.waveform[36:]) < 5


async def test_measure_reads_duration_and_waveform() -> None:
    duration, waveform = await measure_audio(tone_then_silence(tone_seconds=2.5,
                                                               silence_seconds=0.5))
    assert duration == 3
    assert len(waveform) == 64 and waveform[-1] < 5 and waveform[10] > 50


async def test_garbage_is_a_conversion_error() -> None:
    with pytest.raises(ConversionError):
        await to_voice_note(b"this is not audio at all" * 10)
