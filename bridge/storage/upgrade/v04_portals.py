"""v4: portals (one room per Matrix user and contact), puppets (one ghost per gatekeeper user) and
the message map between Matrix event IDs and gateway stanza IDs."""

from __future__ import annotations

from mautrix.util.async_db import Connection


async def upgrade(conn: Connection) -> None:
    await conn.execute(
        """CREATE TABLE puppet (
            internal_id TEXT PRIMARY KEY,
            mxid        TEXT NOT NULL UNIQUE,
            username    TEXT NOT NULL,
            displayname TEXT,
            name_set    BOOLEAN NOT NULL DEFAULT false,
            avatar_hash TEXT,
            avatar_mxc  TEXT,
            avatar_set  BOOLEAN NOT NULL DEFAULT false,
            created_at  BIGINT NOT NULL
        )"""
    )
    await conn.execute(
        """CREATE TABLE portal (
            user_mxid        TEXT NOT NULL,
            contact_id       TEXT NOT NULL,
            room_id          TEXT NOT NULL UNIQUE,
            contact_name     TEXT NOT NULL,
            encrypted        BOOLEAN NOT NULL,
            read_only_reason TEXT,
            blocked          BOOLEAN NOT NULL DEFAULT false,
            created_at       BIGINT NOT NULL,
            PRIMARY KEY (user_mxid, contact_id)
        )"""
    )
    await conn.execute(
        """CREATE TABLE portal_message (
            room_id     TEXT NOT NULL REFERENCES portal (room_id) ON DELETE CASCADE,
            event_id    TEXT NOT NULL UNIQUE,
            stanza_id   TEXT NOT NULL,
            sender      TEXT NOT NULL,
            from_matrix BOOLEAN NOT NULL,
            timestamp   BIGINT NOT NULL,
            created_at  BIGINT NOT NULL,
            PRIMARY KEY (room_id, sender, stanza_id)
        )"""
    )
    await conn.execute(
        "CREATE INDEX portal_message_stanza_idx ON portal_message (room_id, stanza_id)"
    )
