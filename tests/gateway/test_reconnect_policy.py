"""When and how soon to reconnect, on the pure policy: deterministic with an injected RNG."""

from __future__ import annotations

import math
import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bridge.gateway.backoff import Backoff
from bridge.gateway.connection_types import ChannelEnd, EndKind
from bridge.gateway.errors import ErrorCode, ErrorInfo
from bridge.gateway.reconnect import (
    RETRY_AFTER_LIMIT_FLOOR,
    GiveUp,
    GoIdle,
    Reconnect,
    ReconnectNow,
    ReconnectPolicy,
)

from .test_backoff import FixedRandom

FAILED = ChannelEnd(EndKind.FAILED)


def policy(draw: float = 0.5, *, base: float = 1.0, cap: float = 300.0) -> ReconnectPolicy:
    return ReconnectPolicy(Backoff(base=base, cap=cap, rng=FixedRandom(draw)))


def refused(code: int, retry_after: float | None = None) -> ChannelEnd:
    return ChannelEnd(EndKind.REFUSED, ErrorInfo(code, "no", retry_after))


def ended(code: int, retry_after: float | None = None) -> ChannelEnd:
    return ChannelEnd(EndKind.ENDED, ErrorInfo(code, "bye", retry_after))


def delay_after(subject: ReconnectPolicy, end: ChannelEnd = FAILED, *,
                opened: bool = False, lasted: float = 0.0) -> float:
    decision = subject.connection_ended(end, opened=opened, lasted=lasted)
    assert isinstance(decision, Reconnect), decision
    return decision.delay


# -- backoff ------------------------------------------------------------------------------------


def test_failures_back_off_exponentially_up_to_the_cap() -> None:
    highest, lowest = policy(0.999999, cap=60), policy(0.0, cap=60)
    assert [round(delay_after(highest), 3) for _ in range(8)] == [1, 2, 4, 8, 16, 32, 60, 60]
    assert [delay_after(lowest) for _ in range(8)] == [0.5, 1, 2, 4, 8, 16, 30, 30]


@given(st.integers(0, 64), st.integers(0, 2**32))
def test_jitter_stays_within_half_and_all_of_the_nominal_delay(attempts: int, seed: int) -> None:
    subject = ReconnectPolicy(Backoff(base=1, cap=300, rng=random.Random(seed)))
    for _ in range(attempts):
        subject.connection_ended(FAILED, opened=False, lasted=0.0)
    nominal = min(300.0, 2.0 ** attempts)
    assert nominal / 2 <= delay_after(subject) <= nominal


def test_the_same_seed_gives_the_same_schedule() -> None:
    first, second = (ReconnectPolicy(Backoff(rng=random.Random(7))) for _ in range(2))
    assert [delay_after(first) for _ in range(6)] == [delay_after(second) for _ in range(6)]


def test_a_connection_that_stayed_open_resets_the_schedule() -> None:
    subject = policy()
    for _ in range(4):
        delay_after(subject)
    assert delay_after(subject, opened=True, lasted=59.0) == 0.75 * 16  # not long enough
    assert delay_after(subject, opened=True, lasted=60.0) == 0.75
    # Time spent failing to connect is not time open.
    delay_after(subject)
    assert delay_after(subject, opened=False, lasted=600.0) == 0.75 * 4


# -- retry-after ----------------------------------------------------------------------------------


def test_a_longer_retry_after_wins_a_shorter_one_does_not() -> None:
    subject = policy()
    assert delay_after(subject, refused(ErrorCode.RATE_LIMITED, 30.0)) == 30.0
    assert delay_after(subject, ended(ErrorCode.UNAVAILABLE, 0.1)) == 1.5


def test_retry_after_beats_a_short_cap() -> None:
    # The in-test gateway's connections use a 0.2 s cap and rely on this.
    assert delay_after(policy(cap=0.2), refused(ErrorCode.RATE_LIMITED, 1.0)) == 1.0


@pytest.mark.parametrize("seconds", [math.inf, math.nan, 1e300, 10_000.0])
def test_absurd_retry_after_is_clamped_to_the_limit(seconds: float) -> None:
    subject = policy()
    assert subject.retry_after_limit == 300.0
    assert delay_after(subject, refused(ErrorCode.RATE_LIMITED, seconds)) == 300.0


