"""v3: reports partners sent about users (docs/gateway-protocol.md §7.10).

The disclosed messages hold message content, so they are sealed like simulated users' inboxes
(one sealed JSON list per report, the report id as associated data).
"""

from __future__ import annotations

from mautrix.util.async_db import Connection, Scheme

from bridge.storage.upgrade.dialect import blob


async def upgrade(conn: Connection, scheme: Scheme) -> None:
    await create_v03(conn, scheme)


async def create_v03(conn: Connection, scheme: Scheme) -> None:
    await conn.execute(
        f"""CREATE TABLE report (
            report_id       TEXT PRIMARY KEY,
            reporter        TEXT NOT NULL,
            reported        TEXT NOT NULL,
            reason          TEXT NOT NULL,
            block_requested BOOLEAN NOT NULL,
            message_count   INTEGER NOT NULL,
            received_at     BIGINT NOT NULL,
            sealed_messages {blob(scheme)} NOT NULL
        )"""
    )
    await conn.execute("CREATE INDEX report_reported_idx ON report (reported, received_at)")
