"""Putting real files where the mapping fetches them, and reading back what it uploaded."""

from __future__ import annotations

from typing import Any

from mautrix.crypto.attachments import decrypt_attachment, encrypt_attachment

from bridge.content.models import MediaKind, MediaRef
from bridge.media import decrypt_media, encrypt_media

from .fakes import InMemoryGatewayMedia, InMemoryMatrixMedia


def matrix_source(media: InMemoryMatrixMedia, data: bytes, encrypted: bool) -> dict[str, Any]:
    """The `url` or `file` part of a Matrix media event for `data`."""
    if not encrypted:
        return {"url": media.put(data)}
    ciphertext, file = encrypt_attachment(data)
    file.url = media.put(ciphertext)
    return {"file": file.serialize()}


def read_matrix_file(media: InMemoryMatrixMedia, content: dict[str, Any],
                     url_key: str = "url", file_key: str = "file") -> bytes:
    """What a Matrix client would get for an uploaded file (decrypting `file`)."""
    if file_key in content:
        file = content[file_key]
        stored = media.files[file["url"]][0]
        return decrypt_attachment(stored, file["key"]["k"], file["hashes"]["sha256"], file["iv"])
    return media.files[content[url_key]][0]


def gateway_ref(media: InMemoryGatewayMedia, kind: MediaKind, data: bytes, mime: str,
                thumbnail: bytes = b"", path: str = "/v/t62.1234-24/abc") -> MediaRef:
    """A blob on the gatekeeper's media host, as a gateway message describes it."""
    encrypted = encrypt_media(kind, data)
    media.blobs[path] = encrypted.blob
    return MediaRef(path=path, media_key=encrypted.media_key,
                    sha256_plain=encrypted.sha256_plain, sha256_enc=encrypted.sha256_enc,
                    length=encrypted.length, mime_type=mime, thumbnail=thumbnail)


def read_hosted(media: InMemoryGatewayMedia, kind: MediaKind, ref: MediaRef) -> bytes:
    """What the gatekeeper's receiver gets from a blob the bridge hosted."""
    return decrypt_media(kind, media.blobs[ref.path], ref.media_key, ref.sha256_enc,
                         ref.sha256_plain)
