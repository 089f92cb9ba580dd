"""v2: durable simulated gatekeeper users (their Signal state, prekey bookkeeping and inbox).

The Signal tables have the same shape as the bridge's (``bridge.signal.store.SqlSignalStores``
reads and writes them), with every secret sealed by a per-user data key in ``trust_user_key``.
They are copied here rather than shared, so a later bridge schema step never changes the
sandbox's database behind its own version table.
"""

from __future__ import annotations

from mautrix.util.async_db import Connection, Scheme

from bridge.storage.upgrade.dialect import autoincrement_pk, blob


async def upgrade(conn: Connection, scheme: Scheme) -> None:
    await create_v02(conn, scheme)


async def create_v02(conn: Connection, scheme: Scheme) -> None:
    b = blob(scheme)
    await conn.execute(
        f"""CREATE TABLE trust_user_key (
            user_id       TEXT PRIMARY KEY,
            wrapped_key   {b} NOT NULL,
            master_key_id TEXT NOT NULL,
            created_at    BIGINT NOT NULL
        )"""
    )
    await conn.execute(
        f"""CREATE TABLE signal_identity (
            user_id                   TEXT PRIMARY KEY,
            sealed                    {b} NOT NULL,
            current_signed_pre_key_id INTEGER NOT NULL,
            next_signed_pre_key_id    INTEGER NOT NULL,
            next_pre_key_id           INTEGER NOT NULL
        )"""
    )
    await conn.execute(
        f"""CREATE TABLE signal_signed_pre_key (
            user_id    TEXT NOT NULL,
            key_id     INTEGER NOT NULL,
            sealed     {b} NOT NULL,
            created_at BIGINT NOT NULL,
            PRIMARY KEY (user_id, key_id)
        )"""
    )
    await conn.execute(
        f"""CREATE TABLE signal_pre_key (
            user_id TEXT NOT NULL,
            key_id  INTEGER NOT NULL,
            sealed  {b} NOT NULL,
            PRIMARY KEY (user_id, key_id)
        )"""
    )
    for table in ("signal_session", "signal_peer_identity"):
        await conn.execute(
            f"""CREATE TABLE {table} (
                user_id    TEXT NOT NULL,
                peer       TEXT NOT NULL,
                sealed     {b} NOT NULL,
                updated_at BIGINT NOT NULL,
                PRIMARY KEY (user_id, peer)
            )"""
        )
    await conn.execute(
        f"""CREATE TABLE signal_sender_key (
            user_id    TEXT NOT NULL,
            group_id   TEXT NOT NULL,
            sender     TEXT NOT NULL,
            sealed     {b} NOT NULL,
            updated_at BIGINT NOT NULL,
            PRIMARY KEY (user_id, group_id, sender)
        )"""
    )
    # Which gatekeeper users are simulated, and the highest one-time prekey id they published
    # (a refill publishes only newer ones, so no prekey is handed out twice, across restarts too).
    await conn.execute(
        """CREATE TABLE simulated_user (
            address         TEXT PRIMARY KEY,
            published_up_to INTEGER NOT NULL,
            enabled_at      BIGINT NOT NULL
        )"""
    )
    # What a simulated user received, decoded; the entry (which holds message content) is sealed.
    await conn.execute(
        f"""CREATE TABLE simulated_inbox (
            seq          {autoincrement_pk(scheme)},
            address      TEXT NOT NULL,
            stanza_class TEXT NOT NULL,
            stanza_id    TEXT NOT NULL,
            sender       TEXT NOT NULL,
            stanza_type  TEXT NOT NULL,
            received_at  BIGINT NOT NULL,
            sealed       {b} NOT NULL
        )"""
    )
    await conn.execute(
        """CREATE UNIQUE INDEX simulated_inbox_entry_idx
           ON simulated_inbox (address, stanza_class, sender, stanza_id, stanza_type)"""
    )
