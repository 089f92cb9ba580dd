"""Enlisted partner users and the key server's tables (one-time prekeys, who fetched which
identity)."""

from __future__ import annotations

from dataclasses import dataclass

from mautrix.util.async_db import Database

from ...storage import acquire, transaction
from ..ids import InternalId, UserVisibleId


@dataclass(frozen=True)
class SignedPrekey:
    key_id: int
    public_key: bytes
    signature: bytes


@dataclass(frozen=True)
class PartnerUser:
    internal_id: InternalId
    visible_id: UserVisibleId
    noise_key: bytes
    registration_id: int
    identity_key: bytes
    signed_prekey: SignedPrekey
    enlisted_at: int
    last_seen_at: int

    @classmethod
    def from_row(cls, row) -> PartnerUser:
        return cls(
            internal_id=InternalId(row["internal_id"]),
            visible_id=UserVisibleId(row["visible_id"]),
            noise_key=bytes(row["noise_key"]),
            registration_id=row["registration_id"],
            identity_key=bytes(row["identity_key"]),
            signed_prekey=SignedPrekey(row["signed_prekey_id"], bytes(row["signed_prekey"]),
                                       bytes(row["signed_prekey_sig"])),
            enlisted_at=row["enlisted_at"],
            last_seen_at=row["last_seen_at"],
        )


@dataclass(frozen=True)
class OneTimePrekey:
    key_id: int
    public_key: bytes


@dataclass(frozen=True)
class Bundle:
    registration_id: int
    identity_key: bytes
    signed_prekey: SignedPrekey
    one_time_prekey: OneTimePrekey | None


class PartnerStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def get(self, internal_id: str) -> PartnerUser | None:
        row = await self.db.fetchrow("SELECT * FROM partner_user WHERE internal_id=$1",
                                     internal_id)
        return PartnerUser.from_row(row) if row else None

    async def get_by_visible_id(self, visible_id: str) -> PartnerUser | None:
        row = await self.db.fetchrow("SELECT * FROM partner_user WHERE visible_id=$1", visible_id)
        return PartnerUser.from_row(row) if row else None

    async def visible_ids_with_noise_key(self, noise_key: bytes) -> list[str]:
        rows = await self.db.fetch("SELECT visible_id FROM partner_user WHERE noise_key=$1",
                                   noise_key)
        return [r["visible_id"] for r in rows]

    async def list_all(self) -> list[PartnerUser]:
        rows = await self.db.fetch("SELECT * FROM partner_user ORDER BY enlisted_at, internal_id")
        return [PartnerUser.from_row(r) for r in rows]

    async def upsert(self, user: PartnerUser) -> None:
        """Insert a new enlistment, or replace the keys of an existing one (same internal id)."""
        spk = user.signed_prekey
        async with acquire(self.db) as conn, transaction(conn):
            await conn.execute(
                """INSERT INTO partner_user (internal_id, visible_id, noise_key, registration_id,
                       identity_key, signed_prekey_id, signed_prekey, signed_prekey_sig,
                       enlisted_at, last_seen_at)
                   VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
                   ON CONFLICT (internal_id) DO UPDATE SET
                       noise_key=excluded.noise_key, registration_id=excluded.registration_id,
                       identity_key=excluded.identity_key,
                       signed_prekey_id=excluded.signed_prekey_id,
                       signed_prekey=excluded.signed_prekey,
                       signed_prekey_sig=excluded.signed_prekey_sig,
                       enlisted_at=excluded.enlisted_at, last_seen_at=excluded.last_seen_at""",
                user.internal_id, user.visible_id, user.noise_key, user.registration_id,
                user.identity_key, spk.key_id, spk.public_key, spk.signature,
                user.enlisted_at, user.last_seen_at,
            )
            await conn.execute("DELETE FROM retired_login WHERE internal_id=$1", user.internal_id)

    async def set_signed_prekey(self, internal_id: str, identity_key: bytes,
                                registration_id: int, spk: SignedPrekey) -> None:
        await self.db.execute(
            """UPDATE partner_user SET identity_key=$2, registration_id=$3, signed_prekey_id=$4,
                   signed_prekey=$5, signed_prekey_sig=$6 WHERE internal_id=$1""",
            internal_id, identity_key, registration_id, spk.key_id, spk.public_key, spk.signature,
        )

    async def touch(self, internal_id: str, now_ms: int) -> None:
        await self.db.execute("UPDATE partner_user SET last_seen_at=$2 WHERE internal_id=$1",
                              internal_id, now_ms)

    async def idle_since(self, cutoff_ms: int) -> list[PartnerUser]:
        rows = await self.db.fetch("SELECT * FROM partner_user WHERE last_seen_at < $1", cutoff_ms)
        return [PartnerUser.from_row(r) for r in rows]

    async def remove(self, internal_id: str, reason: str, now_ms: int) -> None:
        """Forget a user and everything addressed to it; remember why, for its next login
        attempt."""
        async with acquire(self.db) as conn, transaction(conn):
            await conn.execute("DELETE FROM partner_user WHERE internal_id=$1", internal_id)
            await conn.execute("DELETE FROM one_time_prekey WHERE owner=$1", internal_id)
            await conn.execute("DELETE FROM bundle_fetch WHERE target=$1 OR fetcher=$1",
                               internal_id)
            await conn.execute("DELETE FROM mailbox WHERE recipient=$1", internal_id)
            await conn.execute("DELETE FROM block WHERE owner=$1", internal_id)
            await conn.execute("DELETE FROM contact WHERE owner=$1 OR peer=$1", internal_id)
            await conn.execute(
                """INSERT INTO retired_login (internal_id, reason, retired_at) VALUES ($1, $2, $3)
                   ON CONFLICT (internal_id) DO UPDATE SET reason=excluded.reason,
                   retired_at=excluded.retired_at""",
                internal_id, reason, now_ms,
            )

    async def retirement_reason(self, internal_id: str) -> str | None:
        return await self.db.fetchval("SELECT reason FROM retired_login WHERE internal_id=$1",
                                      internal_id)

    # --- one-time prekeys -------------------------------------------------------------------

    async def add_one_time_prekeys(self, owner: str, prekeys: list[OneTimePrekey]) -> None:
        """Store uploaded prekeys; re-uploading an id replaces its key (the client is the
        source)."""
        async with acquire(self.db) as conn, transaction(conn):
            for prekey in prekeys:
                await conn.execute(
                    """INSERT INTO one_time_prekey (owner, prekey_id, public_key)
                       VALUES ($1, $2, $3)
                       ON CONFLICT (owner, prekey_id)
                       DO UPDATE SET public_key=excluded.public_key""",
                    owner, prekey.key_id, prekey.public_key,
                )

    async def clear_one_time_prekeys(self, owner: str) -> None:
        await self.db.execute("DELETE FROM one_time_prekey WHERE owner=$1", owner)

    async def count_one_time_prekeys(self, owner: str) -> int:
        return await self.db.fetchval("SELECT COUNT(*) FROM one_time_prekey WHERE owner=$1", owner)

    async def _identity_of(self, conn, address: str) -> Bundle | None:
        """Identity part of the bundle of a partner user or of a simulated gatekeeper user."""
        row = await conn.fetchrow("SELECT * FROM partner_user WHERE internal_id=$1", address)
        if row is None:
            row = await conn.fetchrow(
                "SELECT * FROM gatekeeper_user WHERE address=$1 AND identity_key IS NOT NULL",
                address)
        if row is None:
            return None
        return Bundle(row["registration_id"], bytes(row["identity_key"]),
                      SignedPrekey(row["signed_prekey_id"], bytes(row["signed_prekey"]),
                                   bytes(row["signed_prekey_sig"])), None)

    async def identity_key(self, address: str) -> bytes | None:
        async with acquire(self.db) as conn:
            bundle = await self._identity_of(conn, address)
        return bundle.identity_key if bundle else None

    async def take_bundle(self, fetcher: str, target: str, now_ms: int) -> Bundle | None:
        """The target's bundle with one one-time prekey consumed (none if the pool is empty).

        Records that ``fetcher`` now knows the target's identity key, so that an identity change
        later notifies it.
        """
        async with acquire(self.db) as conn, transaction(conn):
            bundle = await self._identity_of(conn, target)
            if bundle is None:
                return None
            prekey_row = await conn.fetchrow(
                """DELETE FROM one_time_prekey WHERE owner=$1 AND prekey_id=(
                       SELECT MIN(prekey_id) FROM one_time_prekey WHERE owner=$1)
                   RETURNING prekey_id, public_key""",
                target,
            )
            await conn.execute(
                """INSERT INTO bundle_fetch (fetcher, target, identity_key, fetched_at)
                   VALUES ($1, $2, $3, $4)
                   ON CONFLICT (fetcher, target) DO UPDATE SET identity_key=excluded.identity_key,
                   fetched_at=excluded.fetched_at""",
                fetcher, target, bundle.identity_key, now_ms,
            )
        one_time = (OneTimePrekey(prekey_row["prekey_id"], bytes(prekey_row["public_key"]))
                    if prekey_row else None)
        return Bundle(bundle.registration_id, bundle.identity_key, bundle.signed_prekey, one_time)

    async def set_gatekeeper_keys(self, address: str, registration_id: int, identity_key: bytes,
                                  spk: SignedPrekey) -> None:
        await self.db.execute(
            """UPDATE gatekeeper_user SET registration_id=$2, identity_key=$3,
                   signed_prekey_id=$4, signed_prekey=$5, signed_prekey_sig=$6 WHERE address=$1""",
            address, registration_id, identity_key, spk.key_id, spk.public_key, spk.signature,
        )

    async def fetchers_of_other_identity(self, target: str, identity_key: bytes) -> list[str]:
        """Who fetched ``target``'s bundle when it had a different identity key than now.

        Their records are updated to the new key: each peer hears of one change once.
        """
        rows = await self.db.fetch(
            "SELECT fetcher, identity_key FROM bundle_fetch WHERE target=$1", target
        )
        stale = [r["fetcher"] for r in rows if bytes(r["identity_key"]) != identity_key]
        await self.db.execute("UPDATE bundle_fetch SET identity_key=$2 WHERE target=$1",
                              target, identity_key)
        return stale

    async def fetchers_of(self, target: str) -> list[str]:
        rows = await self.db.fetch("SELECT fetcher FROM bundle_fetch WHERE target=$1", target)
        return [r["fetcher"] for r in rows]
