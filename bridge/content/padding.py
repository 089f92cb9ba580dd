"""The Signal plaintext padding used around content protobufs.

The sender appends 1–15 bytes, each equal to the pad length, with a random
length per message so that ciphertext lengths leak less about short texts.
There is always at least one byte, so an unpadded plaintext is detectable.
"""

from __future__ import annotations

import secrets

from .errors import BadPadding

MIN_PAD = 1
MAX_PAD = 15


def random_pad_length() -> int:
    return MIN_PAD + secrets.randbelow(MAX_PAD - MIN_PAD + 1)


def pad(plaintext: bytes, length: int | None = None) -> bytes:
    """Append `length` (random when None) bytes of value `length`."""
    if length is None:
        length = random_pad_length()
    if not MIN_PAD <= length <= MAX_PAD:
        raise ValueError(f"pad length must be {MIN_PAD}..{MAX_PAD}, not {length}")
    return plaintext + bytes([length]) * length


def unpad(padded: bytes) -> bytes:
    """Strip and check the padding; raise BadPadding when it is not valid."""
    if not padded:
        raise BadPadding("empty plaintext has no padding")
    length = padded[-1]
    if not MIN_PAD <= length <= MAX_PAD:
        raise BadPadding(f"pad length byte {length} is outside {MIN_PAD}..{MAX_PAD}")
    if len(padded) < length:
        raise BadPadding(f"pad length {length} exceeds the {len(padded)}-byte plaintext")
    if padded[-length:] != bytes([length]) * length:
        raise BadPadding(f"the last {length} bytes are not all equal to {length}")
    return padded[:-length]
