"""v10: contacts held until the user confirms their changed identity key (policy ``block``)."""

from __future__ import annotations

from mautrix.util.async_db import Connection, Scheme

from .dialect import blob


async def upgrade(conn: Connection, scheme: Scheme) -> None:
    await conn.execute(
        f"""CREATE TABLE identity_hold (
            user_id     TEXT NOT NULL,
            peer        TEXT NOT NULL,
            sealed_key  {blob(scheme)} NOT NULL,
            detected_at BIGINT NOT NULL,
            PRIMARY KEY (user_id, peer)
        )"""
    )
