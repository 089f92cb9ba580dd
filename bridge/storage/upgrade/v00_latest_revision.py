"""The newest schema, created in one transaction on a fresh database.

Keep this equal to the result of applying every step file in order; the schema test checks it.
"""

from __future__ import annotations

from mautrix.util.async_db import Connection, Scheme

from .dialect import autoincrement_pk, blob
from .v14_matrix_devices import create_matrix_device


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
            received_at BIGINT NOT NULL,
            digest      TEXT
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

    # --- signal layer and trust boundary (v02) ---
    await conn.execute(
        f"""CREATE TABLE trust_user_key (
            user_id       TEXT PRIMARY KEY,
            wrapped_key   {blob(scheme)} NOT NULL,
            master_key_id TEXT NOT NULL,
            created_at    BIGINT NOT NULL
        )"""
    )
    await conn.execute(
        f"""CREATE TABLE signal_identity (
            user_id                   TEXT PRIMARY KEY,
            sealed                    {blob(scheme)} NOT NULL,
            current_signed_pre_key_id INTEGER NOT NULL,
            next_signed_pre_key_id    INTEGER NOT NULL,
            next_pre_key_id           INTEGER NOT NULL
        )"""
    )
    await conn.execute(
        f"""CREATE TABLE signal_signed_pre_key (
            user_id    TEXT NOT NULL,
            key_id     INTEGER NOT NULL,
            sealed     {blob(scheme)} NOT NULL,
            created_at BIGINT NOT NULL,
            PRIMARY KEY (user_id, key_id)
        )"""
    )
    await conn.execute(
        f"""CREATE TABLE signal_pre_key (
            user_id TEXT NOT NULL,
            key_id  INTEGER NOT NULL,
            sealed  {blob(scheme)} NOT NULL,
            PRIMARY KEY (user_id, key_id)
        )"""
    )
    await conn.execute(
        f"""CREATE TABLE signal_session (
            user_id    TEXT NOT NULL,
            peer       TEXT NOT NULL,
            sealed     {blob(scheme)} NOT NULL,
            updated_at BIGINT NOT NULL,
            PRIMARY KEY (user_id, peer)
        )"""
    )
    await conn.execute(
        f"""CREATE TABLE signal_peer_identity (
            user_id    TEXT NOT NULL,
            peer       TEXT NOT NULL,
            sealed     {blob(scheme)} NOT NULL,
            updated_at BIGINT NOT NULL,
            PRIMARY KEY (user_id, peer)
        )"""
    )
    await conn.execute(
        f"""CREATE TABLE signal_sender_key (
            user_id    TEXT NOT NULL,
            group_id   TEXT NOT NULL,
            sender     TEXT NOT NULL,
            sealed     {blob(scheme)} NOT NULL,
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
            ciphertext         {blob(scheme)},
            sealed_plaintext   {blob(scheme)},
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
            sealed_plaintext {blob(scheme)} NOT NULL,
            message_type     TEXT,
            ciphertext       {blob(scheme)},
            state            TEXT NOT NULL,
            created_at       BIGINT NOT NULL,
            PRIMARY KEY (user_id, local_id)
        )"""
    )
    await conn.execute(
        "CREATE INDEX signal_outbound_state_idx ON signal_outbound (user_id, state, created_at)"
    )

    # --- Matrix users (v03, inbox choice v09) ---
    await conn.execute(
        """CREATE TABLE matrix_user (
            user_id         TEXT PRIMARY KEY,
            management_room TEXT,
            created_at      BIGINT NOT NULL,
            inbox           TEXT,
            space_room      TEXT
        )"""
    )

    # --- portals and puppets (v04) ---
    await conn.execute(
        """CREATE TABLE puppet (
            contact_id  TEXT PRIMARY KEY,
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
            user_id        TEXT NOT NULL,
            contact_id       TEXT NOT NULL,
            room_id          TEXT NOT NULL UNIQUE,
            contact_name     TEXT NOT NULL,
            encrypted        BOOLEAN NOT NULL,
            read_only_reason TEXT,
            blocked          BOOLEAN NOT NULL DEFAULT false,
            created_at       BIGINT NOT NULL,
            PRIMARY KEY (user_id, contact_id)
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

    # --- partner accounts (v05) ---
    await conn.execute(
        f"""CREATE TABLE partner_account (
            user_id             TEXT PRIMARY KEY,
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

    # --- hosted media (v06, the message it belongs to v11) and reactions (v06) ---
    await conn.execute(
        f"""CREATE TABLE hosted_media (
            storage_reference TEXT PRIMARY KEY,
            user_id           TEXT NOT NULL,
            blob              {blob(scheme)} NOT NULL,
            created_at        BIGINT NOT NULL,
            message_id        TEXT
        )"""
    )
    await conn.execute(
        "CREATE INDEX hosted_media_message_idx ON hosted_media (user_id, message_id)")
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

    # --- reachability pings (v07) ---
    await conn.execute(
        """CREATE TABLE reachability_ping (
            user_id TEXT NOT NULL,
            address   TEXT NOT NULL,
            sent_at   BIGINT NOT NULL,
            PRIMARY KEY (user_id, address)
        )"""
    )

    # --- message requests (v08) ---
    await conn.execute(
        """CREATE TABLE message_request (
            user_id  TEXT NOT NULL,
            contact_id TEXT NOT NULL,
            username   TEXT NOT NULL,
            state      TEXT NOT NULL,
            created_at BIGINT NOT NULL,
            PRIMARY KEY (user_id, contact_id)
        )"""
    )

    # --- identity changes waiting for confirmation (v10) ---
    await conn.execute(
        f"""CREATE TABLE identity_hold (
            user_id     TEXT NOT NULL,
            peer        TEXT NOT NULL,
            sealed_key  {blob(scheme)} NOT NULL,
            detected_at BIGINT NOT NULL,
            PRIMARY KEY (user_id, peer)
        )"""
    )

    # --- messages kept for reports (v13) ---
    await conn.execute(
        f"""CREATE TABLE report_evidence (
            user_id    TEXT NOT NULL,
            contact_id TEXT NOT NULL,
            stanza_id  TEXT NOT NULL,
            sent_at    BIGINT NOT NULL,
            kept_at    BIGINT NOT NULL,
            sealed     {blob(scheme)} NOT NULL,
            PRIMARY KEY (user_id, contact_id, stanza_id)
        )"""
    )
    await conn.execute("CREATE INDEX report_evidence_order_idx ON report_evidence "
                       "(user_id, contact_id, kept_at)")

    # --- the bridge's own Matrix devices (v14) ---
    await create_matrix_device(conn, scheme)
