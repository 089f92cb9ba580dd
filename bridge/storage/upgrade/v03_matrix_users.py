"""v3: Matrix users of the bridge and their management rooms."""

from __future__ import annotations

from mautrix.util.async_db import Connection


async def upgrade(conn: Connection) -> None:
    await conn.execute(
        """CREATE TABLE matrix_user (
            mxid            TEXT PRIMARY KEY,
            management_room TEXT,
            created_at      BIGINT NOT NULL
        )"""
    )
