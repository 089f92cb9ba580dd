"""A gateway body → the content of one Matrix event (no relation yet).

Media is downloaded, verified, decrypted and uploaded here; a file that
cannot be bridged becomes a `Notice` naming the problem, never a broken
file. Returns plain dicts, the serialised event content.
"""

from __future__ import annotations

import logging
import mimetypes
import re
from typing import Any

import attrs
from mautrix.types import EventType

from bridge.content.models import (
    Address,
    Audio,
    Contact,
    Document,
    Image,
    Location,
    MediaKind,
    Sticker,
    Text,
    Video,
)
from bridge.formatting import MatrixText, RemoteToMatrixResolver, remote_to_matrix
from bridge.media import MediaCryptoError, MediaLimits
from bridge.media.limits import MediaTooLarge, format_size

from .geo import geo_uri
from .interfaces import GatewayMedia, MatrixMedia, PortalInfo
from .matrix_bodies import (
    AUDIO_KEY,
    AUTOPLAY_KEY,
    GIF_KEY,
    LOCATION_KEY,
    LOOP_KEY,
    NO_AUDIO_KEY,
    VOICE_KEY,
)
from .media_transfer import (
    MediaDownloadFailed,
    UploadedMedia,
    fetch_from_gateway,
    upload_to_matrix,
)
from .results import Notice
from .waveform import waveform_to_matrix

log = logging.getLogger("bridge.mapping.to_matrix")

GatewayBody = Text | Image | Video | Audio | Document | Location | Contact | Sticker

_NOUNS = {
    MediaKind.IMAGE: "An image",
    MediaKind.VIDEO: "A video",
    MediaKind.AUDIO: "An audio message",
    MediaKind.DOCUMENT: "A file",
    MediaKind.STICKER: "A sticker",
}
_DEFAULT_NAMES = {
    MediaKind.IMAGE: "image",
    MediaKind.VIDEO: "video",
    MediaKind.AUDIO: "audio",
    MediaKind.DOCUMENT: "file",
    MediaKind.STICKER: "sticker",
}
_MSGTYPES = {
    MediaKind.IMAGE: "m.image",
    MediaKind.VIDEO: "m.video",
    MediaKind.AUDIO: "m.audio",
    MediaKind.DOCUMENT: "m.file",
}
VOICE_MESSAGE_BODY = "Voice message"
JPEG_MAGIC = b"\xff\xd8\xff"
_UNSAFE_NAME = re.compile(r"[\x00-\x1f/\\]")


@attrs.frozen(kw_only=True)
class MatrixBody:
    """One Matrix event content, or a notice explaining why there is none."""

    event_type: EventType = EventType.ROOM_MESSAGE
    content: dict[str, Any] | None = attrs.field(default=None, repr=False)
    notice: Notice | None = None


