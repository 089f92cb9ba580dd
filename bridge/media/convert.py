"""Audio conversion for voice notes, via the ffmpeg command-line tool.

Voice notes on the gateway are Ogg/Opus with a duration and a 64-sample
waveform. Matrix clients send voice messages in various containers (Ogg,
MP4/AAC, WebM), so outgoing ones are converted, and the duration and
waveform are measured from the decoded audio itself rather than trusted
from metadata.

The waveform maths is a pure function (`waveform_from_pcm`); the rest is a
thin async shell around ffmpeg that works on temporary files (Ogg and MP4
cannot always be probed from a pipe).
"""

from __future__ import annotations

import array
import asyncio
import logging
import shutil
import sys
import tempfile
from pathlib import Path

import attrs

log = logging.getLogger("bridge.media.convert")

PCM_RATE = 8000  # Hz: enough for loudness, small to hold in memory
WAVEFORM_SAMPLES = 64
VOICE_NOTE_MIME = "audio/ogg; codecs=opus"
DEFAULT_TIMEOUT = 60.0


class ConversionError(RuntimeError):
    """ffmpeg is missing, failed, or took too long; the message is fit for a log."""


@attrs.frozen
class VoiceNote:
    data: bytes = attrs.field(repr=False)
    mime_type: str
    duration_seconds: int
    waveform: bytes


def ffmpeg_path() -> str | None:
    return shutil.which("ffmpeg")


def waveform_from_pcm(pcm: bytes, samples: int = WAVEFORM_SAMPLES) -> bytes:
    """Peak loudness of signed 16-bit mono PCM in `samples` equal slices, 0–100.

    Scaled so the loudest slice is 100 (as voice-note waveforms are drawn);
    all zeros for silence or no audio.
    """
    values = array.array("h")
    values.frombytes(pcm[: len(pcm) - len(pcm) % 2])
    if sys.byteorder == "big":
        values.byteswap()
    if not values:
        return bytes(samples)
    peaks = []
    for index in range(samples):
        start = index * len(values) // samples
        end = max((index + 1) * len(values) // samples, start + 1)
        chunk = values[start:end]
        peaks.append(max(max(chunk), -min(chunk)) if chunk else 0)
    loudest = max(peaks)
    if loudest == 0:
        return bytes(samples)
    return bytes(round(peak * 100 / loudest) for peak in peaks)


async def _run_ffmpeg(args: list[str], timeout: float) -> bytes:
    binary = ffmpeg_path()
    if binary is None:
        raise ConversionError("ffmpeg is not installed")
    process = await asyncio.create_subprocess_exec(
        binary, "-hide_banner", "-loglevel", "error", "-nostdin", *args,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        stdout, stderr = await asyncio.wait_for(process.communicate(), timeout)
    except TimeoutError:
        process.kill()
        await process.wait()
        raise ConversionError(f"ffmpeg took longer than {timeout:.0f} s") from None
    if process.returncode != 0:
        # ffmpeg's error text describes the container/codec, not the audio content.
        detail = stderr.decode(errors="replace").strip().splitlines()[-1:] or ["no output"]
        raise ConversionError(f"ffmpeg exited with {process.returncode}: {detail[0]}")
    return stdout


async def _decode_pcm(source: Path, timeout: float) -> bytes:
    return await _run_ffmpeg(
        ["-i", str(source), "-vn", "-ac", "1", "-ar", str(PCM_RATE), "-f", "s16le", "pipe:1"],
        timeout,
    )


async def measure_audio(data: bytes, timeout: float = DEFAULT_TIMEOUT) -> tuple[int, bytes]:
    """(duration in whole seconds, 64-sample waveform) of any audio ffmpeg reads."""
    with tempfile.TemporaryDirectory(prefix="bridge-audio-") as folder:
        source = Path(folder) / "input"
        source.write_bytes(data)
        pcm = await _decode_pcm(source, timeout)
    return _duration(pcm), waveform_from_pcm(pcm)


def _duration(pcm: bytes) -> int:
    """Whole seconds, to the nearest; at least 1 for any audio at all."""
    frames = len(pcm) // 2
    return max(1, round(frames / PCM_RATE)) if frames else 0


async def to_voice_note(
    data: bytes, timeout: float = DEFAULT_TIMEOUT, bitrate: str = "32k"
) -> VoiceNote:
    """Convert any audio to a mono Ogg/Opus voice note, with duration and waveform."""
    with tempfile.TemporaryDirectory(prefix="bridge-audio-") as folder:
        source, target = Path(folder) / "input", Path(folder) / "voice.ogg"
        source.write_bytes(data)
        await _run_ffmpeg(
            ["-i", str(source), "-vn", "-map_metadata", "-1", "-ac", "1", "-ar", "48000",
             "-c:a", "libopus", "-b:a", bitrate, "-application", "voip", "-f", "ogg",
             str(target)],
            timeout,
        )
        pcm = await _decode_pcm(target, timeout)
        converted = target.read_bytes()
    log.debug("converted %d bytes of audio to a %d-byte voice note", len(data), len(converted))
    return VoiceNote(
        data=converted,
        mime_type=VOICE_NOTE_MIME,
        duration_seconds=_duration(pcm),
        waveform=waveform_from_pcm(pcm),
    )
