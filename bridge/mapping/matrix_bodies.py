"""The body of one Matrix message → a content model (no reply, no relation).

Used for new messages and for the new content of edits. Media is fetched,
checked against the protocol's limits, encrypted and hosted here.
"""

from __future__ import annotations

import logging
import mimetypes
from typing import Any

import attrs
from mautrix.types import (
    LocationMessageEventContent,
    MediaMessageEventContent,
    MessageType,
    TextMessageEventContent,
)

from bridge.content.models import (
    Address,
    Audio,
    Document,
    Image,
    Location,
    MediaKind,
    Sticker,
    Text,
    Video,
)
from bridge.formatting import MatrixToRemoteResolver, matrix_to_remote
from bridge.media import MediaLimits, MediaTooLarge
from bridge.media.convert import ConversionError, measure_audio, to_voice_note
from bridge.media.limits import format_size

from .errors import TooLargeToSend, Unmappable
from .geo import parse_geo_uri
from .interfaces import GatewayMedia, MatrixMedia, PortalInfo
from .media_transfer import fetch_from_matrix, host_for_gateway
from .probe import MediaShape, probe_media
from .waveform import waveform_to_gateway

log = logging.getLogger("bridge.mapping.to_gateway")

VOICE_KEY = "org.matrix.msc3245.voice"
AUDIO_KEY = "org.matrix.msc1767.audio"
LOCATION_KEY = "org.matrix.msc3488.location"
# Matrix has no GIF type: looping silent videos carry these info flags.
GIF_KEY = "fi.mau.gif"
LOOP_KEY = "fi.mau.loop"
AUTOPLAY_KEY = "fi.mau.autoplay"
NO_AUDIO_KEY = "fi.mau.no_audio"
SPOILER_WARNING = "The spoiler was sent in clear: the other side has no spoilers."
# Inline thumbnails are small JPEG previews; larger ones are not worth a message's bytes.
THUMBNAIL_MAX = 64 * 1024

_MEDIA_KINDS = {
    MessageType.IMAGE: MediaKind.IMAGE,
    MessageType.VIDEO: MediaKind.VIDEO,
    MessageType.AUDIO: MediaKind.AUDIO,
    MessageType.FILE: MediaKind.DOCUMENT,
}

MatrixBody = Text | Image | Video | Audio | Document | Location | Sticker


@attrs.frozen(kw_only=True)
class MappedBody:
    body: MatrixBody
    warnings: tuple[str, ...] = ()
    hosted_paths: tuple[str, ...] = ()


