"""v8: message requests — first contact from a gatekeeper user the Matrix user never talked to."""

from __future__ import annotations

from mautrix.util.async_db import Connection


async def upgrade(conn: Connection) -> None:
    await conn.execute(
        """CREATE TABLE message_request (
            user_mxid  TEXT NOT NULL,
            contact_id TEXT NOT NULL,
            username   TEXT NOT NULL,
            state      TEXT NOT NULL,
            created_at BIGINT NOT NULL,
            PRIMARY KEY (user_mxid, contact_id)
        )"""
    )
