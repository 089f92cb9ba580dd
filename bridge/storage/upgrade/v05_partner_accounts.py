"""v5: partner accounts (one per Matrix user who opted in to third-party chats)."""

from __future__ import annotations

from mautrix.util.async_db import Connection, Scheme

from .dialect import blob


async def upgrade(conn: Connection, scheme: Scheme) -> None:
    await conn.execute(
        f"""CREATE TABLE partner_account (
            mxid                TEXT PRIMARY KEY,
            state               TEXT NOT NULL,
            user_visible_id     TEXT UNIQUE,
            internal_id         TEXT UNIQUE,
            sealed_noise_key    {blob(scheme)},
            disclosure_shown_at BIGINT,
            opted_in_at         BIGINT,
            opted_out_at        BIGINT,
            last_error          TEXT
        )"""
    )