@attrs.define(kw_only=True)
class GatewayBodyMapper:
    matrix_media: MatrixMedia
    gateway_media: GatewayMedia
    resolve_mention: RemoteToMatrixResolver
    limits: MediaLimits

    async def map_body(self, body: GatewayBody, portal: PortalInfo) -> MatrixBody:
        match body:
            case Text():
                return MatrixBody(content=self.text(body.text, body.mentions).to_content())
            case Image() | Video() | Audio() | Document() | Sticker():
                return await self._media(body, portal)
            case Location():
                return MatrixBody(content=_location(body))
            case Contact():
                return await self._contact(body, portal)
        raise TypeError(f"not a visible body: {type(body).__name__}")

    def text(self, text: str, mentions: tuple[Address, ...]) -> MatrixText:
        return remote_to_matrix(text, mentions, self.resolve_mention)

    # --- media ---------------------------------------------------------------------

    async def _media(
        self, body: Image | Video | Audio | Document | Sticker, portal: PortalInfo
    ) -> MatrixBody:
        kind, ref = body.kind, body.media
        filename = _filename(body)
        noun = _NOUNS[kind]
        limit = self.limits.capped(self.matrix_media.upload_limit).limit_for(kind)
        if ref.length > limit:
            return _too_large(noun, filename, MediaTooLarge(kind, ref.length, limit))
        try:
            data = await fetch_from_gateway(self.gateway_media, kind, ref)
        except MediaDownloadFailed:
            return MatrixBody(notice=Notice(text=f"{noun} could not be downloaded."))
        except MediaCryptoError as error:
            # The reason names which check failed (hash, MAC, padding), never content.
            log.warning("%s failed verification: %s", kind.value, type(error).__name__)
            return MatrixBody(notice=Notice(
                text=f"{noun} could not be verified and was not shown ({error})."
            ))
        if len(data) > limit:
            return _too_large(noun, filename, MediaTooLarge(kind, len(data), limit))
        try:
            uploaded = await upload_to_matrix(
                self.matrix_media, data, ref.mime_type, filename, portal.encrypted
            )
            # The inline preview is announced as JPEG; anything else is not shown as one.
            thumbnail = (await self._thumbnail(ref.thumbnail, portal)
                         if ref.thumbnail.startswith(JPEG_MAGIC) else None)
        except Exception as error:  # noqa: BLE001 - the core's transport may raise anything
            log.warning("uploading a %s to the homeserver failed: %s", kind.value,
                        type(error).__name__)
            return MatrixBody(notice=Notice(text=f"{noun} could not be uploaded to Matrix."))
        info: dict[str, Any] = {"mimetype": ref.mime_type, "size": len(data)}
        if thumbnail is not None:
            thumbnail.apply(info, "thumbnail_url", "thumbnail_file")
            info["thumbnail_info"] = {"mimetype": "image/jpeg", "size": len(ref.thumbnail)}
        if isinstance(body, Sticker):
            content: dict[str, Any] = {"body": "Sticker", "info": info}
            _dimensions(info, body.width, body.height)
            uploaded.apply(content)
            return MatrixBody(event_type=EventType.STICKER, content=content)
        content = {"msgtype": _MSGTYPES[kind], "body": filename, "filename": filename,
                   "info": info}
        uploaded.apply(content)
        if isinstance(body, Image | Video):
            _dimensions(info, body.width, body.height)
        if isinstance(body, Video) and body.gif_playback:
            info.update({GIF_KEY: True, LOOP_KEY: True, AUTOPLAY_KEY: True, NO_AUDIO_KEY: True})
        if isinstance(body, Video | Audio) and body.duration_seconds:
            info["duration"] = body.duration_seconds * 1000
        if isinstance(body, Audio) and body.voice_note:
            # As Matrix clients send voice messages: a plain label, no file name.
            content["body"] = VOICE_MESSAGE_BODY
            del content["filename"]
            content[VOICE_KEY] = {}
            content[AUDIO_KEY] = {
                "duration": body.duration_seconds * 1000,
                "waveform": waveform_to_matrix(body.waveform),
            }
        caption = getattr(body, "caption", "")
        if caption:
            # MSC2530: a body that differs from the filename is the caption.
            text = self.text(caption, body.mentions)  # type: ignore[union-attr]
            content.update(text.to_content(_MSGTYPES[kind]))
        else:
            content["m.mentions"] = {}
        return MatrixBody(content=content)

    async def _thumbnail(self, thumbnail: bytes, portal: PortalInfo) -> UploadedMedia:
        return await upload_to_matrix(
            self.matrix_media, thumbnail, "image/jpeg", "thumbnail.jpg", portal.encrypted
        )

    async def _contact(self, body: Contact, portal: PortalInfo) -> MatrixBody:
        data = body.vcard.encode("utf-8")
        name = _safe_name(body.display_name or "contact") + ".vcf"
        limit = self.limits.capped(self.matrix_media.upload_limit).document
        if len(data) > limit:
            return _too_large("A contact", name,
                              MediaTooLarge(MediaKind.DOCUMENT, len(data), limit))
        try:
            uploaded = await upload_to_matrix(
                self.matrix_media, data, "text/vcard", name, portal.encrypted
            )
        except Exception as error:  # noqa: BLE001 - the core's transport may raise anything
            log.warning("uploading a contact failed: %s", type(error).__name__)
            return MatrixBody(notice=Notice(text="A contact could not be uploaded to Matrix."))
        content: dict[str, Any] = {
            "msgtype": "m.file",
            "body": body.display_name or name,
            "filename": name,
            "info": {"mimetype": "text/vcard", "size": len(data)},
            "m.mentions": {},
        }
        uploaded.apply(content)
        return MatrixBody(content=content)


def _location(body: Location) -> dict[str, Any]:
    uri = geo_uri(body.latitude, body.longitude)
    description = "\n".join(part for part in (body.name, body.address) if part)
    return {
        "msgtype": "m.location",
        "body": description or f"Location: {uri}",
        "geo_uri": uri,
        LOCATION_KEY: {"uri": uri, **({"description": description} if description else {})},
        "m.mentions": {},
    }


def _too_large(noun: str, filename: str, error: MediaTooLarge) -> MatrixBody:
    return MatrixBody(notice=Notice(
        text=f"{noun} ({filename}, {format_size(error.size)}) was too large to bridge: {error}"
    ))


def _dimensions(info: dict[str, Any], width: int, height: int) -> None:
    if width and height:
        info["w"], info["h"] = width, height


def _safe_name(name: str) -> str:
    return _UNSAFE_NAME.sub("_", name).strip(". ") or "file"


def _filename(body: Image | Video | Audio | Document | Sticker) -> str:
    if isinstance(body, Document) and body.file_name:
        return _safe_name(body.file_name)
    base = _DEFAULT_NAMES[body.kind]
    mime = body.media.mime_type.split(";")[0].strip().lower()
    extension = {"audio/ogg": ".ogg", "image/jpeg": ".jpg"}.get(mime) \
        or mimetypes.guess_extension(mime) or ""
    return base + extension
