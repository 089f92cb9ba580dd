"""The message map: a Matrix event in a portal ⇄ a gateway stanza, so that replies, reactions,
edits, deletions and receipts can be translated in both directions.

One row per bridged message. The gateway side is keyed by (portal room, sender, stanza ID), since
stanza IDs are chosen by the sending client and only unique per sender; the Matrix side by event
ID. Both keys are unique, so a message can be recorded only once from either side.
"""

from __future__ import annotations

import sqlite3
import time

import asyncpg
from attrs import define
from mautrix.types import EventID, RoomID
from mautrix.util.async_db import Database

from ...content.models import StanzaId
from ..ids import Address

# A message ID on the gateway, chosen by the sending client: the content schema's type, under
# the spelling of the Matrix side's IDs.

# A unique key taken on either side. asyncpg and sqlite3 report it with their own exceptions.
_CONFLICT = (asyncpg.UniqueViolationError, sqlite3.IntegrityError)

_COLUMNS = "room_id, event_id, stanza_id, sender, from_matrix, timestamp, created_at"


class DuplicateMessage(Exception):
    """The event or the (sender, stanza) pair is already mapped to another message."""


@define(frozen=True)
class MappedMessage:
    room_id: RoomID
    event_id: EventID
    stanza_id: StanzaId
    # The gateway internal ID of the author: the contact, or for messages written on Matrix the
    # partner user's own internal ID.
    sender: Address
    # True for messages the Matrix user wrote (Matrix → gateway), False for the contact's.
    from_matrix: bool
    # When the message was sent, in milliseconds since the epoch.
    timestamp: int
    created_at: int

    @classmethod
    def from_row(cls, row) -> MappedMessage:
        return cls(room_id=RoomID(row["room_id"]), event_id=EventID(row["event_id"]),
                   stanza_id=StanzaId(row["stanza_id"]), sender=Address(row["sender"]),
                   from_matrix=bool(row["from_matrix"]), timestamp=row["timestamp"],
                   created_at=row["created_at"])


class MessageMap:
    """Plain SQL over ``portal_message``; one instance per bridge."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def add(self, *, room_id: RoomID, event_id: EventID, stanza_id: StanzaId,
                  sender: Address, from_matrix: bool, timestamp: int | None = None
                  ) -> MappedMessage:
        """Record a bridged message. Raises :class:`DuplicateMessage` if either side is known."""
        now = int(time.time() * 1000)
        message = MappedMessage(room_id=room_id, event_id=event_id, stanza_id=stanza_id,
                                sender=sender, from_matrix=from_matrix,
                                timestamp=now if timestamp is None else timestamp,
                                created_at=now)
        try:
            await self.db.execute(
                f"INSERT INTO portal_message ({_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7)",
                message.room_id, message.event_id, message.stanza_id, message.sender,
                message.from_matrix, message.timestamp, message.created_at,
            )
        except _CONFLICT as e:
            if isinstance(e, sqlite3.IntegrityError) and "UNIQUE" not in str(e):
                raise  # a missing portal (foreign key) or a NULL, not a duplicate
            raise DuplicateMessage(
                f"event {event_id} or stanza {stanza_id} from {sender} is already mapped"
            ) from e
        return message

    async def by_event(self, event_id: EventID) -> MappedMessage | None:
        row = await self.db.fetchrow(
            f"SELECT {_COLUMNS} FROM portal_message WHERE event_id=$1", event_id
        )
        return MappedMessage.from_row(row) if row else None

    async def by_stanza(self, room_id: RoomID, stanza_id: StanzaId,
                        sender: Address | None = None) -> MappedMessage | None:
        """The message with this stanza ID in the portal; ``sender`` narrows it when known.

        Without a sender (receipts name only the IDs of our own messages), the newest match wins.
        """
        if sender is not None:
            row = await self.db.fetchrow(
                f"SELECT {_COLUMNS} FROM portal_message "
                "WHERE room_id=$1 AND stanza_id=$2 AND sender=$3",
                room_id, stanza_id, sender,
            )
        else:
            row = await self.db.fetchrow(
                f"SELECT {_COLUMNS} FROM portal_message WHERE room_id=$1 AND stanza_id=$2 "
                "ORDER BY timestamp DESC LIMIT 1",
                room_id, stanza_id,
            )
        return MappedMessage.from_row(row) if row else None

    async def latest(self, room_id: RoomID, *, from_matrix: bool | None = None
                     ) -> MappedMessage | None:
        """The newest mapped message in the portal (optionally only one side's)."""
        if from_matrix is None:
            row = await self.db.fetchrow(
                f"SELECT {_COLUMNS} FROM portal_message WHERE room_id=$1 "
                "ORDER BY timestamp DESC LIMIT 1", room_id,
            )
        else:
            row = await self.db.fetchrow(
                f"SELECT {_COLUMNS} FROM portal_message WHERE room_id=$1 AND from_matrix=$2 "
                "ORDER BY timestamp DESC LIMIT 1", room_id, from_matrix,
            )
        return MappedMessage.from_row(row) if row else None

    async def delete_by_event(self, event_id: EventID) -> bool:
        """Forget a message (after it was deleted on both sides); True if it was mapped."""
        row = await self.db.fetchrow(
            "DELETE FROM portal_message WHERE event_id=$1 RETURNING event_id", event_id
        )
        return row is not None
