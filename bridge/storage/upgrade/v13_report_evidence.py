"""v13: the last messages from each contact, kept sealed so that the user can report them."""

from __future__ import annotations

from mautrix.util.async_db import Connection, Scheme

from .dialect import blob


async def upgrade(conn: Connection, scheme: Scheme) -> None:
    await create_report_evidence(conn, scheme)


async def create_report_evidence(conn: Connection, scheme: Scheme) -> None:
    await conn.execute(
        f"""CREATE TABLE report_evidence (
            user_mxid  TEXT NOT NULL,
            contact_id TEXT NOT NULL,
            stanza_id  TEXT NOT NULL,
            sent_at    BIGINT NOT NULL,
            kept_at    BIGINT NOT NULL,
            sealed     {blob(scheme)} NOT NULL,
            PRIMARY KEY (user_mxid, contact_id, stanza_id)
        )"""
    )
    await conn.execute("CREATE INDEX report_evidence_order_idx ON report_evidence "
                       "(user_mxid, contact_id, kept_at)")
