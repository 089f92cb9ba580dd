"""When to reconnect after a channel ended, and how long to wait first (pure: no clock, no
asyncio; the jitter's randomness comes from the :class:`~.backoff.Backoff`'s injected RNG).

Rules (docs/gateway-protocol.md §13):

- A channel that went idle, or whose owner asked to stop, is not reopened until woken.
- Refused with 401: once per run, retry at once with a fresh identity token; a second 401 stops.
- Refused or ended with 400, 403, 406 or 440, or ended with 401: stop; only the user or the
  operator can change that (a wake starts a new run).
- Everything else backs off exponentially with jitter; a server's ``retry-after`` wins when
  longer, clamped to :attr:`ReconnectPolicy.retry_after_limit`. A connection that stayed open
  long enough resets the schedule.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from .backoff import Backoff
from .connection_types import ChannelEnd, EndKind
from .errors import ErrorCode, ErrorInfo

#: Refusals after which retrying cannot help until something changes.
FATAL_CODES = frozenset({ErrorCode.BAD_REQUEST, ErrorCode.VERSION_UNSUPPORTED,
                         ErrorCode.CONNECTION_REPLACED, ErrorCode.NOT_OPTED_IN})
#: The clamp of a server's ``retry-after`` is the backoff cap but never below this: a short cap
#: is a choice about our own schedule (tests use 0.2 s), and an overloaded gateway asking for a
#: minute should get it. Only absurd values (``inf``, ``1e300``) are cut.
RETRY_AFTER_LIMIT_FLOOR = 300.0


@dataclass(frozen=True, slots=True)
class GoIdle:
    """Do not reconnect until woken; not an error."""


@dataclass(frozen=True, slots=True)
class GiveUp:
    """Stop: ``error`` needs the user or the operator."""

    error: ErrorInfo


@dataclass(frozen=True, slots=True)
class ReconnectNow:
    """The gateway rejected the identity token: invalidate it and try again without waiting."""


@dataclass(frozen=True, slots=True)
class Reconnect:
    """Wait ``delay`` seconds, then connect again."""

    delay: float
    error: ErrorInfo | None


Decision = GoIdle | GiveUp | ReconnectNow | Reconnect


class ReconnectPolicy:
    def __init__(self, backoff: Backoff | None = None, *,
                 retry_after_limit: float | None = None) -> None:
        self.backoff = backoff or Backoff()
        self._retry_after_limit = retry_after_limit
        self._token_refreshed = False

    @property
    def retry_after_limit(self) -> float:
        """The longest ``retry-after`` honoured (the cap is read now: it may be changed)."""
        if self._retry_after_limit is not None:
            return self._retry_after_limit
        return max(self.backoff.cap, RETRY_AFTER_LIMIT_FLOOR)

    def run_started(self) -> None:
        """A wake started a new run of attempts: a fresh token may be tried once more."""
        self._token_refreshed = False

    def clamp_retry_after(self, seconds: float | None) -> float | None:
        """A server's ``retry-after`` made safe to wait: non-finite (``inf``, ``nan``) and too
        long become the limit, negative becomes 0."""
        if seconds is None:
            return None
        limit = self.retry_after_limit
        if not math.isfinite(seconds):
            return limit
        return min(max(seconds, 0.0), limit)

    def connection_ended(self, end: ChannelEnd, *, opened: bool, lasted: float,
                         stop_requested: bool = False) -> Decision:
        """One attempt is over: it ``opened`` (or not) and ``lasted`` seconds in all."""
        self.backoff.connection_lasted(lasted if opened else 0.0)
        if end.kind is EndKind.IDLE or stop_requested:
            return GoIdle()
        error = end.error
        if end.kind is EndKind.ENDED and error is not None and (
                error.code == ErrorCode.NOT_AUTHORIZED or error.code in FATAL_CODES):
            # Ended by the server after admission (deleted, un-enlisted, replaced): a fresh
            # token cannot help.
            return GiveUp(error)
        if end.kind is EndKind.REFUSED and error is not None:
            if error.code == ErrorCode.NOT_AUTHORIZED and not self._token_refreshed:
                self._token_refreshed = True
                return ReconnectNow()
            if error.code in FATAL_CODES or error.code == ErrorCode.NOT_AUTHORIZED:
                return GiveUp(error)
        if opened:
            self._token_refreshed = False
        retry_after = self.clamp_retry_after(error.retry_after if error else None)
        return Reconnect(self.backoff.next_delay(retry_after), error)
