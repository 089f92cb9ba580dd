"""Width, height and duration of a file, measured with ffprobe when the Matrix
event does not say (clients and bots often leave ``info`` out).

Best effort: a file ffprobe cannot read is still sent, just without them.
The JSON parsing is a pure function; the rest is a thin shell around the
``ffprobe`` command (Debian package ``ffmpeg``), working on a temporary file
because MP4 cannot always be probed from a pipe.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import shutil
import tempfile
from pathlib import Path

import attrs

log = logging.getLogger("bridge.mapping.probe")

PROBE_TIMEOUT = 20.0


@attrs.frozen
class MediaShape:
    width: int = 0
    height: int = 0
    duration_seconds: int = 0


def parse_probe(output: bytes) -> MediaShape:
    """The first video stream's size and the container's duration from ffprobe's JSON."""
    try:
        data = json.loads(output)
    except (ValueError, UnicodeDecodeError):
        return MediaShape()
    if not isinstance(data, dict):
        return MediaShape()
    streams = data.get("streams")
    stream = streams[0] if isinstance(streams, list) and streams else {}
    container = data.get("format")
    duration = container.get("duration") if isinstance(container, dict) else None
    return MediaShape(
        width=_positive_int(stream.get("width") if isinstance(stream, dict) else None),
        height=_positive_int(stream.get("height") if isinstance(stream, dict) else None),
        duration_seconds=_seconds(duration),
    )


def _positive_int(value: object) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


def _seconds(value: object) -> int:
    try:
        seconds = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return 0
    if not math.isfinite(seconds) or seconds <= 0:
        return 0
    return max(1, round(seconds))


async def probe_media(data: bytes, timeout: float = PROBE_TIMEOUT) -> MediaShape:
    """Measure `data`; an empty shape when ffprobe is missing or cannot read it."""
    binary = shutil.which("ffprobe")
    if binary is None:
        return MediaShape()
    with tempfile.TemporaryDirectory(prefix="bridge-probe-") as folder:
        source = Path(folder) / "input"
        source.write_bytes(data)
        process = await asyncio.create_subprocess_exec(
            binary, "-v", "error", "-select_streams", "v:0",
            "-show_entries", "stream=width,height:format=duration", "-of", "json", str(source),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.DEVNULL,
        )
        try:
            output, _ = await asyncio.wait_for(process.communicate(), timeout)
        except TimeoutError:
            process.kill()
            await process.wait()
            log.warning("ffprobe took longer than %.0f s", timeout)
            return MediaShape()
    if process.returncode != 0:
        log.debug("ffprobe could not read a %d-byte file", len(data))
        return MediaShape()
    return parse_probe(output)
