"""v9: each user's inbox choice and their space for third-party chats."""

from __future__ import annotations

from mautrix.util.async_db import Connection


async def upgrade(conn: Connection) -> None:
    await conn.execute("ALTER TABLE matrix_user ADD COLUMN inbox TEXT")
    await conn.execute("ALTER TABLE matrix_user ADD COLUMN space_room TEXT")
