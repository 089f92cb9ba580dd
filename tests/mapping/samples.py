"""Real media files made with ffmpeg for the tests (cached per test session)."""

from __future__ import annotations

import functools
import subprocess
import tempfile
from pathlib import Path

from bridge.media.convert import ffmpeg_path

# The media tests need the real ffmpeg; .ci/run installs it. Without it they fail, not skip.
assert ffmpeg_path() is not None, "ffmpeg is not installed (apt-get install ffmpeg)"


@functools.cache
def make(suffix: str, *args: str) -> bytes:
    """Run ffmpeg with lavfi sources; the output file's extension picks the format."""
    with tempfile.TemporaryDirectory(prefix="mapping-sample-") as folder:
        target = Path(folder) / f"out{suffix}"
        subprocess.run(
            ["ffmpeg", "-hide_banner", "-loglevel", "error", "-nostdin", "-y", *args,
             str(target)],
            check=True, timeout=60,
        )
        return target.read_bytes()


def png(width: int = 64, height: int = 48) -> bytes:
    return make(".png", "-f", "lavfi", "-i", f"testsrc=size={width}x{height}:rate=1",
                "-frames:v", "1")


def jpeg_thumbnail() -> bytes:
    return make(".jpg", "-f", "lavfi", "-i", "testsrc=size=32x24:rate=1", "-frames:v", "1")


def webp() -> bytes:
    return make(".webp", "-f", "lavfi", "-i", "testsrc=size=64x64:rate=1", "-frames:v", "1")


def mp4(seconds: int = 2) -> bytes:
    return make(".mp4", "-f", "lavfi", "-i", f"testsrc=size=64x48:rate=10:duration={seconds}",
                "-c:v", "libx264", "-pix_fmt", "yuv420p")


def wav(seconds: int = 2) -> bytes:
    return make(".wav", "-f", "lavfi", "-i", f"sine=frequency=440:duration={seconds}",
                "-ac", "1")


def mp3(seconds: int = 3) -> bytes:
    return make(".mp3", "-f", "lavfi", "-i", f"sine=frequency=440:duration={seconds}",
                "-ac", "1", "-c:a", "libmp3lame")


def ogg_opus(seconds: int = 2) -> bytes:
    return make(".ogg", "-f", "lavfi", "-i", f"sine=frequency=440:duration={seconds}",
                "-ac", "1", "-c:a", "libopus")
