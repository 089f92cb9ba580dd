"""Media encryption as the gateway uses it (pure: bytes in, bytes out).

A random 32-byte media key is expanded with HKDF-SHA256 (no salt) and an
info string chosen by the media kind into 112 bytes: IV [0:16], AES-256 key
[16:48], HMAC key [48:80]; the rest is unused. The file is encrypted with
AES-256-CBC and PKCS#7 padding, and the first 10 bytes of
HMAC-SHA256(mac key, IV || ciphertext) are appended. The message carries
the media key, the SHA-256 of the plaintext and the SHA-256 of the uploaded
blob (ciphertext || MAC), so a receiver can check all three.
"""

from __future__ import annotations

import hashlib
import hmac
import os

import attrs
from cryptography.hazmat.primitives import hashes, padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from bridge.content.models import MEDIA_KEY_LENGTH, MediaKind

EXPANDED_LENGTH = 112
MAC_LENGTH = 10
_BLOCK = 16

HKDF_INFO: dict[MediaKind, bytes] = {
    MediaKind.IMAGE: b"WhatsApp Image Keys",
    MediaKind.VIDEO: b"WhatsApp Video Keys",
    MediaKind.AUDIO: b"WhatsApp Audio Keys",
    MediaKind.DOCUMENT: b"WhatsApp Document Keys",
    # Stickers are images on the wire.
    MediaKind.STICKER: b"WhatsApp Image Keys",
}


class MediaCryptoError(ValueError):
    """Base class: a downloaded blob could not be turned into the file."""


class EncryptedHashMismatch(MediaCryptoError):
    """The blob's SHA-256 is not the one the message announced."""


class MediaMacMismatch(MediaCryptoError):
    """The blob's MAC does not verify: tampered, truncated or the wrong key."""


class PlaintextHashMismatch(MediaCryptoError):
    """The decrypted file's SHA-256 is not the one the message announced."""


class MalformedMedia(MediaCryptoError):
    """The blob is too short, not block-aligned, or badly padded."""


@attrs.frozen
class MediaKeys:
    iv: bytes = attrs.field(repr=False)
    cipher_key: bytes = attrs.field(repr=False)
    mac_key: bytes = attrs.field(repr=False)


@attrs.frozen(kw_only=True)
class EncryptedMedia:
    """What to upload (`blob`) and what the message must carry about it."""

    blob: bytes = attrs.field(repr=False)
    media_key: bytes = attrs.field(repr=False)
    sha256_plain: bytes
    sha256_enc: bytes
    # Length of the plaintext file in bytes.
    length: int


def generate_media_key() -> bytes:
    return os.urandom(MEDIA_KEY_LENGTH)


def expand_media_key(kind: MediaKind, media_key: bytes) -> MediaKeys:
    if len(media_key) != MEDIA_KEY_LENGTH:
        raise ValueError(f"media key must be {MEDIA_KEY_LENGTH} bytes, not {len(media_key)}")
    expanded = HKDF(
        algorithm=hashes.SHA256(), length=EXPANDED_LENGTH, salt=None, info=HKDF_INFO[kind]
    ).derive(media_key)
    return MediaKeys(iv=expanded[0:16], cipher_key=expanded[16:48], mac_key=expanded[48:80])


def _mac(keys: MediaKeys, ciphertext: bytes) -> bytes:
    return hmac.new(keys.mac_key, keys.iv + ciphertext, hashlib.sha256).digest()[:MAC_LENGTH]


def encrypt_media(kind: MediaKind, data: bytes, media_key: bytes | None = None) -> EncryptedMedia:
    """Encrypt a file under a fresh (or the given) media key."""
    if media_key is None:
        media_key = generate_media_key()
    keys = expand_media_key(kind, media_key)
    padder = padding.PKCS7(algorithms.AES.block_size).padder()
    padded = padder.update(data) + padder.finalize()
    encryptor = Cipher(algorithms.AES(keys.cipher_key), modes.CBC(keys.iv)).encryptor()
    ciphertext = encryptor.update(padded) + encryptor.finalize()
    blob = ciphertext + _mac(keys, ciphertext)
    return EncryptedMedia(
        blob=blob,
        media_key=media_key,
        sha256_plain=hashlib.sha256(data).digest(),
        sha256_enc=hashlib.sha256(blob).digest(),
        length=len(data),
    )


def decrypt_media(
    kind: MediaKind, blob: bytes, media_key: bytes, sha256_enc: bytes, sha256_plain: bytes
) -> bytes:
    """Verify and decrypt a downloaded blob.

    Checks, in order, the blob hash (cheap, catches a wrong or damaged
    download), the MAC (before touching the ciphertext: no padding oracle),
    then the plaintext hash. Each failure raises its own error type.
    """
    if not hmac.compare_digest(hashlib.sha256(blob).digest(), sha256_enc):
        raise EncryptedHashMismatch("the downloaded blob does not match its announced SHA-256")
    if len(blob) < _BLOCK + MAC_LENGTH or (len(blob) - MAC_LENGTH) % _BLOCK:
        raise MalformedMedia(f"a {len(blob)}-byte blob cannot be AES-CBC ciphertext plus MAC")
    keys = expand_media_key(kind, media_key)
    ciphertext, mac = blob[:-MAC_LENGTH], blob[-MAC_LENGTH:]
    if not hmac.compare_digest(_mac(keys, ciphertext), mac):
        raise MediaMacMismatch("the blob's MAC does not verify")
    decryptor = Cipher(algorithms.AES(keys.cipher_key), modes.CBC(keys.iv)).decryptor()
    padded = decryptor.update(ciphertext) + decryptor.finalize()
    unpadder = padding.PKCS7(algorithms.AES.block_size).unpadder()
    try:
        data = unpadder.update(padded) + unpadder.finalize()
    except ValueError:
        raise MalformedMedia("the decrypted blob has invalid PKCS#7 padding") from None
    if not hmac.compare_digest(hashlib.sha256(data).digest(), sha256_plain):
        raise PlaintextHashMismatch("the decrypted file does not match its announced SHA-256")
    return data
