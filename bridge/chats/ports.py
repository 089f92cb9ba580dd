"""What the chat flows use of the Matrix side and of the partner clients, as small Protocols.

:mod:`bridge.wiring` hands the flows the real classes (``Portals``, ``Portal``, ``Puppets``,
``HomeserverMedia``, ``PartnerService``, ``PartnerClient``), which need a homeserver or a
gateway connection to be built. Each protocol declares only what :mod:`.incoming` and
:mod:`.outgoing` call, so that the flows can also be built around in-memory stand-ins; the real
classes satisfy them structurally (mypy checks that where the wiring and the event handlers pass
them in). Attributes are read-only properties: the flows never assign to them.
"""

from __future__ import annotations

from typing import Any, Protocol

from mautrix.types import EventID, EventType, RoomID, UserID

from ..gateway.ids import Address, InternalId, StanzaId
from ..mapping import MatrixMedia
from ..matrix.portals import MappedMessage, PortalRecord, SendAs
from ..matrix.send_status import SendFailure
from ..partner.accounts import PartnerAccounts

# --- the Matrix side -------------------------------------------------------------------------


class MatrixMediaRepository(MatrixMedia, Protocol):
    """The homeserver's media repository, whose upload limit is asked for once."""

    async def refresh_upload_limit(self) -> None: ...


class SendStatuses(Protocol):
    """The visible send status of the portal owner's events in one room."""

    async def pending(self, event_id: EventID) -> EventID: ...

    async def waiting(self, event_id: EventID, text: str) -> EventID: ...

    async def success(self, event_id: EventID) -> EventID: ...

    async def failure(self, event_id: EventID, failure: SendFailure, *,
                      detail: str | None = None) -> EventID | None: ...


class GhostIntent(Protocol):
    """What a ghost does in a room besides sending: take back its own event."""

    async def redact(self, room_id: RoomID, event_id: EventID,
                     reason: str | None = None) -> EventID: ...


class ContactGhost(Protocol):
    """The contact's ghost as its portal knows it."""

    @property
    def username(self) -> str: ...

    @property
    def intent(self) -> GhostIntent: ...


class GhostProfile(Protocol):
    """A ghost found by its contact's address or its Matrix id (for mentions)."""

    @property
    def contact_id(self) -> Address: ...

    @property
    def mxid(self) -> UserID: ...

    @property
    def username(self) -> str: ...

    @property
    def displayname(self) -> str: ...


class GhostDirectory(Protocol):
    async def get(self, contact_id: Address) -> GhostProfile | None: ...

    async def by_mxid(self, mxid: UserID) -> GhostProfile | None: ...


class ChatRoom(Protocol):
    """One portal: the room between a Matrix user and one contact."""

    @property
    def room_id(self) -> RoomID: ...

    @property
    def user_id(self) -> UserID: ...

    @property
    def contact_id(self) -> Address: ...

    @property
    def record(self) -> PortalRecord: ...

    @property
    def ghost(self) -> ContactGhost: ...

    @property
    def blocked(self) -> bool: ...

    @property
    def status(self) -> SendStatuses: ...

    async def send(self, content: Any, *, event_type: EventType = EventType.ROOM_MESSAGE,
                   txn_id: str | None = None) -> EventID:
        """As the ghost; the same ``txn_id`` again gives the event sent the first time."""

    async def send_notice(self, text: str, *, sender: SendAs = SendAs.BOT,
                          reply_to: EventID | None = None,
                          txn_id: str | None = None) -> EventID: ...

    async def bridged_parts(self, sender: Address, stanza_id: StanzaId
                            ) -> dict[int, EventID]:
        """The events already in the room for ``stanza_id`` (part index → event id)."""

    async def record_message(self, *, event_id: EventID, stanza_id: StanzaId,
                             sender: Address, from_matrix: bool,
                             timestamp: int | None = None) -> MappedMessage:
        """Raises ``DuplicateMessage`` when either side is mapped already."""


class PortalDirectory(Protocol):
    """Finds portals (and, for mentions, ghosts); creates a portal on a contact's first
    message."""

    @property
    def puppets(self) -> GhostDirectory: ...

    async def get(self, user_id: UserID, contact_id: Address) -> ChatRoom | None: ...

    async def get_or_create(self, user_id: UserID, contact_id: Address,
                            contact_username: str) -> ChatRoom: ...

    async def by_room(self, room_id: RoomID) -> ChatRoom | None: ...


class UserNotifier(Protocol):
    """Tells a Matrix user something in their management room."""

    async def notify(self, user_id: UserID, text: str, /) -> None: ...


# --- the partner side ------------------------------------------------------------------------


class RefusedSends(Protocol):
    """A user's outbox, as far as a final refusal goes."""

    async def mark_refused(self, local_id: str) -> None: ...


class UserClient(Protocol):
    """One opted-in Matrix user's partner client."""

    @property
    def user_id(self) -> UserID: ...

    @property
    def internal_id(self) -> InternalId: ...

    @property
    def outbox(self) -> RefusedSends: ...

    async def send(self, local_id: str, recipient: Address, plaintext: bytes) -> bool:
        """False when stored but held (the recipient's new key awaits confirmation); raises
        ``BundleUnavailable`` when there is no session and no bundle to start one."""

    async def send_receipt(self, stanza_id: str, to: Address, *, read: bool) -> None: ...


class UserClients(Protocol):
    """The partner clients of every opted-in user, and everyone's opt-in state."""

    @property
    def accounts(self) -> PartnerAccounts: ...

    def client(self, mxid: UserID) -> UserClient | None: ...
