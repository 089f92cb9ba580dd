"""The newest schema, created in one transaction on a fresh database.

Keep this equal to the result of applying every step file in order; the schema test checks it.
"""

from __future__ import annotations

from mautrix.util.async_db import Connection, Scheme

from .dialect import autoincrement_pk


async def create_latest(conn: Connection, scheme: Scheme) -> None:
    # --- foundation (v01) ---
    await conn.execute(
        """CREATE TABLE bridge_state (
            key   TEXT PRIMARY KEY,
            value TEXT NOT NULL
        )"""
    )
    await conn.execute(
        """CREATE TABLE appservice_txn (
            txn_id      TEXT PRIMARY KEY,
            received_at BIGINT NOT NULL
        )"""
    )
    await conn.execute(
        f"""CREATE TABLE matrix_inbox (
            seq         {autoincrement_pk(scheme)},
            txn_id      TEXT NOT NULL,
            kind        TEXT NOT NULL,
            room_id     TEXT NOT NULL,
            event       TEXT NOT NULL,
            attempts    INTEGER NOT NULL DEFAULT 0,
            received_at BIGINT NOT NULL
        )"""
    )
    await conn.execute("CREATE INDEX matrix_inbox_room_idx ON matrix_inbox (room_id, seq)")

    # --- Matrix users (v03) ---
    await conn.execute(
        """CREATE TABLE matrix_user (
            mxid            TEXT PRIMARY KEY,
            management_room TEXT,
            created_at      BIGINT NOT NULL
        )"""
    )
