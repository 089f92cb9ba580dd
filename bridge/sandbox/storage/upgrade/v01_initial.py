"""v1: enlisted partner users, keys, mailbox, send dedupe, gatekeeper users, blocklists, media."""

from __future__ import annotations

from mautrix.util.async_db import Connection, Scheme

from bridge.storage.upgrade.dialect import autoincrement_pk, blob


async def upgrade(conn: Connection, scheme: Scheme) -> None:
    await create_v01(conn, scheme)


async def create_v01(conn: Connection, scheme: Scheme) -> None:
    await conn.execute(
        """CREATE TABLE sandbox_state (
            key   TEXT PRIMARY KEY,
            value TEXT NOT NULL
        )"""
    )
    await conn.execute(
        f"""CREATE TABLE partner_user (
            internal_id       TEXT PRIMARY KEY,
            visible_id        TEXT NOT NULL UNIQUE,
            noise_key         {blob(scheme)} NOT NULL,
            registration_id   BIGINT NOT NULL,
            identity_key      {blob(scheme)} NOT NULL,
            signed_prekey_id  INTEGER NOT NULL,
            signed_prekey     {blob(scheme)} NOT NULL,
            signed_prekey_sig {blob(scheme)} NOT NULL,
            enlisted_at       BIGINT NOT NULL,
            last_seen_at      BIGINT NOT NULL
        )"""
    )
    await conn.execute("CREATE INDEX partner_user_noise_key_idx ON partner_user (noise_key)")
    # Why a login no longer exists (idle un-enlistment, opt-out), so a reconnect gets a clear
    # error.
    await conn.execute(
        """CREATE TABLE retired_login (
            internal_id TEXT PRIMARY KEY,
            reason      TEXT NOT NULL,
            retired_at  BIGINT NOT NULL
        )"""
    )
    await conn.execute(
        f"""CREATE TABLE one_time_prekey (
            owner      TEXT NOT NULL,
            prekey_id  INTEGER NOT NULL,
            public_key {blob(scheme)} NOT NULL,
            PRIMARY KEY (owner, prekey_id)
        )"""
    )
    # Who fetched whose bundle with which identity key: they get an identity-change notification.
    await conn.execute(
        f"""CREATE TABLE bundle_fetch (
            fetcher      TEXT NOT NULL,
            target       TEXT NOT NULL,
            identity_key {blob(scheme)} NOT NULL,
            fetched_at   BIGINT NOT NULL,
            PRIMARY KEY (fetcher, target)
        )"""
    )
    await conn.execute("CREATE INDEX bundle_fetch_target_idx ON bundle_fetch (target)")
    await conn.execute(
        f"""CREATE TABLE mailbox (
            seq        {autoincrement_pk(scheme)},
            recipient  TEXT NOT NULL,
            ack_class  TEXT NOT NULL,
            stanza_id  TEXT NOT NULL,
            peer       TEXT NOT NULL,
            stanza_type TEXT NOT NULL,
            stanza     TEXT NOT NULL,
            stored_at  BIGINT NOT NULL
        )"""
    )
    await conn.execute(
        """CREATE UNIQUE INDEX mailbox_entry_idx
           ON mailbox (recipient, ack_class, stanza_id, peer, stanza_type)"""
    )
    await conn.execute("CREATE INDEX mailbox_stored_at_idx ON mailbox (stored_at)")
    await conn.execute(
        """CREATE TABLE client_send (
            sender      TEXT NOT NULL,
            dedupe_key  TEXT NOT NULL,
            outcome     TEXT NOT NULL,
            received_at BIGINT NOT NULL,
            PRIMARY KEY (sender, dedupe_key)
        )"""
    )
    await conn.execute(
        f"""CREATE TABLE gatekeeper_user (
            username   TEXT PRIMARY KEY,
            address    TEXT NOT NULL UNIQUE,
            opted_in   BOOLEAN NOT NULL,
            created_at BIGINT NOT NULL,
            -- Signal keys of a simulated gatekeeper user (absent until some client uploads them)
            registration_id   BIGINT,
            identity_key      {blob(scheme)},
            signed_prekey_id  INTEGER,
            signed_prekey     {blob(scheme)},
            signed_prekey_sig {blob(scheme)}
        )"""
    )
    # Who has talked to whom (messages or bundle fetches): they hear about opt-outs.
    await conn.execute(
        """CREATE TABLE contact (
            owner TEXT NOT NULL,
            peer  TEXT NOT NULL,
            PRIMARY KEY (owner, peer)
        )"""
    )
    await conn.execute("CREATE INDEX contact_peer_idx ON contact (peer)")
    await conn.execute(
        """CREATE TABLE reachability_ping (
            sender    TEXT NOT NULL,
            target    TEXT NOT NULL,
            pinged_at BIGINT NOT NULL,
            PRIMARY KEY (sender, target)
        )"""
    )
    await conn.execute(
        """CREATE TABLE block (
            owner      TEXT NOT NULL,
            blocked    TEXT NOT NULL,
            created_at BIGINT NOT NULL,
            PRIMARY KEY (owner, blocked)
        )"""
    )
    await conn.execute(
        f"""CREATE TABLE media (
            file_reference TEXT PRIMARY KEY,
            content_type   TEXT NOT NULL,
            body           {blob(scheme)} NOT NULL,
            uploader       TEXT NOT NULL,
            uploaded_at    BIGINT NOT NULL
        )"""
    )
