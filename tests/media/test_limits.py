"""Per-kind media size limits."""

from __future__ import annotations

import pytest

from bridge.content import MediaKind
from bridge.media.limits import MediaLimits, MediaTooLarge, MiB, format_size


def test_documented_defaults() -> None:
    limits = MediaLimits()
    assert {kind: limits.limit_for(kind) for kind in MediaKind} == {
        MediaKind.IMAGE: 16 * MiB,
        MediaKind.VIDEO: 64 * MiB,
        MediaKind.AUDIO: 16 * MiB,
        MediaKind.DOCUMENT: 100 * MiB,
        MediaKind.STICKER: 1 * MiB,
    }


@pytest.mark.parametrize("kind", list(MediaKind))
def test_at_the_limit_passes_and_one_byte_over_fails(kind: MediaKind) -> None:
    limits = MediaLimits()
    limit = limits.limit_for(kind)
    limits.check(kind, limit)
    with pytest.raises(MediaTooLarge) as caught:
        limits.check(kind, limit + 1)
    assert caught.value.kind is kind and caught.value.limit == limit


def test_reason_is_human_readable() -> None:
    with pytest.raises(MediaTooLarge) as caught:
        MediaLimits(video=10 * MiB).check(MediaKind.VIDEO, 12 * MiB + 512 * 1024)
    assert str(caught.value) == "The video is 12.5 MiB, larger than the 10 MiB limit for videos."


def test_capped_by_homeserver_limit() -> None:
    capped = MediaLimits().capped(20 * MiB)
    assert capped.document == 20 * MiB and capped.image == 16 * MiB
    assert MediaLimits().capped(None) == MediaLimits()


@pytest.mark.parametrize(
    ("size", "text"),
    [(0, "0 B"), (1023, "1023 B"), (1024, "1 KiB"), (1536, "1.5 KiB"), (16 * MiB, "16 MiB"),
     (3 * 1024 * MiB, "3 GiB")],
)
def test_format_size(size: int, text: str) -> None:
    assert format_size(size) == text


def test_limits_must_be_positive() -> None:
    with pytest.raises(ValueError):
        MediaLimits(image=0)
