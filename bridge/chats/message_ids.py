"""Matrix event ids ⇄ gateway stanza ids, for messages (the portals' message map) and reactions."""

from __future__ import annotations

import time
from dataclasses import dataclass

from mautrix.types import EventID, RoomID
from mautrix.util.async_db import Database

from ..gateway.ids import Address, StanzaId
from ..mapping import BridgedReaction, MessageRecord
from ..matrix.portals import MappedMessage, MessageMap


@dataclass(frozen=True)
class OwnMessage:
    """A message the Matrix user sent, found by the stanza id the gateway acknowledged."""

    room_id: RoomID
    event_id: EventID


class MessageIds:
    """The mapping's ``MessageIds``, plus the writes the chat flows make."""

    def __init__(self, db: Database, messages: MessageMap) -> None:
        self.db = db
        self.messages = messages

    async def message_by_event(self, event_id: EventID) -> MappedMessage | None:
        return await self.messages.by_event(event_id)

    async def message_by_stanza(self, room_id: RoomID, sender: Address,
                                stanza_id: StanzaId) -> MappedMessage | None:
        return await self.messages.by_stanza(room_id, stanza_id, sender)

    async def own_message(self, sender: Address, stanza_id: str) -> OwnMessage | None:
        row = await self.db.fetchrow(
            "SELECT room_id, event_id FROM portal_message WHERE sender=$1 AND stanza_id=$2",
            sender, stanza_id)
        return OwnMessage(RoomID(row["room_id"]), EventID(row["event_id"])) if row else None

    # --- reactions ---------------------------------------------------------------------------

    async def reaction_by_event(self, event_id: EventID) -> BridgedReaction | None:
        row = await self.db.fetchrow(
            "SELECT room_id, target_sender, target_stanza, sender, event_id, reaction_key "
            "FROM portal_reaction WHERE event_id=$1", event_id)
        return await self._reaction(row)

    async def reaction_by_sender(self, target: MessageRecord,
                                 sender: Address) -> BridgedReaction | None:
        row = await self.db.fetchrow(
            "SELECT r.room_id, r.target_sender, r.target_stanza, r.sender, r.event_id, "
            "r.reaction_key FROM portal_reaction r JOIN portal_message m "
            "ON m.room_id=r.room_id AND m.sender=r.target_sender AND m.stanza_id=r.target_stanza "
            "WHERE m.event_id=$1 AND r.sender=$2 ORDER BY r.created_at DESC LIMIT 1",
            target.event_id, sender)
        return await self._reaction(row)

    async def _reaction(self, row) -> BridgedReaction | None:
        if row is None:
            return None
        target = await self.messages.by_stanza(RoomID(row["room_id"]),
                                               StanzaId(row["target_stanza"]),
                                               Address(row["target_sender"]))
        if target is None:
            return None
        return BridgedReaction(event_id=EventID(row["event_id"]), target=target,
                               sender=Address(row["sender"]), key=row["reaction_key"])

    async def record_reaction(self, *, room_id: RoomID, target: MessageRecord,
                              sender: Address, event_id: EventID, key: str) -> None:
        """A reaction of ``sender`` to ``target``; their latest one is their current one."""
        await self.db.execute(
            "INSERT INTO portal_reaction (event_id, room_id, target_sender, target_stanza, "
            "sender, reaction_key, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7) "
            "ON CONFLICT (event_id) DO NOTHING",
            event_id, room_id, target.sender, target.stanza_id, sender, key,
            time.time_ns() // 1000)

    async def forget_reaction(self, event_id: EventID) -> None:
        """A revoke: the sender has no reaction to that message any more, current or earlier."""
        await self.db.execute(
            "DELETE FROM portal_reaction WHERE (room_id, target_sender, target_stanza, sender) IN "
            "(SELECT room_id, target_sender, target_stanza, sender FROM portal_reaction "
            "WHERE event_id=$1)", event_id)
