"""Contacts whose changed identity key waits for the user's confirmation (policy ``block``).

While a contact is held, nothing goes to them and nothing from them is shown: incoming messages
stay in the durable inbox (undecrypted, or decrypted but not handed on), outgoing ones stay
queued in the outbox. The new key is kept (sealed in the user's boundary) so that `trust`
confirms exactly the key the notice showed, not whatever the gateway hands out later.
"""

from __future__ import annotations

import time

from ..gateway.ids import Address
from ..signal.types import UserId
from ..storage import Connection, Database, acquire, transaction
from ..trust import Purpose
from ..trust.scope import UserScope


async def forget_user(conn: Connection, user: UserId) -> None:
    await conn.execute("DELETE FROM identity_hold WHERE user_id=$1", user)


class IdentityHolds:
    """The held contacts of one user."""

    def __init__(self, db: Database, scope: UserScope) -> None:
        self.db, self.scope, self.user_id = db, scope, UserId(scope.user)

    async def hold(self, peer: Address, new_identity_key: bytes) -> bool:
        """Hold ``peer`` until ``new_identity_key`` is confirmed. False when exactly that was
        held already (the user was told about it)."""
        if await self.held_key(peer) == new_identity_key:
            return False
        async with acquire(self.db) as conn, transaction(conn):
            boundary = await self.scope.boundary(conn)
            await conn.execute(
                "INSERT INTO identity_hold (user_id, peer, sealed_key, detected_at)"
                " VALUES ($1, $2, $3, $4) ON CONFLICT (user_id, peer) DO UPDATE SET"
                " sealed_key=excluded.sealed_key, detected_at=excluded.detected_at",
                self.user_id, peer, boundary.seal(Purpose.HELD_IDENTITY, peer, new_identity_key),
                int(time.time() * 1000))
        return True

    async def held_key(self, peer: Address) -> bytes | None:
        """The new key waiting for confirmation, or None when ``peer`` is not held."""
        async with acquire(self.db) as conn:
            sealed = await conn.fetchval(
                "SELECT sealed_key FROM identity_hold WHERE user_id=$1 AND peer=$2",
                self.user_id, peer)
            if sealed is None:
                return None
            boundary = await self.scope.boundary(conn)
            return boundary.open(Purpose.HELD_IDENTITY, peer, sealed)

    async def is_held(self, peer: Address) -> bool:
        return await self.db.fetchval(
            "SELECT 1 FROM identity_hold WHERE user_id=$1 AND peer=$2",
            self.user_id, peer) is not None

    async def release(self, conn, peer: Address) -> None:
        """Drop the hold (on ``conn``, in the transaction that trusts the new key)."""
        await conn.execute("DELETE FROM identity_hold WHERE user_id=$1 AND peer=$2",
                           self.user_id, peer)
