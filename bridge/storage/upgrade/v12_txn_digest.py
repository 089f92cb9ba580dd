"""v12: a digest of each homeserver transaction, to tell a retry from a reused transaction id."""

from __future__ import annotations

from mautrix.util.async_db import Connection


async def upgrade(conn: Connection) -> None:
    await conn.execute("ALTER TABLE appservice_txn ADD COLUMN digest TEXT")
