"""Media: the gateway's media encryption, size limits, and format conversion."""

from .crypto import (
    EncryptedHashMismatch,
    EncryptedMedia,
    MalformedMedia,
    MediaCryptoError,
    MediaMacMismatch,
    PlaintextHashMismatch,
    decrypt_media,
    encrypt_media,
)
from .limits import MediaLimits, MediaTooLarge

__all__ = [
    "EncryptedHashMismatch",
    "EncryptedMedia",
    "MalformedMedia",
    "MediaCryptoError",
    "MediaLimits",
    "MediaMacMismatch",
    "MediaTooLarge",
    "PlaintextHashMismatch",
    "decrypt_media",
    "encrypt_media",
]
