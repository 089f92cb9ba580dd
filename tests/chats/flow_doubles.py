"""In-memory stand-ins for what the chat flows need of the homeserver and the partner clients
(the protocols of :mod:`bridge.chats.ports`). Each records what the flow asked of it.

Only the homeserver and the gateway are replaced: the message map, message requests, hosted
media, partner accounts and metrics are the real ones over a real database. Portals write their
message map rows through the real :class:`MessageMap`, into a ``portal`` row of their own, so
that what a flow records is what it later reads.
"""

from __future__ import annotations

import itertools
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from mautrix.types import ContentURI, EventID, EventType, RoomID, UserID
from mautrix.util.async_db import Database

from bridge.gateway.ids import Address, InternalId, StanzaId
from bridge.matrix.portals import MappedMessage, MessageMap, PortalRecord, SendAs
from bridge.matrix.send_status import SendFailure
from bridge.metrics import BridgeMetrics
from bridge.partner.accounts import PartnerAccounts

USER = UserID("@alice:example.org")
USER_ID = InternalId("1-500@interop")  # the Matrix user's own identity on the gateway
GINA = InternalId("4915100000001@gk")  # a contact on the gatekeeper's service
HUGO = InternalId("4915100000002@gk")

_event_numbers = itertools.count(1)


def new_event_id() -> EventID:
    return EventID(f"$event{next(_event_numbers)}:example.org")


# --- the Matrix side -----------------------------------------------------------------------------


@dataclass(frozen=True)
class SentEvent:
    event_type: EventType
    content: dict[str, Any]
    txn_id: str | None
    event_id: EventID


@dataclass(frozen=True)
class SentNotice:
    text: str
    sender: SendAs
    reply_to: EventID | None
    txn_id: str | None
    event_id: EventID


@dataclass(frozen=True)
class Status:
    #: "pending", "waiting", "success" or "failure"
    kind: str
    event_id: EventID
    failure: SendFailure | None = None
    #: the waiting status's text, or the failure's detail
    text: str | None = None


@dataclass
class RecordingStatuses:
    posted: list[Status] = field(default_factory=list)

    async def pending(self, event_id: EventID) -> EventID:
        self.posted.append(Status("pending", event_id))
        return new_event_id()

    async def waiting(self, event_id: EventID, text: str) -> EventID:
        self.posted.append(Status("waiting", event_id, text=text))
        return new_event_id()

    async def success(self, event_id: EventID) -> EventID:
        self.posted.append(Status("success", event_id))
        return new_event_id()

    async def failure(self, event_id: EventID, failure: SendFailure, *,
                      detail: str | None = None) -> EventID | None:
        self.posted.append(Status("failure", event_id, failure, detail))
        return new_event_id()

    @property
    def last(self) -> Status:
        return self.posted[-1]


@dataclass
class RecordingIntent:
    redactions: list[tuple[RoomID, EventID, str | None]] = field(default_factory=list)

    async def redact(self, room_id: RoomID, event_id: EventID,
                     reason: str | None = None) -> EventID:
        self.redactions.append((room_id, event_id, reason))
        return new_event_id()


@dataclass
class FakeGhost:
    contact_id: Address
    username: str
    intent: RecordingIntent = field(default_factory=RecordingIntent)

    @property
    def mxid(self) -> UserID:
        return UserID(f"@interop_{self.contact_id.replace('@', '=40')}:example.org")

    @property
    def displayname(self) -> str:
        return f"{self.username} (interop)"


class InMemoryGhosts:
    def __init__(self) -> None:
        self.ghosts: dict[Address, FakeGhost] = {}

    def add(self, contact_id: Address, username: str) -> FakeGhost:
        return self.ghosts.setdefault(contact_id, FakeGhost(contact_id, username))

    async def get(self, contact_id: Address) -> FakeGhost | None:
        return self.ghosts.get(contact_id)

    async def by_mxid(self, mxid: UserID) -> FakeGhost | None:
        return next((g for g in self.ghosts.values() if g.mxid == mxid), None)


