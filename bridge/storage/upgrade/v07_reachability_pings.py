"""v7: when each user last asked a gatekeeper user to turn on third-party chats."""

from __future__ import annotations

from mautrix.util.async_db import Connection


async def upgrade(conn: Connection) -> None:
    await conn.execute(
        """CREATE TABLE reachability_ping (
            user_mxid TEXT NOT NULL,
            address   TEXT NOT NULL,
            sent_at   BIGINT NOT NULL,
            PRIMARY KEY (user_mxid, address)
        )"""
    )
