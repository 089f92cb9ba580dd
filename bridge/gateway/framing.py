"""Length-prefixed frames of the chat channel's byte stream (sans-I/O).

Every frame is a 3-byte big-endian length followed by that many bytes. The transport under it
(WebSocket binary messages or a plain TCP stream) may cut the stream anywhere, so the receiver
feeds whatever bytes arrive into a :class:`FrameSplitter` and gets whole frames back.
"""

from __future__ import annotations

from .codec.errors import FrameError

FRAME_HEADER_SIZE = 3
#: A frame carries one Noise message, and Noise messages are at most 65535 bytes.
MAX_FRAME_SIZE = 65535


def encode_frame(payload: bytes, max_size: int = MAX_FRAME_SIZE) -> bytes:
    if len(payload) > max_size:
        raise FrameError(f"frame of {len(payload)} bytes exceeds {max_size}")
    return len(payload).to_bytes(FRAME_HEADER_SIZE, "big") + payload


class FrameSplitter:
    """Reassembles frames from arbitrary chunks of the stream.

    A header announcing more than ``max_size`` bytes raises :class:`FrameError` at once, before
    any of that body is buffered, so a peer cannot make the receiver hold large buffers.
    """

    def __init__(self, max_size: int = MAX_FRAME_SIZE) -> None:
        self._buffer = bytearray()
        self._max_size = max_size
        self._failed = False

    @property
    def buffered(self) -> int:
        """Bytes received that do not yet form a whole frame."""
        return len(self._buffer)

    def feed(self, chunk: bytes) -> list[bytes]:
        if self._failed:
            raise FrameError("frame stream already failed")
        self._buffer += chunk
        frames: list[bytes] = []
        while len(self._buffer) >= FRAME_HEADER_SIZE:
            length = int.from_bytes(self._buffer[:FRAME_HEADER_SIZE], "big")
            if length > self._max_size:
                self._failed = True
                raise FrameError(f"frame of {length} bytes exceeds {self._max_size}")
            end = FRAME_HEADER_SIZE + length
            if len(self._buffer) < end:
                break
            frames.append(bytes(self._buffer[FRAME_HEADER_SIZE:end]))
            del self._buffer[:end]
        return frames
