"""The stanza rules of one open chat channel as a sans-I/O state machine (in the manner of h11).

:class:`StanzaSession` sees parsed stanzas, never bytes or sockets, and never reads a clock: every
input that depends on time takes ``now``. It answers with a tuple of effects for the shell to
carry out (:mod:`.session` does, over aiohttp) and tells it when to wake up next
(:meth:`StanzaSession.next_deadline`). The rules (docs/gateway-protocol.md §9, §13):

- Delivered ``message``/``receipt``/``notification`` stanzas go through one ordered pipeline
  (Signal sessions need arrival order); each is acked only once its handler returned
  (:meth:`~StanzaSession.stored`). A handler that raises gets no ack: the gateway redelivers.
- ``iq`` results and errors are matched to pending requests by id; answers to unknown ids
  (timed out, never asked) are dropped.
- Outbox stanzas stay in flight until the gateway acks them. A transient ack error (429, 503,
  500) keeps them in flight and schedules a resend after ``retry-after`` (5 s if absent).
- Keep-alive: a ``ping`` iq after ``ping_interval`` without receiving anything; no answer within
  ``ping_timeout`` ends the channel as failed.
- Idle: no activity for ``idle_timeout`` while nothing is in flight, pending or being handled
  closes the channel.

Lifecycle: ``OPEN`` → ``ENDING`` (the end is decided: :attr:`~StanzaSession.end` is set and
the shell tears the socket down) → ``CLOSED`` (:meth:`~StanzaSession.close`, which abandons the
pending requests). Anything in flight on close is simply forgotten: the next channel resends
the whole outbox.
"""

from __future__ import annotations

import enum
import heapq
import itertools
import math
from collections.abc import Callable
from dataclasses import dataclass

from .codec import Node
from .connection_types import FAILED, ChannelEnd, EndKind
from .errors import ErrorInfo
from .ids import StanzaId
from .stanzas import (
    ACKED_CLASSES,
    ServerAck,
    ack_for,
    iq_error,
    new_stanza_id,
    outbox_key,
    parse_server_ack,
    ping,
    server_ack_key,
)

#: Resend delay after a 429/503 ack that did not say how long to wait.
DEFAULT_RESEND_DELAY = 5.0

#: How a stanza we sent is matched with the gateway's ack: (class, id, receipt type).
OutboxKey = tuple[str, str, str | None]


class SessionState(enum.Enum):
    OPEN = "open"
    ENDING = "ending"  # the end is decided; nothing more is started
    CLOSED = "closed"


class Delivery(enum.Enum):
    """What the shell does with a stanza the pipeline hands it."""

    STORE = "store"  # call the class's handler, then :meth:`StanzaSession.stored` for the ack
    SERVER_ACK = "server-ack"  # feed it to :meth:`StanzaSession.server_ack`
    INFO = "info"  # best effort: ``on_info``, never acked


class CloseReason(enum.Enum):
    IDLE = "idle"
    PING_UNANSWERED = "ping-unanswered"


class SessionMisuse(Exception):
    """The shell fed an input the session's state does not allow (a bug in the caller)."""


# -- effects ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Deliver:
    """Queue ``node`` for the ordered handler pipeline; report with ``delivery_done``."""

    node: Node
    kind: Delivery


@dataclass(frozen=True, slots=True)
class AnswerRequest:
    """The gateway answered the pending request ``stanza_id``; ``error`` set for type=error."""

    stanza_id: str
    answer: Node
    error: ErrorInfo | None


@dataclass(frozen=True, slots=True)
class AbandonRequest:
    """The channel closed before the request ``stanza_id`` was answered."""

    stanza_id: str


@dataclass(frozen=True, slots=True)
class WriteAck:
    """Ack a stored delivery (counts as activity)."""

    node: Node


@dataclass(frozen=True, slots=True)
class ReportServerAck:
    """The gateway took (or finally refused) an outbox stanza: tell the owner of the outbox."""

    ack: ServerAck


@dataclass(frozen=True, slots=True)
class ResendFromOutbox:
    """Resend the outbox stanza with this key, or report :meth:`~StanzaSession.resend_dropped`
    when the outbox no longer has it."""

    key: OutboxKey


