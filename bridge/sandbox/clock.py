"""Time source. Production uses the wall clock; tests and ``--test-clock`` runs use a movable one.

Everything time-dependent in the sandbox (retention, idle un-enlistment, token lifetimes it issues)
reads time through a :class:`Clock` so that a test can jump 30 days ahead without waiting.
"""

from __future__ import annotations

import time
from typing import Protocol


class Clock(Protocol):
    def now(self) -> float:
        """Seconds since the epoch."""


class SystemClock:
    def now(self) -> float:
        return time.time()


class AdjustableClock:
    """Wall clock plus an offset that only ever grows (time never runs backwards for the
    sandbox)."""

    def __init__(self, offset_seconds: float = 0.0) -> None:
        self.offset_seconds = offset_seconds

    def now(self) -> float:
        return time.time() + self.offset_seconds

    def advance(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError("the clock only moves forward")
        self.offset_seconds += seconds


def millis(clock: Clock) -> int:
    return int(clock.now() * 1000)


DAY_MS = 24 * 3600 * 1000
