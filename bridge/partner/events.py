"""What a partner client tells the rest of the bridge: typed events, one ordered queue per user.

The partner side only publishes; the chat flows (:mod:`bridge.chats.remote_events`) consume,
like mautrix-go bridgev2's remote events. Calls the other way (send, confirm an identity, mark a
message delivered) stay plain method calls on the client.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import TypeAlias

from mautrix.types import UserID

from ..gateway.connection_types import ConnectionState
from ..gateway.errors import ErrorInfo
from ..gateway.ids import Address, StanzaId
from ..gateway.received import (
    BlocklistChange,
    Chatstate,
    ContactOptedOut,
    IdentityChangeNotice,
    OtherNotification,
    Receipt,
)
from ..signal.errors import IdentityChange


@dataclass(frozen=True)
class InboundMessage:
    """A decrypted message from a contact, stored inside the user's boundary."""

    stanza_id: str
    sender: Address
    plaintext: bytes
    timestamp: int | None
    #: The sender's user-visible username, as the gateway names it (``notify``), when known.
    username: str | None = None
    #: Stored by an earlier run (or connection), so it may have been handed on already: the
    #: hand-on was cut before the message was marked delivered.
    may_be_bridged: bool = False


@dataclass(frozen=True)
class MessageStored:
    """A contact's message is decrypted and sealed in the user's inbox, waiting to be handed
    on. The consumer reads it with :meth:`PartnerClient.stored_message` (which says whether it
    is still to do) and marks it delivered once it is in Matrix."""

    stanza_id: StanzaId
    #: what the stanza said, when it came over the connection just now (None after a restart
    #: or a release from a hold: then the stored row is all there is)
    sender: Address | None
    timestamp: int | None
    username: str | None
    may_be_bridged: bool


@dataclass(frozen=True)
class SendAcknowledged:
    """The gateway accepted (``error`` None) or refused for good one of our messages."""

    stanza_id: StanzaId
    error: ErrorInfo | None


@dataclass(frozen=True)
class ReceiptReceived:
    receipt: Receipt


@dataclass(frozen=True)
class TypingChanged:
    chatstate: Chatstate


@dataclass(frozen=True)
class ContactNotified:
    """A notification about a contact or the blocklist the user should see."""

    notification: IdentityChangeNotice | BlocklistChange | ContactOptedOut | OtherNotification


@dataclass(frozen=True)
class IdentityChanged:
    """A contact's identity key changed: accepted with a notice, or ``held`` until the user
    confirms it (policy ``block``)."""

    contact: Address
    change: IdentityChange
    held: bool


@dataclass(frozen=True)
class ConnectionChanged:
    state: ConnectionState
    error: ErrorInfo | None
    #: the event loop's time when it changed (notices are timed from then, not from when the
    #: queue gets to it)
    at: float


#: What one user's partner client publishes.
ClientEvent: TypeAlias = (
    "MessageStored | SendAcknowledged | ReceiptReceived | TypingChanged | ContactNotified"
    " | IdentityChanged | ConnectionChanged"
)


class AccountChange(enum.Enum):
    OPTED_IN = "opted-in"
    OPTED_OUT = "opted-out"
    #: the gatekeeper removed the account (idle for 30 days, or by them)
    UNENLISTED = "unenlisted"
    #: the connection stopped for a reason only the user or the operator can fix
    CONNECTION_STOPPED = "connection-stopped"


@dataclass(frozen=True)
class AccountChanged:
    """The user's partner account changed; published by the service, not by a client (there
    may be none left)."""

    user: UserID
    change: AccountChange
    explanation: str = ""
    #: the dashboards' code for a stopped connection
    error: str = ""
    #: the account was removed along with the connection
    removed: bool = False