class RecordingPortal:
    """A portal room that keeps what was sent into it. Like the homeserver, a transaction id
    used before gets the event of the first send back; every call is recorded all the same."""

    def __init__(self, record: PortalRecord, ghost: FakeGhost, messages: MessageMap) -> None:
        self.record = record
        self.ghost = ghost
        self.messages = messages
        self.status = RecordingStatuses()
        self.events: list[SentEvent] = []
        self.notices: list[SentNotice] = []
        #: what ``bridged_parts`` finds in the room (events sent before a crash, not recorded)
        self.already_in_room: dict[int, EventID] = {}
        self.parts_asked: list[tuple[InternalId, StanzaId]] = []
        self._by_txn: dict[str, EventID] = {}

    @property
    def room_id(self) -> RoomID:
        return self.record.room_id

    @property
    def user_id(self) -> UserID:
        return self.record.user_id

    @property
    def contact_id(self) -> InternalId:
        return self.record.contact_id

    @property
    def blocked(self) -> bool:
        return self.record.blocked

    def _event_id(self, txn_id: str | None) -> EventID:
        if txn_id is None:
            return new_event_id()
        return self._by_txn.setdefault(txn_id, new_event_id())

    async def send(self, content: Any, *, event_type: EventType = EventType.ROOM_MESSAGE,
                   txn_id: str | None = None) -> EventID:
        event_id = self._event_id(txn_id)
        self.events.append(SentEvent(event_type, dict(content), txn_id, event_id))
        return event_id

    async def send_notice(self, text: str, *, sender: SendAs = SendAs.BOT,
                          reply_to: EventID | None = None,
                          txn_id: str | None = None) -> EventID:
        event_id = self._event_id(txn_id)
        self.notices.append(SentNotice(text, sender, reply_to, txn_id, event_id))
        return event_id

    async def bridged_parts(self, sender: InternalId, stanza_id: StanzaId
                            ) -> dict[int, EventID]:
        self.parts_asked.append((sender, stanza_id))
        return dict(self.already_in_room)

    async def record_message(self, *, event_id: EventID, stanza_id: StanzaId,
                             sender: InternalId, from_matrix: bool,
                             timestamp: int | None = None) -> MappedMessage:
        return await self.messages.add(room_id=self.room_id, event_id=event_id,
                                       stanza_id=stanza_id, sender=sender,
                                       from_matrix=from_matrix, timestamp=timestamp)


