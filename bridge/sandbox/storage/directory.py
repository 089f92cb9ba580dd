"""Gatekeeper users (simulated people on the gatekeeper's side) and blocklists."""

from __future__ import annotations

from dataclasses import dataclass

from mautrix.util.async_db import Database

from ...storage import acquire, transaction
from ..ids import GatekeeperUsername


@dataclass(frozen=True)
class GatekeeperUser:
    username: GatekeeperUsername
    address: str
    opted_in: bool
    created_at: int

    @classmethod
    def from_row(cls, row) -> GatekeeperUser:
        return cls(GatekeeperUsername(row["username"]), row["address"], bool(row["opted_in"]),
                   row["created_at"])


class DirectoryStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def create_gatekeeper_user(self, username: str, address: str, opted_in: bool,
                                     now_ms: int) -> bool:
        """False when the username or the address is taken."""
        rows = await self.db.fetch(
            """INSERT INTO gatekeeper_user (username, address, opted_in, created_at)
               VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING RETURNING username""",
            username, address, opted_in, now_ms,
        )
        return bool(rows)

    async def get_gatekeeper_user(self, username: str) -> GatekeeperUser | None:
        row = await self.db.fetchrow("SELECT * FROM gatekeeper_user WHERE username=$1", username)
        return GatekeeperUser.from_row(row) if row else None

    async def gatekeeper_user_at(self, address: str) -> GatekeeperUser | None:
        row = await self.db.fetchrow("SELECT * FROM gatekeeper_user WHERE address=$1", address)
        return GatekeeperUser.from_row(row) if row else None

    async def list_gatekeeper_users(self) -> list[GatekeeperUser]:
        rows = await self.db.fetch("SELECT * FROM gatekeeper_user ORDER BY username")
        return [GatekeeperUser.from_row(r) for r in rows]

    async def last_ping(self, sender: str, target: str) -> int | None:
        return await self.db.fetchval(
            "SELECT pinged_at FROM reachability_ping WHERE sender=$1 AND target=$2",
            sender, target)

    async def record_ping(self, sender: str, target: str, now_ms: int) -> None:
        await self.db.execute(
            """INSERT INTO reachability_ping (sender, target, pinged_at) VALUES ($1, $2, $3)
               ON CONFLICT (sender, target) DO UPDATE SET pinged_at=excluded.pinged_at""",
            sender, target, now_ms)

    async def set_opted_in(self, username: str, opted_in: bool) -> bool:
        rows = await self.db.fetch(
            "UPDATE gatekeeper_user SET opted_in=$2 WHERE username=$1 RETURNING username",
            username, opted_in,
        )
        return bool(rows)

    async def block(self, owner: str, blocked: str, now_ms: int) -> None:
        await self.db.execute(
            """INSERT INTO block (owner, blocked, created_at) VALUES ($1, $2, $3)
               ON CONFLICT (owner, blocked) DO NOTHING""",
            owner, blocked, now_ms,
        )

    async def unblock(self, owner: str, blocked: str) -> None:
        await self.db.execute("DELETE FROM block WHERE owner=$1 AND blocked=$2", owner, blocked)

    async def blocklist(self, owner: str) -> list[str]:
        rows = await self.db.fetch("SELECT blocked FROM block WHERE owner=$1 ORDER BY blocked",
                                   owner)
        return [r["blocked"] for r in rows]

    async def replace_blocklist(self, owner: str, blocked: list[str], now_ms: int) -> None:
        async with acquire(self.db) as conn, transaction(conn):
            await conn.execute("DELETE FROM block WHERE owner=$1", owner)
            for address in dict.fromkeys(blocked):
                await conn.execute(
                    "INSERT INTO block (owner, blocked, created_at) VALUES ($1, $2, $3)",
                    owner, address, now_ms,
                )

    async def forget_owner(self, owner: str) -> None:
        await self.db.execute("DELETE FROM block WHERE owner=$1", owner)

    async def is_blocked(self, owner: str, sender: str) -> bool:
        return await self.db.fetchval(
            "SELECT COUNT(*) FROM block WHERE owner=$1 AND blocked=$2", owner, sender
        ) > 0
