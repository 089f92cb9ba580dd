"""Moving files between the homeserver's media repository and the gateway's media hosts.

Matrix → gateway: fetch (decrypting a Matrix ``EncryptedFile`` in encrypted
rooms), encrypt with the gateway's media encryption, host, describe it as a
`MediaRef`. Gateway → Matrix: download the blob, verify and decrypt it,
upload to the homeserver (as a Matrix encrypted attachment in encrypted
rooms). All I/O goes through the injected `MatrixMedia` / `GatewayMedia`.

Crypto on large files runs in a worker thread so that one big video does
not stall every other portal's messages.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any, TypeVar

import attrs
from mautrix.crypto.attachments import decrypt_attachment, encrypt_attachment
from mautrix.errors import DecryptionError
from mautrix.types import ContentURI, EncryptedFile

from bridge.content.models import MediaKind, MediaRef
from bridge.media import MediaCryptoError, decrypt_media, encrypt_media
from bridge.media.crypto import MAC_LENGTH

from .errors import Unmappable
from .interfaces import GatewayMedia, MatrixMedia

log = logging.getLogger("bridge.mapping.media")

# Above this size, encryption and decryption move off the event loop.
THREAD_THRESHOLD = 1024 * 1024
_AES_BLOCK = 16

_T = TypeVar("_T")


async def _run_crypto(size: int, function: Callable[..., _T], *args: object) -> _T:
    if size > THREAD_THRESHOLD:
        return await asyncio.to_thread(function, *args)
    return function(*args)


# --- Matrix → gateway ---------------------------------------------------------------


async def fetch_from_matrix(
    media: MatrixMedia, url: ContentURI | None, file: EncryptedFile | None
) -> bytes:
    """The plaintext of a Matrix attachment; raises `Unmappable` when it cannot be had."""
    source = file.url if file is not None else url
    if not isinstance(source, str) or not source.startswith("mxc://"):
        raise Unmappable("the message has no file attached")
    try:
        data = await media.download(source)
    except Exception as error:  # the core's transport may raise anything
        log.warning("downloading an attachment from the homeserver failed: %s",
                    type(error).__name__)
        raise Unmappable("the file could not be fetched from the homeserver") from error
    if file is None:
        return data
    return await _decrypt_matrix_attachment(data, file)


async def _decrypt_matrix_attachment(data: bytes, file: EncryptedFile) -> bytes:
    try:
        sha256 = file.hashes["sha256"]
        key = file.key.key
    except (KeyError, AttributeError, TypeError):
        raise Unmappable("the encrypted file has no key or hash") from None
    if getattr(file.key, "algorithm", "A256CTR") != "A256CTR":
        raise Unmappable("the file is encrypted with an unknown algorithm")
    try:
        return await _run_crypto(len(data), decrypt_attachment, data, key, sha256, file.iv)
    except (DecryptionError, ValueError, TypeError) as error:
        raise Unmappable("the file could not be decrypted: it is damaged or its key is wrong") \
            from error


async def host_for_gateway(
    media: GatewayMedia,
    kind: MediaKind,
    data: bytes,
    mime_type: str,
    thumbnail: bytes = b"",
) -> MediaRef:
    """Encrypt `data` for the gateway, host the blob, and describe it."""
    encrypted = await _run_crypto(len(data), encrypt_media, kind, data)
    try:
        path = await media.host(encrypted.blob)
    except Exception as error:
        log.warning("hosting a %s blob failed: %s", kind.value, type(error).__name__)
        raise Unmappable("the file could not be stored for the other side") from error
    return MediaRef(
        path=path,
        media_key=encrypted.media_key,
        sha256_plain=encrypted.sha256_plain,
        sha256_enc=encrypted.sha256_enc,
        length=encrypted.length,
        mime_type=mime_type,
        thumbnail=thumbnail,
    )


# --- gateway → Matrix ---------------------------------------------------------------


class MediaDownloadFailed(RuntimeError):
    """The gatekeeper's media host did not deliver the blob."""


def blob_size_bound(plain_length: int) -> int:
    """The largest blob a file of `plain_length` bytes encrypts to (padding + MAC)."""
    return (plain_length // _AES_BLOCK + 1) * _AES_BLOCK + MAC_LENGTH


async def fetch_from_gateway(media: GatewayMedia, kind: MediaKind, ref: MediaRef) -> bytes:
    """Download, verify and decrypt a blob.

    Raises `MediaDownloadFailed` or a `MediaCryptoError` subclass (hash, MAC,
    padding); never returns bytes that did not verify.
    """
    try:
        blob = await media.download(ref.path, blob_size_bound(ref.length))
    except Exception as error:
        log.warning("downloading a %s blob failed: %s", kind.value, type(error).__name__)
        raise MediaDownloadFailed(type(error).__name__) from error
    data = await _run_crypto(
        len(blob), decrypt_media, kind, blob, ref.media_key, ref.sha256_enc, ref.sha256_plain
    )
    return data


@attrs.frozen
class UploadedMedia:
    """Where an uploaded file is: `url` in plain rooms, `file` in encrypted ones."""

    url: ContentURI | None = None
    file: EncryptedFile | None = None

    def apply(self, content: dict[str, Any], url_key: str = "url",
              file_key: str = "file") -> None:
        if self.file is not None:
            content[file_key] = self.file.serialize()
        else:
            content[url_key] = self.url


async def upload_to_matrix(
    media: MatrixMedia, data: bytes, mime_type: str, filename: str | None, encrypted: bool
) -> UploadedMedia:
    """Upload a file; in encrypted rooms as a Matrix encrypted attachment."""
    if not encrypted:
        return UploadedMedia(url=await media.upload(data, mime_type, filename))
    ciphertext, file = await _run_crypto(len(data), encrypt_attachment, data)
    # The homeserver sees only ciphertext: no real type, no name.
    file.url = await media.upload(ciphertext, "application/octet-stream", None)
    return UploadedMedia(file=file)


__all__ = [
    "MediaCryptoError",
    "MediaDownloadFailed",
    "UploadedMedia",
    "blob_size_bound",
    "fetch_from_gateway",
    "fetch_from_matrix",
    "host_for_gateway",
    "upload_to_matrix",
]