@dataclass(frozen=True, slots=True)
class SendPing:
    """Write a keep-alive ping (not activity: pings alone must not keep a channel open). A
    failed write ends the channel: report it with :meth:`~StanzaSession.failed`."""

    node: Node


@dataclass(frozen=True, slots=True)
class CloseChannel:
    """Close the socket; :attr:`StanzaSession.end` says how the channel ended."""

    reason: CloseReason


Effect = (Deliver | AnswerRequest | AbandonRequest | WriteAck | ReportServerAck
          | ResendFromOutbox | SendPing | CloseChannel)
Effects = tuple[Effect, ...]
_NONE: Effects = ()
_IDLE_END = ChannelEnd(EndKind.IDLE)


class StanzaSession:
    """One open channel's stanza rules; see the module docstring."""

    def __init__(
        self,
        *,
        now: float,
        idle_timeout: float,
        ping_interval: float,
        ping_timeout: float,
        new_id: Callable[[], StanzaId] = new_stanza_id,
    ) -> None:
        self.state = SessionState.OPEN
        #: How the channel ended; set when the state leaves OPEN.
        self.end: ChannelEnd | None = None
        self.last_activity = now
        self.last_received = now
        self._idle_timeout = idle_timeout
        self._ping_interval = ping_interval
        self._ping_timeout = ping_timeout
        self._new_id = new_id
        self._in_flight: set[OutboxKey] = set()
        self._requests: set[str] = set()
        self._deliveries = 0  # handed to the pipeline, not yet done
        self._ping_id: StanzaId | None = None
        self._ping_due = math.inf
        # A heap: the earliest resend first; the counter keeps equal times in scheduling order
        # and spares comparing keys.
        self._resends: list[tuple[float, int, OutboxKey]] = []
        self._resend_order = itertools.count()

    # -- observation ------------------------------------------------------------------------

    @property
    def in_flight(self) -> frozenset[OutboxKey]:
        return frozenset(self._in_flight)

    @property
    def pending_requests(self) -> frozenset[str]:
        return frozenset(self._requests)

    @property
    def busy(self) -> bool:
        """Something is in flight, pending or being handled: the channel is not idle."""
        return bool(self._in_flight or self._requests or self._deliveries
                    or self._ping_id is not None)

    def next_deadline(self) -> float:
        """When :meth:`tick` has something to do at the latest (``inf``: never). Events other
        than ticks only ever move it later, except those after which the shell re-reads it:
        answers, acks, finished deliveries and requests, dropped resends."""
        if self.state is not SessionState.OPEN:
            return math.inf
        if self._ping_id is not None:
            deadline = self._ping_due
        else:
            deadline = self.last_received + self._ping_interval
        if not self.busy:
            deadline = min(deadline, self.last_activity + self._idle_timeout)
        if self._resends:
            deadline = min(deadline, self._resends[0][0])
        return deadline

    # -- inputs from the gateway ------------------------------------------------------------

    def stanza_received(self, node: Node, now: float) -> Effects:
        # Still taken while ENDING: the socket may hand over what arrived before it closed.
        if self.state is SessionState.CLOSED:
            return _NONE
        self.last_received = now
        if node.tag == "iq" and node.attrs.get("type") in ("result", "error"):
            # Answers are not activity: a ping's answer alone must not keep a channel open.
            return self._answer(node)
        self.last_activity = now
        if node.tag in ACKED_CLASSES:
            kind = Delivery.STORE
        elif node.tag == "ack":
            kind = Delivery.SERVER_ACK
        else:
            kind = Delivery.INFO
        self._deliveries += 1
        return (Deliver(node, kind),)

    def _answer(self, node: Node) -> Effects:
        stanza_id = node.attrs.get("id", "")
        if stanza_id == self._ping_id:
            # Any answer, an error too, shows the channel is alive.
            self._ping_id = None
            self._ping_due = math.inf
            return _NONE
        if stanza_id not in self._requests:
            return _NONE  # timed out or never asked: nobody is waiting for it
        self._requests.discard(stanza_id)
        return (AnswerRequest(stanza_id, node, iq_error(node)),)

    def stream_closed(self, error: ErrorInfo) -> Effects:
        """The gateway ended the stream (``stream-error``)."""
        self._end(ChannelEnd(EndKind.ENDED, error))
        return _NONE

    # -- inputs from the handler pipeline, in delivery order --------------------------------

    def stored(self, node: Node) -> Effects:
        """The handler of a STORE delivery returned: the stanza is safe, ack it. Raises
        :class:`~.errors.ProtocolViolation` for a stanza that cannot be acked (no id or from)."""
        return (WriteAck(ack_for(node)),)

    def server_ack(self, node: Node, now: float) -> Effects:
        """A SERVER_ACK delivery. Raises :class:`~.errors.ProtocolViolation` for an ack
        without id."""
        ack = parse_server_ack(node)
        key = server_ack_key(ack)
        if ack.error is not None and ack.error.transient:
            # Not stored by the gateway: keep it in flight and resend it later ourselves.
            delay = ack.error.retry_after or DEFAULT_RESEND_DELAY
            if self.state is SessionState.OPEN:
                heapq.heappush(self._resends, (now + delay, next(self._resend_order), key))
            return _NONE
        self._in_flight.discard(key)
        return (ReportServerAck(ack),)

    def delivery_done(self) -> None:
        """The shell finished with a delivery (its ack written, or it failed)."""
        if self.state is SessionState.CLOSED:
            return
        if self._deliveries == 0:
            raise SessionMisuse("delivery_done() without a delivery outstanding")
        self._deliveries -= 1

    # -- inputs from the owner --------------------------------------------------------------

    def track(self, node: Node) -> None:
        """An outbox stanza is about to be written: in flight until the gateway acks it."""
        self._in_flight.add(outbox_key(node))

    def request_started(self, stanza_id: str) -> None:
        self._requests.add(stanza_id)

    def request_finished(self, stanza_id: str) -> None:
        """The requester stopped waiting (answered, timed out or cancelled)."""
        self._requests.discard(stanza_id)

    def activity(self, now: float) -> None:
        """Something was written that counts as traffic, or the user is active."""
        self.last_activity = now

    def resend_dropped(self, key: OutboxKey) -> None:
        """A resend found its stanza gone from the outbox: the owner dropped it meanwhile."""
        self._in_flight.discard(key)

    def failed(self) -> None:
        """The channel broke (a write failed, a handler raised); the first end decided wins."""
        self._end(FAILED)

    def close(self) -> Effects:
        """The shell is closing the socket: abandon the pending requests, forget the rest."""
        if self.state is SessionState.CLOSED:
            return _NONE
        self._end(FAILED)
        self.state = SessionState.CLOSED
        abandoned = tuple(AbandonRequest(stanza_id) for stanza_id in self._requests)
        self._requests.clear()
        self._in_flight.clear()
        self._resends.clear()
        self._deliveries = 0
        self._ping_id = None
        return abandoned

    # -- time -------------------------------------------------------------------------------

    def tick(self, now: float) -> Effects:
        """Timers: ping timeout, idle close, due resends, keep-alive ping (in that order)."""
        if self.state is not SessionState.OPEN:
            return _NONE
        # The comparisons repeat next_deadline()'s sums, so a tick at the deadline always acts.
        if self._ping_id is not None and now >= self._ping_due:
            self._end(FAILED)
            return (CloseChannel(CloseReason.PING_UNANSWERED),)
        if not self.busy and now >= self.last_activity + self._idle_timeout:
            self._end(_IDLE_END)
            return (CloseChannel(CloseReason.IDLE),)
        effects: list[Effect] = []
        while self._resends and self._resends[0][0] <= now:
            effects.append(ResendFromOutbox(heapq.heappop(self._resends)[2]))
        if self._ping_id is None and now >= self.last_received + self._ping_interval:
            self._ping_id = self._new_id()
            self._ping_due = now + self._ping_timeout
            effects.append(SendPing(ping(self._ping_id)))
        return tuple(effects)

    def _end(self, end: ChannelEnd) -> None:
        if self.state is SessionState.OPEN:
            self.state = SessionState.ENDING
            self.end = end