class InMemoryPortals:
    """Portals whose rooms are :class:`RecordingPortal`; each has its row in the ``portal``
    table (the message map's rows refer to it)."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.messages = MessageMap(db)
        self.puppets = InMemoryGhosts()
        self.rooms: dict[tuple[UserID, InternalId], RecordingPortal] = {}
        #: the contact username of each ``get_or_create`` call
        self.usernames_asked: list[str] = []

    async def open(self, user_id: UserID, contact_id: InternalId, username: str, *,
                   blocked: bool = False) -> RecordingPortal:
        """A portal that exists already, as if created for an earlier message."""
        ghost = self.puppets.add(contact_id, username)
        record = PortalRecord(user_id=user_id, contact_id=contact_id,
                              room_id=RoomID(f"!{secrets.token_hex(6)}:example.org"),
                              contact_name=username, encrypted=False, read_only_reason=None,
                              blocked=blocked, created_at=int(time.time() * 1000))
        await self.db.execute(
            "INSERT INTO portal (user_id, contact_id, room_id, contact_name, encrypted, "
            "read_only_reason, blocked, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            record.user_id, record.contact_id, record.room_id, record.contact_name,
            record.encrypted, record.read_only_reason, record.blocked, record.created_at)
        portal = RecordingPortal(record, ghost, self.messages)
        self.rooms[(user_id, contact_id)] = portal
        return portal

    async def get(self, user_id: UserID, contact_id: InternalId) -> RecordingPortal | None:
        return self.rooms.get((user_id, contact_id))

    async def get_or_create(self, user_id: UserID, contact_id: InternalId,
                            contact_username: str) -> RecordingPortal:
        self.usernames_asked.append(contact_username)
        existing = self.rooms.get((user_id, contact_id))
        if existing is not None:
            return existing
        return await self.open(user_id, contact_id, contact_username)

    async def by_room(self, room_id: RoomID) -> RecordingPortal | None:
        return next((p for p in self.rooms.values() if p.room_id == room_id), None)


@dataclass
class RecordingNotifier:
    notified: list[tuple[UserID, str]] = field(default_factory=list)

    async def notify(self, user_id: UserID, text: str, /) -> None:
        self.notified.append((user_id, text))


class InMemoryMatrixMedia:
    """The homeserver's media repository: mxc URI → bytes."""

    def __init__(self, upload_limit: int | None = None) -> None:
        self._upload_limit = upload_limit
        self.files: dict[ContentURI, bytes] = {}
        self.limit_refreshes = 0

    @property
    def upload_limit(self) -> int | None:
        return self._upload_limit

    async def refresh_upload_limit(self) -> None:
        self.limit_refreshes += 1

    async def upload(self, data: bytes, mime_type: str, filename: str | None) -> ContentURI:
        return self.put(data)

    async def download(self, uri: ContentURI) -> bytes:
        return self.files[uri]

    def put(self, data: bytes) -> ContentURI:
        uri = ContentURI(f"mxc://example.org/{secrets.token_hex(8)}")
        self.files[uri] = bytes(data)
        return uri


# --- the partner side ----------------------------------------------------------------------------


@dataclass
class RecordingOutbox:
    refused: list[str] = field(default_factory=list)

    async def mark_refused(self, local_id: str) -> None:
        self.refused.append(local_id)


@dataclass(frozen=True)
class SentStanza:
    local_id: str
    recipient: Address
    plaintext: bytes


@dataclass(frozen=True)
class SentReceipt:
    stanza_id: str
    to: Address
    read: bool


@dataclass
class RecordingClient:
    """A user's partner client. ``answer`` is what ``send`` does: True (sent), False (held
    for a key confirmation) or an exception to raise (``BundleUnavailable``); ``on_receipt``
    sees each receipt as it is sent (to check what was done by then)."""

    user_id: UserID = USER
    internal_id: InternalId = USER_ID
    outbox: RecordingOutbox = field(default_factory=RecordingOutbox)
    answer: bool | Exception = True
    sent: list[SentStanza] = field(default_factory=list)
    receipts: list[SentReceipt] = field(default_factory=list)
    on_receipt: Callable[[SentReceipt], Awaitable[None]] | None = None

    async def send(self, local_id: str, recipient: Address, plaintext: bytes) -> bool:
        self.sent.append(SentStanza(local_id, recipient, plaintext))
        if isinstance(self.answer, Exception):
            raise self.answer
        return self.answer

    async def send_receipt(self, stanza_id: str, to: Address, *, read: bool) -> None:
        receipt = SentReceipt(stanza_id, to, read)
        if self.on_receipt is not None:
            await self.on_receipt(receipt)
        self.receipts.append(receipt)


class InMemoryClients:
    """The partner clients of the users who are connected; accounts are the real table."""

    def __init__(self, db: Database) -> None:
        self.accounts = PartnerAccounts(db)
        self.clients: dict[UserID, RecordingClient] = {}

    def client(self, mxid: UserID) -> RecordingClient | None:
        return self.clients.get(mxid)


def messages_counted(metrics: BridgeMetrics, direction: str, kind: str, result: str) -> float:
    """``bridge_messages_total`` for one set of labels, as Prometheus would scrape it."""
    value = metrics.registry.get_sample_value(
        "bridge_messages_total", {"direction": direction, "type": kind, "result": result})
    return value or 0.0
