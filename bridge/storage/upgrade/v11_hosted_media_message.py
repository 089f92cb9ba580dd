"""v11: which outgoing message a hosted blob belongs to, so a failed send can withdraw it."""

from __future__ import annotations

from mautrix.util.async_db import Connection


async def upgrade(conn: Connection) -> None:
    await conn.execute("ALTER TABLE hosted_media ADD COLUMN message_id TEXT")
    await conn.execute("CREATE INDEX hosted_media_message_idx ON hosted_media (owner, message_id)")
