"""Voice-message waveforms: Matrix (MSC1767, 0–1024) ⇄ gateway (≤ 64 samples, 0–100)."""

from __future__ import annotations

from collections.abc import Sequence

from bridge.content.models import WAVEFORM_MAX_SAMPLES

MATRIX_WAVEFORM_MAX = 1024
GATEWAY_WAVEFORM_MAX = 100


def waveform_to_gateway(samples: Sequence[object]) -> bytes:
    """A Matrix waveform reduced to at most 64 samples of 0–100.

    Each output sample is the peak of its slice, so short loud sounds survive
    the reduction. Values that are not numbers count as silence; values out
    of range are clamped.
    """
    values = [_clamp(value, MATRIX_WAVEFORM_MAX) for value in samples]
    if not values:
        return b""
    count = min(len(values), WAVEFORM_MAX_SAMPLES)
    peaks = []
    for index in range(count):
        start = index * len(values) // count
        end = max((index + 1) * len(values) // count, start + 1)
        peaks.append(max(values[start:end]))
    return bytes(round(peak * GATEWAY_WAVEFORM_MAX / MATRIX_WAVEFORM_MAX) for peak in peaks)


def waveform_to_matrix(samples: bytes) -> list[int]:
    """A gateway waveform scaled to Matrix's 0–1024."""
    return [
        round(min(sample, GATEWAY_WAVEFORM_MAX) * MATRIX_WAVEFORM_MAX / GATEWAY_WAVEFORM_MAX)
        for sample in samples
    ]


def _clamp(value: object, maximum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return 0
    if value != value:  # NaN
        return 0
    return int(min(max(value, 0), maximum))
