"""v2: the Signal layer's state and the trust boundary's wrapped data keys.

Every secret column holds a value sealed by the user's boundary (``bridge.trust``); the plain
columns are ids, states and times that the bridge needs to query on.
"""

from __future__ import annotations

from mautrix.util.async_db import Connection, Scheme

from .dialect import blob


async def upgrade(conn: Connection, scheme: Scheme) -> None:
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
    await conn.execute(
        f"""CREATE TABLE signal_session (
            user_id    TEXT NOT NULL,
            peer       TEXT NOT NULL,
            sealed     {b} NOT NULL,
            updated_at BIGINT NOT NULL,
            PRIMARY KEY (user_id, peer)
        )"""
    )
    await conn.execute(
        f"""CREATE TABLE signal_peer_identity (
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
    await conn.execute(
        f"""CREATE TABLE signal_inbound (
            user_id            TEXT NOT NULL,
            gateway_message_id TEXT NOT NULL,
            sender             TEXT NOT NULL,
            message_type       TEXT NOT NULL,
            ciphertext         {b},
            sealed_plaintext   {b},
            state              TEXT NOT NULL,
            error              TEXT,
            received_at        BIGINT NOT NULL,
            PRIMARY KEY (user_id, gateway_message_id)
        )"""
    )
    await conn.execute(
        "CREATE INDEX signal_inbound_state_idx ON signal_inbound (user_id, state, received_at)"
    )
    await conn.execute(
        f"""CREATE TABLE signal_outbound (
            user_id          TEXT NOT NULL,
            local_id         TEXT NOT NULL,
            recipient        TEXT NOT NULL,
            sealed_plaintext {b} NOT NULL,
            message_type     TEXT,
            ciphertext       {b},
            state            TEXT NOT NULL,
            created_at       BIGINT NOT NULL,
            PRIMARY KEY (user_id, local_id)
        )"""
    )
    await conn.execute(
        "CREATE INDEX signal_outbound_state_idx ON signal_outbound (user_id, state, created_at)"
    )
