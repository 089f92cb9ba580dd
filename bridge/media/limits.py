"""Size limits per media kind, checked before encrypting, uploading or bridging.

Defaults (bytes, binary units):

| kind     | default  | why                                                     |
|----------|----------|---------------------------------------------------------|
| image    | 16 MiB   | what mainstream messengers accept for photos            |
| video    | 64 MiB   | short clips; longer videos belong in documents          |
| audio    | 16 MiB   | voice notes are small; audio files share the image cap  |
| document | 100 MiB  | the common document cap of mainstream messengers        |
| sticker  | 1 MiB    | stickers are small WebP images, animated ones included  |

The homeserver's own upload limit (``m.upload.size``) applies on the Matrix
side too; the bridge should use the smaller of the two.
"""

from __future__ import annotations

import attrs

from bridge.content.models import MediaKind

MiB = 1024 * 1024


class MediaTooLarge(ValueError):
    """A file exceeds the limit for its kind; `str(error)` is fit for a notice."""

    def __init__(self, kind: MediaKind, size: int, limit: int) -> None:
        self.kind = kind
        self.size = size
        self.limit = limit
        super().__init__(
            f"The {kind.value} is {format_size(size)}, larger than the "
            f"{format_size(limit)} limit for {kind.value}s."
        )


def format_size(size: int) -> str:
    """Human-readable binary size: 512 B, 1.5 KiB, 16 MiB."""
    if size < 1024:
        return f"{size} B"
    value = float(size)
    for unit in ("KiB", "MiB", "GiB", "TiB"):
        value /= 1024
        if value < 1024 or unit == "TiB":
            break
    text = f"{value:.1f}".rstrip("0").rstrip(".")
    return f"{text} {unit}"


def _positive(instance: object, attribute: attrs.Attribute, value: int) -> None:
    if value <= 0:
        raise ValueError(f"{attribute.name} must be a positive number of bytes")


@attrs.frozen(kw_only=True)
class MediaLimits:
    """Maximum plaintext size in bytes for each media kind."""

    image: int = attrs.field(default=16 * MiB, validator=_positive)
    video: int = attrs.field(default=64 * MiB, validator=_positive)
    audio: int = attrs.field(default=16 * MiB, validator=_positive)
    document: int = attrs.field(default=100 * MiB, validator=_positive)
    sticker: int = attrs.field(default=1 * MiB, validator=_positive)

    def limit_for(self, kind: MediaKind) -> int:
        return getattr(self, kind.value)

    def check(self, kind: MediaKind, size: int) -> None:
        """Raise MediaTooLarge when `size` bytes exceed the limit for `kind`."""
        limit = self.limit_for(kind)
        if size > limit:
            raise MediaTooLarge(kind, size, limit)

    def capped(self, homeserver_limit: int | None) -> MediaLimits:
        """These limits, none above the homeserver's upload limit (if it has one)."""
        if homeserver_limit is None:
            return self
        return MediaLimits(
            **{kind.value: min(self.limit_for(kind), homeserver_limit) for kind in MediaKind}
        )
