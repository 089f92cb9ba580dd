"""One portal: the Matrix room between one Matrix user and one contact on the other service."""

from __future__ import annotations

from collections.abc import Iterable
from enum import Enum
from typing import TYPE_CHECKING

from attrs import define
from mautrix.errors import DecryptionError, MNotFound
from mautrix.types import EventID, EventType, Membership, PaginationDirection, RoomID, UserID

from ..ids import Address
from ..puppet import Puppet
from ..send_status import SendStatusReporter
from .messages import MappedMessage, StanzaId
from .room_setup import (
    BRIDGE_INFO_TYPES,
    READ_ONLY_LEVEL,
    bridge_info,
    bridge_state_key,
    read_only_notice,
    topic_for,
)

if TYPE_CHECKING:
    from .registry import Portals


#: In the content of every event bridged from a contact's message (inside the Megolm encryption
#: in encrypted rooms): ``{"sender", "stanza_id", "part"}``, so that after a crash the bridge can
#: tell which events of a message the room already has.
BRIDGED_FROM = "net.interop_bridge.bridged_from"
#: How far back ``bridged_parts`` looks for them (pages of 100 events).
_LOOKBACK_PAGES = 5


class SendAs(Enum):
    """Who an event in a portal comes from."""

    GHOST = "ghost"  # the contact, through their ghost
    BOT = "bot"  # the bridge itself (notices, warnings)


@define
class PortalRecord:
    user_id: UserID
    contact_id: Address
    room_id: RoomID
    # The contact's name as the room's bridge info and topic show it.
    contact_name: str
    encrypted: bool
    read_only_reason: str | None
    blocked: bool
    created_at: int

    @classmethod
    def from_row(cls, row) -> PortalRecord:
        return cls(user_id=UserID(row["user_id"]), contact_id=Address(row["contact_id"]),
                   room_id=RoomID(row["room_id"]), contact_name=row["contact_name"],
                   encrypted=bool(row["encrypted"]),
                   read_only_reason=row["read_only_reason"], blocked=bool(row["blocked"]),
                   created_at=row["created_at"])


