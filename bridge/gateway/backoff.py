"""Reconnect delays: exponential backoff with jitter (pure; RNG injected for tests)."""

from __future__ import annotations

import random
from dataclasses import dataclass, field


@dataclass
class Backoff:
    """delay = min(cap, base * 2**attempt) * uniform(0.5, 1.0)  (docs §13, "equal jitter").

    Jitter spreads the reconnects of many users after a gateway restart; the lower bound of half
    the nominal delay keeps the growth exponential. A server's ``retry-after`` wins when longer.
    """

    base: float = 1.0
    cap: float = 300.0
    #: A connection that stayed open this long resets the schedule.
    reset_after: float = 60.0
    rng: random.Random = field(default_factory=random.Random)
    attempt: int = 0

    def next_delay(self, retry_after: float | None = None) -> float:
        nominal = min(self.cap, self.base * 2.0 ** min(self.attempt, 62))
        delay = nominal * (0.5 + 0.5 * self.rng.random())
        self.attempt += 1
        if retry_after is not None and retry_after > delay:
            return retry_after
        return delay

    def connection_lasted(self, seconds: float) -> None:
        if seconds >= self.reset_after:
            self.attempt = 0

    def reset(self) -> None:
        self.attempt = 0
