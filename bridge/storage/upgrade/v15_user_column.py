"""v15: the opted-in Matrix user's column has one name, ``user_id``, in every table (it was
``mxid``, ``user_mxid`` or ``owner`` in some)."""

from __future__ import annotations

from mautrix.util.async_db import Connection, Scheme

RENAMED = [
    ("matrix_user", "mxid"),
    ("partner_account", "mxid"),
    ("portal", "user_mxid"),
    ("reachability_ping", "user_mxid"),
    ("message_request", "user_mxid"),
    ("report_evidence", "user_mxid"),
    ("hosted_media", "owner"),
]


async def upgrade(conn: Connection, scheme: Scheme) -> None:
    # Both engines rename in place (SQLite since 3.25): keys, indexes and references follow.
    for table, column in RENAMED:
        await conn.execute(f"ALTER TABLE {table} RENAME COLUMN {column} TO user_id")