class Portal:
    def __init__(self, portals: Portals, record: PortalRecord, ghost: Puppet) -> None:
        self._portals = portals
        self.record = record
        self.ghost = ghost
        self.log = portals.log.getChild(record.room_id)

    @property
    def status(self) -> SendStatusReporter:
        """Send statuses of the Matrix user's messages in this room (see ``send_status``)."""
        # Built on use, so that a renamed contact is named by their current name.
        return SendStatusReporter(self._portals.sender, self.room_id, self.ghost.username,
                                  log=self.log.getChild("status"))

    def __repr__(self) -> str:
        return (f"Portal(room_id={self.room_id!r}, user_id={self.user_id!r}, "
                f"contact_id={self.contact_id!r})")

    @property
    def room_id(self) -> RoomID:
        return self.record.room_id

    @property
    def user_id(self) -> UserID:
        return self.record.user_id

    @property
    def contact_id(self) -> Address:
        return self.record.contact_id

    @property
    def read_only(self) -> bool:
        return self.record.read_only_reason is not None

    @property
    def blocked(self) -> bool:
        return self.record.blocked

    # --- sending ---------------------------------------------------------------------------

    def _sender_mxid(self, sender: SendAs) -> UserID | None:
        return self.ghost.mxid if sender == SendAs.GHOST else None

    async def send(self, content, *, sender: SendAs = SendAs.GHOST,
                   event_type: EventType = EventType.ROOM_MESSAGE,
                   txn_id: str | None = None) -> EventID:
        """Send an event into the room, Megolm-encrypted when the room is encrypted; the same
        ``txn_id`` again gives the event sent the first time (see ``MatrixSender.send``)."""
        return await self._portals.sender.send(self.room_id, event_type, content,
                                               sender=self._sender_mxid(sender), txn_id=txn_id)

    async def send_notice(self, text: str, *, sender: SendAs = SendAs.BOT,
                          reply_to: EventID | None = None, txn_id: str | None = None
                          ) -> EventID:
        return await self._portals.sender.send_notice(
            self.room_id, text, sender=self._sender_mxid(sender), reply_to=reply_to,
            txn_id=txn_id)

    async def bridged_parts(self, sender: Address, stanza_id: StanzaId
                            ) -> dict[int, EventID]:
        """The events the ghost already sent for ``stanza_id`` (part index → event id), found
        among its events newer than the newest one the message map knows: a message is handed
        on again after a crash that came between a send and its record."""
        found: dict[int, EventID] = {}
        bot = self._portals.bot
        token = None
        for _ in range(_LOOKBACK_PAGES):
            page = await bot.get_messages(self.room_id, PaginationDirection.BACKWARD,
                                          from_token=token, limit=100)
            for event in page.events:
                if event.sender != self.ghost.mxid:
                    continue
                if await self._portals.messages.by_event(event.event_id) is not None:
                    return found  # everything older was recorded when it was sent
                source = (await self._content(event)).get(BRIDGED_FROM)
                if (isinstance(source, dict) and source.get("sender") == sender
                        and source.get("stanza_id") == stanza_id
                        and isinstance(source.get("part"), int)):
                    found.setdefault(source["part"], event.event_id)
            if not page.events or not page.end:
                break
            token = page.end
        return found

    async def _content(self, event) -> dict:
        """An event's content, decrypted if need be (each of the bridge's devices holds the keys of
        what it sent)."""
        encryption = self._portals.sender.encryption
        if event.type == EventType.ROOM_ENCRYPTED:
            if encryption is None:
                return {}
            try:
                event = await encryption.decrypt_sent(event)
            except DecryptionError:
                return {}
        content = event.content
        return content.serialize() if hasattr(content, "serialize") else dict(content or {})

    # --- message map -----------------------------------------------------------------------

    async def record_message(self, *, event_id: EventID, stanza_id: StanzaId,
                             sender: Address, from_matrix: bool,
                             timestamp: int | None = None) -> MappedMessage:
        """Map a bridged message both ways (raises ``DuplicateMessage`` if either is known)."""
        return await self._portals.messages.add(
            room_id=self.room_id, event_id=event_id, stanza_id=stanza_id, sender=sender,
            from_matrix=from_matrix, timestamp=timestamp)

    async def message_by_stanza(self, stanza_id: StanzaId, sender: Address | None = None
                                ) -> MappedMessage | None:
        return await self._portals.messages.by_stanza(self.room_id, stanza_id, sender)

    # --- receipts --------------------------------------------------------------------------

    async def mark_read(self, event_id: EventID) -> None:
        """Move the contact's read marker (their ghost's) to ``event_id``."""
        await self.ghost.intent.mark_read(self.room_id, event_id)

    async def handle_contact_receipt(self, stanza_ids: Iterable[StanzaId], *, read: bool
                                     ) -> list[EventID]:
        """The contact received (``read=False``) or read messages the Matrix user sent.

        Read receipts move the ghost's read marker to the newest of them; delivery receipts
        update each message's send status with the ghost among ``delivered_to_users``. Returns
        the Matrix events the receipt covered; stanzas that are not mapped are skipped.
        """
        found = [m for m in [await self._portals.messages.by_stanza(self.room_id, s)
                             for s in stanza_ids] if m is not None]
        if not found:
            return []
        if read:
            newest = max(found, key=lambda m: m.timestamp)
            await self.mark_read(newest.event_id)
        else:
            for message in found:
                if message.from_matrix:
                    await self.status.success(message.event_id, delivered_to=[self.ghost.mxid])
        return [m.event_id for m in found]

    # --- state -----------------------------------------------------------------------------

    async def set_read_only(self, reason: str) -> None:
        """Stop the Matrix user from sending (e.g. after opting out) and say why.

        The homeserver enforces it: ``events_default`` rises above the user's level, so their
        messages, reactions and redactions are refused; the bot and the ghost keep theirs.
        """
        await self._set_events_default(READ_ONLY_LEVEL)
        await self._portals.update(self.record, read_only_reason=reason)
        await self.send_notice(read_only_notice(reason))
        self.log.info("Portal is read-only now")

    async def set_writable(self) -> None:
        await self._set_events_default(0)
        await self._portals.update(self.record, read_only_reason=None)
        self.log.info("Portal is writable again")

    async def update_contact(self, username: str) -> bool:
        """The contact changed their user-visible name: rename the ghost and update the room's
        bridge info and topic. Returns whether anything changed."""
        # The ghost is shared by every portal with this contact and may be renamed already.
        renamed = await self.ghost.update_profile(username=username)
        if username == self.record.contact_name:
            return renamed
        bot = self._portals.bot
        info = bridge_info(bot=bot.mxid, ghost=self.ghost.mxid, contact_id=self.contact_id,
                           contact_name=username)
        for event_type in BRIDGE_INFO_TYPES:
            await bot.send_state_event(self.room_id, event_type, info,
                                       state_key=bridge_state_key(self.contact_id))
        await bot.set_room_topic(self.room_id, topic_for(username))
        await self._portals.update(self.record, contact_name=username)
        self.log.info("Contact renamed; ghost and room info updated")
        return True

    async def set_blocked(self, blocked: bool) -> None:
        """Remember that the user blocked the contact (or unblocked them)."""
        await self._portals.update(self.record, blocked=blocked)

    async def _set_events_default(self, level: int) -> None:
        bot = self._portals.bot
        levels = await bot.get_power_levels(self.room_id, ignore_cache=True)
        if levels.events_default == level:
            return
        levels.events_default = level
        await bot.set_power_levels(self.room_id, levels)

    async def ensure_user_invited(self) -> bool:
        """Invite the Matrix user again if they left, so a new message from the contact reaches
        them. Returns whether an invite was sent; a user who is invited or joined is left alone.
        """
        present = (Membership.JOIN, Membership.INVITE)
        bot = self._portals.bot
        if await bot.state_store.get_membership(self.room_id, self.user_id) in present:
            return False
        # The cache may simply not know (it is rebuilt from the homeserver when lost): ask.
        try:
            member = await bot.get_state_event(self.room_id, EventType.ROOM_MEMBER,
                                               self.user_id)
            membership = member.membership
        except MNotFound:
            membership = Membership.LEAVE
        await bot.state_store.set_membership(self.room_id, self.user_id, membership)
        if membership in present or membership == Membership.BAN:
            return False
        await self.ghost.intent.invite_user(self.room_id, self.user_id,
                                            extra_content={"is_direct": True})
        self.log.info("Invited %s again", self.user_id)
        return True
