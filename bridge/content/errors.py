"""Typed errors raised while encoding or decoding message content."""

from __future__ import annotations


class ContentError(ValueError):
    """Base class: the bytes could not be turned into content at all."""


class BadPadding(ContentError):
    """The decrypted plaintext does not end in valid 1–15 byte padding."""


class MalformedContent(ContentError):
    """The unpadded plaintext is not a parseable content protobuf."""