@attrs.define(kw_only=True)
class BodyMapper:
    """Maps one message body; holds the injected services, no state of its own."""

    matrix_media: MatrixMedia
    gateway_media: GatewayMedia
    resolve_mention: MatrixToRemoteResolver
    limits: MediaLimits

    async def map_message(self, content: Any, portal: PortalInfo) -> MappedBody:
        msgtype = getattr(content, "msgtype", None)
        if isinstance(content, TextMessageEventContent) and msgtype in (
            MessageType.TEXT, MessageType.NOTICE, MessageType.EMOTE
        ):
            return await self._text(content, portal)
        if isinstance(content, MediaMessageEventContent) and msgtype in _MEDIA_KINDS:
            return await self._media(content, _MEDIA_KINDS[msgtype])
        if isinstance(content, LocationMessageEventContent):
            return MappedBody(body=self._location(content))
        raise Unmappable("this kind of message is not supported")

    async def map_sticker(self, content: MediaMessageEventContent) -> MappedBody:
        mime = _mime_type(content)
        if mime != "image/webp":
            # The gateway's stickers are WebP; anything else goes as a picture.
            return await self._media(content, MediaKind.IMAGE, with_caption=False)
        data = await self._fetch(content, MediaKind.STICKER)
        ref = await host_for_gateway(self.gateway_media, MediaKind.STICKER, data, mime)
        info = content.info
        return MappedBody(
            body=Sticker(
                media=ref,
                width=_int(getattr(info, "width", None)),
                height=_int(getattr(info, "height", None)),
                animated=is_animated_webp(data),
            ),
            hosted_paths=(ref.path,),
        )

    # --- text ----------------------------------------------------------------------

    async def _text(self, content: TextMessageEventContent, portal: PortalInfo) -> MappedBody:
        remote = await matrix_to_remote(
            string(content.body), optional_string(content.formatted_body), self.resolve_mention,
            format=_format(content),
        )
        text = remote.text
        if content.msgtype == MessageType.EMOTE:
            name = portal.user_displayname or portal.user_id.removeprefix("@").split(":")[0]
            text = f"* {name} {text}"
        if not text.strip():
            raise Unmappable("an empty message cannot be sent")
        return MappedBody(
            body=Text(text=text, mentions=remote.mentions),
            warnings=_spoiler_warning(optional_string(content.formatted_body)),
        )

    async def _caption(
        self, content: MediaMessageEventContent,
    ) -> tuple[str, tuple[Address, ...], tuple[str, ...]]:
        """(caption, mentions, warnings): MSC2530, a body that differs from the filename."""
        body, filename = string(content.body), string(content.filename)
        if not filename or body == filename or not body:
            return "", (), ()
        formatted_body = optional_string(content.formatted_body)
        remote = await matrix_to_remote(
            body, formatted_body, self.resolve_mention, format=_format(content)
        )
        return remote.text, remote.mentions, _spoiler_warning(formatted_body)

    # --- media ---------------------------------------------------------------------

    async def _fetch(self, content: MediaMessageEventContent, kind: MediaKind) -> bytes:
        declared = getattr(content.info, "size", None)
        if isinstance(declared, int) and not isinstance(declared, bool) and declared > 0:
            # Refuse before downloading when the sender's client already says it is too big.
            self._check(kind, declared)
        data = await fetch_from_matrix(self.matrix_media, content.url, content.file)
        self._check(kind, len(data))
        return data

    def _check(self, kind: MediaKind, size: int) -> None:
        try:
            self.limits.check(kind, size)
        except MediaTooLarge as error:
            raise TooLargeToSend(
                f"the {kind.value} is too large to send ({format_size(error.size)}, over the "
                f"{format_size(error.limit)} limit for {kind.value}s)"
            ) from error

    async def _media(
        self, content: MediaMessageEventContent, kind: MediaKind, with_caption: bool = True
    ) -> MappedBody:
        if kind is MediaKind.AUDIO and VOICE_KEY in content:
            return await self._voice(content)
        data = await self._fetch(content, kind)
        caption = ""
        mentions: tuple[Address, ...] = ()
        warnings: tuple[str, ...] = ()
        if with_caption:
            caption, mentions, warnings = await self._caption(content)
        thumbnail = await self._thumbnail(content) if kind is not MediaKind.AUDIO else b""
        ref = await host_for_gateway(
            self.gateway_media, kind, data, _mime_type(content), thumbnail
        )
        info = content.info
        shape = await self._shape(kind, data, info)
        body: MatrixBody
        if kind is MediaKind.IMAGE:
            body = Image(media=ref, caption=caption, mentions=mentions, width=shape.width,
                         height=shape.height)
        elif kind is MediaKind.VIDEO:
            body = Video(
                media=ref, caption=caption, mentions=mentions, width=shape.width,
                height=shape.height, duration_seconds=shape.duration_seconds,
                gif_playback=_is_gif_like(info),
            )
        elif kind is MediaKind.AUDIO:
            body = Audio(media=ref, duration_seconds=shape.duration_seconds)
        else:
            body = Document(
                media=ref, file_name=string(content.filename) or string(content.body),
                caption=caption, mentions=mentions,
            )
        return MappedBody(body=body, warnings=warnings, hosted_paths=(ref.path,))

    @staticmethod
    async def _shape(kind: MediaKind, data: bytes, info: object) -> MediaShape:
        """Dimensions and duration from `info`, measured with ffprobe when missing."""
        declared = MediaShape(
            width=_int(getattr(info, "width", None)),
            height=_int(getattr(info, "height", None)),
            duration_seconds=_seconds(getattr(info, "duration", None)),
        )
        needs_size = kind in (MediaKind.IMAGE, MediaKind.VIDEO) and not (
            declared.width and declared.height
        )
        needs_duration = kind in (MediaKind.VIDEO, MediaKind.AUDIO) and not (
            declared.duration_seconds
        )
        if not (needs_size or needs_duration):
            return declared
        measured = await probe_media(data)
        return MediaShape(
            width=declared.width if not needs_size else measured.width,
            height=declared.height if not needs_size else measured.height,
            duration_seconds=declared.duration_seconds or measured.duration_seconds,
        )

    async def _voice(self, content: MediaMessageEventContent) -> MappedBody:
        """MSC3245 voice message → voice note: Ogg/Opus, duration, 64-sample waveform."""
        data = await self._fetch(content, MediaKind.AUDIO)
        extensible = _mapping(content.get(AUDIO_KEY))
        try:
            if is_ogg_opus(data):
                mime = "audio/ogg; codecs=opus"
                waveform = waveform_to_gateway(extensible.get("waveform") or [])
                duration = _seconds(extensible.get("duration"))
                if not waveform or not duration:
                    duration, waveform = await measure_audio(data)
            else:
                note = await to_voice_note(data)
                data, mime = note.data, note.mime_type
                duration, waveform = note.duration_seconds, note.waveform
        except ConversionError as error:
            log.warning("voice message conversion failed: %s", error)
            raise Unmappable("the voice message could not be converted to Ogg/Opus") from error
        self._check(MediaKind.AUDIO, len(data))
        ref = await host_for_gateway(self.gateway_media, MediaKind.AUDIO, data, mime)
        return MappedBody(
            body=Audio(media=ref, duration_seconds=duration, voice_note=True, waveform=waveform),
            hosted_paths=(ref.path,),
        )

    async def _thumbnail(self, content: MediaMessageEventContent) -> bytes:
        """A small JPEG thumbnail the sender's client made, or nothing."""
        info = content.info
        thumb_info = getattr(info, "thumbnail_info", None)
        url, file = getattr(info, "thumbnail_url", None), getattr(info, "thumbnail_file", None)
        if not (url or file) or thumb_info is None or thumb_info.mimetype != "image/jpeg":
            return b""
        if not _int(thumb_info.size) or thumb_info.size > THUMBNAIL_MAX:
            return b""
        try:
            data = await fetch_from_matrix(self.matrix_media, url, file)
        except Unmappable:
            return b""  # a thumbnail is a nicety; the file itself still goes
        return data if len(data) <= THUMBNAIL_MAX else b""

    # --- location ------------------------------------------------------------------

    @staticmethod
    def _location(content: LocationMessageEventContent) -> Location:
        extensible = _mapping(content.get(LOCATION_KEY))
        coordinates = parse_geo_uri(string(content.geo_uri) or string(extensible.get("uri")))
        if coordinates is None:
            raise Unmappable("the location could not be read")
        description = optional_string(extensible.get("description"))
        body = string(content.body)
        name = description if description is not None else ("" if "geo:" in body else body)
        return Location(latitude=coordinates[0], longitude=coordinates[1], name=name)