def test_a_negative_retry_after_is_ignored() -> None:
    assert delay_after(policy(), ended(ErrorCode.UNAVAILABLE, -5.0)) == 0.75


def test_the_limit_is_the_cap_but_never_below_the_floor() -> None:
    assert policy(cap=900).retry_after_limit == 900
    assert policy(cap=0.2).retry_after_limit == RETRY_AFTER_LIMIT_FLOOR
    explicit = ReconnectPolicy(Backoff(cap=0.2, rng=FixedRandom(0.5)), retry_after_limit=2.0)
    assert delay_after(explicit, refused(ErrorCode.RATE_LIMITED, math.inf)) == 2.0


@given(st.one_of(st.none(), st.floats(allow_nan=True, allow_infinity=True)))
def test_the_clamped_retry_after_is_always_a_finite_wait(seconds: float | None) -> None:
    subject = policy()
    clamped = subject.clamp_retry_after(seconds)
    if seconds is None:
        assert clamped is None
    else:
        assert clamped is not None and 0.0 <= clamped <= subject.retry_after_limit
    assert 0.0 <= delay_after(subject, ended(ErrorCode.UNAVAILABLE, seconds)) <= 300.0


# -- when to stop ---------------------------------------------------------------------------------


def test_an_idle_channel_or_a_stop_request_does_not_reconnect() -> None:
    subject = policy()
    assert subject.connection_ended(ChannelEnd(EndKind.IDLE), opened=True,
                                    lasted=5.0) == GoIdle()
    assert subject.connection_ended(FAILED, opened=True, lasted=5.0,
                                    stop_requested=True) == GoIdle()
    assert subject.backoff.attempt == 0


def test_a_rejected_token_is_refreshed_once_per_run() -> None:
    subject = policy()
    unauthorized = refused(ErrorCode.NOT_AUTHORIZED)
    assert subject.connection_ended(unauthorized, opened=False, lasted=0.1) == ReconnectNow()
    assert subject.backoff.attempt == 0  # at once, without a backoff step
    assert subject.connection_ended(unauthorized, opened=False, lasted=0.1) == GiveUp(
        unauthorized.error)
    subject.run_started()  # woken again
    assert subject.connection_ended(unauthorized, opened=False, lasted=0.1) == ReconnectNow()


def test_a_connection_that_opened_allows_another_token_refresh() -> None:
    subject = policy()
    unauthorized = refused(ErrorCode.NOT_AUTHORIZED)
    subject.connection_ended(unauthorized, opened=False, lasted=0.1)
    delay_after(subject, opened=True, lasted=1.0)
    assert subject.connection_ended(unauthorized, opened=False, lasted=0.1) == ReconnectNow()


@pytest.mark.parametrize("code", [ErrorCode.BAD_REQUEST, ErrorCode.NOT_OPTED_IN,
                                  ErrorCode.VERSION_UNSUPPORTED, ErrorCode.CONNECTION_REPLACED])
def test_refusals_that_need_the_user_give_up(code: ErrorCode) -> None:
    end = refused(code)
    assert policy().connection_ended(end, opened=False, lasted=0.1) == GiveUp(
        end.error)


@pytest.mark.parametrize("code", [ErrorCode.NOT_AUTHORIZED, ErrorCode.BAD_REQUEST,
                                  ErrorCode.NOT_OPTED_IN, ErrorCode.CONNECTION_REPLACED])
def test_stream_errors_that_need_the_user_give_up_without_a_token_refresh(code: int) -> None:
    end = ended(code)
    assert policy().connection_ended(end, opened=True, lasted=3.0) == GiveUp(
        end.error)


@pytest.mark.parametrize("end", [FAILED, ended(ErrorCode.UNAVAILABLE), ended(ErrorCode.INTERNAL),
                                 refused(ErrorCode.RATE_LIMITED), refused(ErrorCode.UNKNOWN_USER)])
def test_everything_else_backs_off(end: ChannelEnd) -> None:
    decision = policy().connection_ended(end, opened=False, lasted=0.0)
    assert decision == Reconnect(0.75, end.error)
