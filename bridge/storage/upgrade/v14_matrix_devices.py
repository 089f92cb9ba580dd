"""v14: the bridge's own Matrix devices (the bot's and each speaking ghost's), with their
cross-signing keys sealed under the master key."""

from __future__ import annotations

from mautrix.util.async_db import Connection, Scheme

from .dialect import blob


async def upgrade(conn: Connection, scheme: Scheme) -> None:
    await create_matrix_device(conn, scheme)


async def create_matrix_device(conn: Connection, scheme: Scheme) -> None:
    # user_id: the bot or a ghost; master_key: the public master key we published (NULL until
    # then); cross_signing: the three private seeds, sealed.
    await conn.execute(
        f"""CREATE TABLE matrix_device (
            user_id       TEXT PRIMARY KEY,
            device_id     TEXT NOT NULL,
            master_key    TEXT,
            cross_signing {blob(scheme)},
            created_at    BIGINT NOT NULL
        )"""
    )