def string(value: object) -> str:
    """A field that should be a string; event contents are not validated by mautrix."""
    return value if isinstance(value, str) else ""


def optional_string(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _format(content: object) -> str | None:
    """The body format as a string (mautrix gives its `Format` enum for known ones)."""
    value = getattr(content, "format", None)
    return optional_string(getattr(value, "value", value))


def _mapping(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _spoiler_warning(formatted_body: str | None) -> tuple[str, ...]:
    return (SPOILER_WARNING,) if formatted_body and "data-mx-spoiler" in formatted_body else ()


def _mime_type(content: MediaMessageEventContent) -> str:
    declared = getattr(content.info, "mimetype", None)
    if isinstance(declared, str) and "/" in declared:
        return declared
    guessed, _ = mimetypes.guess_type(string(content.filename) or string(content.body))
    return guessed or "application/octet-stream"


def _int(value: object) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


def _seconds(milliseconds: object) -> int:
    """Matrix durations are milliseconds; the gateway's whole seconds (at least 1)."""
    if isinstance(milliseconds, bool) or not isinstance(milliseconds, int | float):
        return 0
    if milliseconds != milliseconds or milliseconds <= 0:
        return 0
    return max(1, round(milliseconds / 1000))


def _is_gif_like(info: object) -> bool:
    """A video shown as a looping GIF: the ``fi.mau.gif`` / ``fi.mau.loop`` info flags
    that Matrix clients and bridges use for it."""
    serialized = info.serialize() if hasattr(info, "serialize") else {}
    return serialized.get(GIF_KEY) is True or serialized.get(LOOP_KEY) is True


def is_ogg_opus(data: bytes) -> bool:
    """An Ogg stream whose first page holds an Opus header."""
    return data.startswith(b"OggS") and b"OpusHead" in data[:128]


def is_animated_webp(data: bytes) -> bool:
    """A WebP with the extended header's animation flag set."""
    return (
        len(data) >= 21 and data[:4] == b"RIFF" and data[8:12] == b"WEBP"
        and data[12:16] == b"VP8X" and bool(data[20] & 0x02)
    )

