"""Small real media files for the end-to-end tests and the scripted demo, made once per process.

Real encoders (Pillow, ffmpeg) rather than fixed bytes, so that anything the bridge measures or
converts sees a genuine file of the claimed type.
"""

from __future__ import annotations

import functools
import io
import subprocess
import tempfile
from pathlib import Path

from PIL import Image as PilImage


@functools.cache
def png() -> bytes:
    picture = PilImage.new("RGB", (16, 12), (200, 30, 90))
    picture.putpixel((3, 4), (0, 255, 0))
    out = io.BytesIO()
    picture.save(out, format="PNG")
    return out.getvalue()


def _ffmpeg(suffix: str, *args: str) -> bytes:
    with tempfile.TemporaryDirectory() as directory:
        target = Path(directory) / f"sample{suffix}"
        subprocess.run(["ffmpeg", "-hide_banner", "-loglevel", "error", "-y", *args,
                        str(target)], check=True, timeout=60)
        return target.read_bytes()


@functools.cache
def mp4() -> bytes:
    """One second of 32×24 H.264 test pattern."""
    return _ffmpeg(".mp4", "-f", "lavfi", "-i", "testsrc=size=32x24:rate=5", "-t", "1",
                   "-c:v", "libx264", "-pix_fmt", "yuv420p")


@functools.cache
def ogg_opus() -> bytes:
    """Two seconds of a tone, Ogg/Opus as voice notes are."""
    return _ffmpeg(".ogg", "-f", "lavfi", "-i", "sine=frequency=440:duration=2",
                   "-c:a", "libopus", "-b:a", "16k")


@functools.cache
def mp3() -> bytes:
    """Two seconds of a tone as MP3: audio that is not a voice note."""
    return _ffmpeg(".mp3", "-f", "lavfi", "-i", "sine=frequency=660:duration=2",
                   "-c:a", "libmp3lame", "-b:a", "32k")


def document() -> bytes:
    return b"Minutes of the meeting\n" + bytes(range(256)) * 4


@functools.cache
def webp() -> bytes:
    """A still WebP, the gateway's sticker format."""
    picture = PilImage.new("RGBA", (32, 32), (250, 200, 0, 255))
    out = io.BytesIO()
    picture.save(out, format="WEBP")
    return out.getvalue()


VCARD = ("BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Hugo Example\r\nTEL;TYPE=CELL:+49 151 00000000\r\n"
         "END:VCARD\r\n")


@functools.cache
def jpeg_thumbnail() -> bytes:
    picture = PilImage.new("RGB", (8, 6), (200, 30, 90))
    out = io.BytesIO()
    picture.save(out, format="JPEG")
    return out.getvalue()
