"""v6: media the bridge hosts for the gatekeeper, and reactions known on both sides."""

from __future__ import annotations

from mautrix.util.async_db import Connection, Scheme

from .dialect import blob


async def upgrade(conn: Connection, scheme: Scheme) -> None:
    await conn.execute(
        f"""CREATE TABLE hosted_media (
            storage_reference TEXT PRIMARY KEY,
            owner             TEXT NOT NULL,
            blob              {blob(scheme)} NOT NULL,
            created_at        BIGINT NOT NULL
        )"""
    )
    await conn.execute(
        """CREATE TABLE portal_reaction (
            event_id      TEXT PRIMARY KEY,
            room_id       TEXT NOT NULL,
            target_sender TEXT NOT NULL,
            target_stanza TEXT NOT NULL,
            sender        TEXT NOT NULL,
            reaction_key  TEXT NOT NULL,
            created_at    BIGINT NOT NULL
        )"""
    )
    # A person's current reaction to a message is their latest; earlier ones stay known.
    await conn.execute(
        "CREATE INDEX portal_reaction_target_idx ON portal_reaction "
        "(room_id, target_sender, target_stanza, sender, created_at)"
    )
