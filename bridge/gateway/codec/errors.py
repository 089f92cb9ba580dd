"""Typed errors of the wire layer. Decoders raise only these on bad input."""

from __future__ import annotations


class WireError(ValueError):
    """Base of every error caused by bytes received from the other side."""


class CodecError(WireError):
    """A stanza could not be encoded or decoded (truncated, garbage, over a limit)."""


class FrameError(WireError):
    """The frame stream is malformed (bad header, frame over the size limit)."""
