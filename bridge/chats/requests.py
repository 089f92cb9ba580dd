"""Message requests: the first message from someone the Matrix user never talked to is held.

The user sees who it is and what they wrote in the management room and decides: `accept` opens
the chat and shows everything held, in order; `block` blocks them at the gateway and drops what
was held. Nothing else from a pending sender is shown, and a blocked request never comes back.
"""

from __future__ import annotations

import time
from enum import Enum

from attrs import define
from mautrix.types import UserID
from mautrix.util.async_db import Database

from ..gateway.ids import Address


class RequestState(str, Enum):
    PENDING = "pending"
    ACCEPTED = "accepted"
    BLOCKED = "blocked"


@define
class MessageRequest:
    user_id: UserID
    contact_id: Address
    username: str
    state: RequestState
    created_at: int


class MessageRequests:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def get(self, user_id: UserID, contact_id: str) -> MessageRequest | None:
        row = await self.db.fetchrow(
            "SELECT user_id, contact_id, username, state, created_at FROM message_request "
            "WHERE user_id=$1 AND contact_id=$2", user_id, contact_id)
        if row is None:
            return None
        return MessageRequest(UserID(row["user_id"]), Address(row["contact_id"]),
                              row["username"], RequestState(row["state"]), row["created_at"])

    async def by_username(self, user_id: UserID, username: str) -> MessageRequest | None:
        contact_id = await self.db.fetchval(
            "SELECT contact_id FROM message_request WHERE user_id=$1 AND username=$2",
            user_id, username)
        return await self.get(user_id, contact_id) if contact_id else None

    async def open(self, user_id: UserID, contact_id: str, username: str) -> bool:
        """Record a new pending request; False when there already is one (in any state)."""
        inserted = await self.db.fetchval(
            "INSERT INTO message_request (user_id, contact_id, username, state, created_at) "
            "VALUES ($1, $2, $3, $4, $5) ON CONFLICT (user_id, contact_id) DO NOTHING "
            "RETURNING contact_id", user_id, contact_id, username,
            RequestState.PENDING.value, int(time.time() * 1000))
        return inserted is not None

    async def settle(self, user_id: UserID, contact_id: str, state: RequestState) -> None:
        await self.db.execute("UPDATE message_request SET state=$3 WHERE user_id=$1 AND "
                              "contact_id=$2", user_id, contact_id, state.value)
