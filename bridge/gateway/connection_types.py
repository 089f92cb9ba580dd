"""Types shared by the connection's pure machines and its asyncio shell.

They live apart from :mod:`.connection` so that :mod:`.session`, :mod:`.stanza_session` and
:mod:`.reconnect` can use them without importing the shell (which imports them). Code outside
this package keeps importing them from :mod:`.connection`, which re-exports them.
"""

from __future__ import annotations

import enum
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from .codec import Node
from .errors import ErrorInfo
from .noise_channel import PROTOCOL_VERSION
from .stanzas import ServerAck


class Outbox(Protocol):
    """The caller's durable outbox: stanzas stored before sending, not yet acked by the gateway,
    in the order they were stored."""

    async def unacknowledged(self) -> Sequence[Node]: ...


class ConnectionState(enum.Enum):
    IDLE = "idle"
    CONNECTING = "connecting"
    OPEN = "open"
    BACKING_OFF = "backing-off"
    STOPPED = "stopped"


@dataclass(frozen=True)
class Handlers:
    #: Stores a delivered ``message`` durably (decrypts first). Raising means "not stored".
    on_message: Callable[[Node], Awaitable[None]]
    #: Reports the gateway's ack (or final error) for something from the outbox.
    on_server_ack: Callable[[ServerAck], Awaitable[None]]
    on_receipt: Callable[[Node], Awaitable[None]] | None = None
    on_notification: Callable[[Node], Awaitable[None]] | None = None
    #: ``ib``, ``chatstate`` and unknown stanzas; best effort, never acked.
    on_info: Callable[[Node], Awaitable[None]] | None = None
    #: The connection stopped for a reason only the user or operator can fix.
    on_stopped: Callable[[ErrorInfo], Awaitable[None]] | None = None
    #: Every change of :class:`ConnectionState`, with the error that caused it if any. Called
    #: synchronously from the run loop: it must not block (schedule work instead).
    on_state: Callable[[ConnectionState, ErrorInfo | None], None] | None = None


@dataclass(frozen=True)
class ConnectionSettings:
    chat_url: str  # ws://127.0.0.1:29400/chat
    gateway_static_public: bytes  # pinned Noise static key of the gateway
    idle_timeout: float = 300.0
    ping_interval: float = 30.0
    ping_timeout: float = 20.0
    connect_timeout: float = 30.0
    request_timeout: float = 30.0
    client_ip: str | None = None
    protocol_version: int = PROTOCOL_VERSION


class EndKind(enum.Enum):
    """Why one channel (one WebSocket) ended."""

    IDLE = "idle"  # no traffic for idle_timeout, or the owner closed it
    FAILED = "failed"  # socket, handshake, handler or keep-alive failure
    REFUSED = "refused"  # the gateway answered the hello with a failure
    ENDED = "ended"  # the gateway ended an open channel with a stream-error


@dataclass(frozen=True, slots=True)
class ChannelEnd:
    kind: EndKind
    error: ErrorInfo | None = None


#: The most common end, shared rather than built anew at each failure.
FAILED = ChannelEnd(EndKind.FAILED)
