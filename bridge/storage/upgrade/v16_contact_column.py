"""v16: a contact's column is ``contact_id`` in every table: the ghost's table called it
``internal_id``, which is the name of a partner user's own id on the gateway."""

from __future__ import annotations

from mautrix.util.async_db import Connection, Scheme


async def upgrade(conn: Connection, scheme: Scheme) -> None:
    # Both engines rename in place (SQLite since 3.25); the primary key follows.
    await conn.execute("ALTER TABLE puppet RENAME COLUMN internal_id TO contact_id")
