"""Small real media files; they live in the package, where the scripted demo uses them too."""

from bridge.devstack.samples import (
    VCARD,
    document,
    jpeg_thumbnail,
    mp3,
    mp4,
    ogg_opus,
    png,
    webp,
)

__all__ = ["VCARD", "document", "jpeg_thumbnail", "mp3", "mp4", "ogg_opus", "png", "webp"]
