"""The partner client connections of all users, found by user-visible id (what pushes name)."""

from __future__ import annotations

import asyncio
import logging

from .connection import GatewayConnection
from .ids import UserVisibleId

log = logging.getLogger("bridge.gateway.directory")


class ConnectionDirectory:
    """Owns one :class:`GatewayConnection` per opted-in user. Its :meth:`on_push` is the
    ``PartnerEndpoints.on_push`` callback: a push wakes exactly that user's connection."""

    def __init__(self) -> None:
        self._by_user: dict[UserVisibleId, GatewayConnection] = {}

    def add(self, user: UserVisibleId, connection: GatewayConnection) -> None:
        if user in self._by_user:
            raise ValueError("user already has a gateway connection")
        self._by_user[user] = connection

    def get(self, user: UserVisibleId) -> GatewayConnection | None:
        return self._by_user.get(user)

    async def remove(self, user: UserVisibleId) -> None:
        connection = self._by_user.pop(user, None)
        if connection is not None:
            await connection.close()

    async def on_push(self, user: UserVisibleId) -> None:
        connection = self._by_user.get(user)
        if connection is None:
            # Not an error: the gatekeeper may push for a user who just opted out.
            log.debug("push for a user without a connection")
            return
        connection.wake()

    async def close_all(self) -> None:
        connections = list(self._by_user.values())
        self._by_user.clear()
        await asyncio.gather(*(c.close() for c in connections), return_exceptions=True)

    def __len__(self) -> int:
        return len(self._by_user)
