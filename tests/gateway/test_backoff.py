"""Reconnect backoff: deterministic with an injected RNG."""

from __future__ import annotations

import random

from hypothesis import given
from hypothesis import strategies as st

from bridge.gateway.backoff import Backoff


class FixedRandom(random.Random):
    def __init__(self, value: float) -> None:
        super().__init__()
        self.value = value

    def random(self) -> float:
        return self.value


def test_schedule_doubles_up_to_the_cap() -> None:
    upper = Backoff(base=1, cap=300, rng=FixedRandom(0.999999))
    lower = Backoff(base=1, cap=300, rng=FixedRandom(0.0))
    highs = [round(upper.next_delay(), 3) for _ in range(11)]
    lows = [lower.next_delay() for _ in range(11)]
    assert highs == [1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 300.0, 300.0]
    assert lows == [0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 150.0, 150.0]


def test_seeded_rng_gives_the_same_schedule() -> None:
    first = [Backoff(rng=random.Random(42)).next_delay() for _ in range(1)]
    a, b = Backoff(rng=random.Random(42)), Backoff(rng=random.Random(42))
    assert [a.next_delay() for _ in range(8)] == [b.next_delay() for _ in range(8)]
    assert first[0] == Backoff(rng=random.Random(42)).next_delay()


def test_retry_after_wins_when_longer_and_reset_after_stable_connection() -> None:
    backoff = Backoff(base=1, cap=300, rng=FixedRandom(0.5))
    assert backoff.next_delay(retry_after=30) == 30
    assert backoff.next_delay(retry_after=0.1) == 1.5  # 2 * 0.75
    backoff.connection_lasted(5)
    assert backoff.attempt == 2
    backoff.connection_lasted(60)
    assert backoff.attempt == 0


@given(st.integers(0, 2000), st.floats(0, 1, exclude_max=True))
def test_delay_always_within_bounds(attempt: int, draw: float) -> None:
    backoff = Backoff(base=1, cap=300, rng=FixedRandom(draw), attempt=attempt)
    assert 0.5 <= backoff.next_delay() <= 300
