"""Durable records of simulated gatekeeper users: who is simulated, prekey bookkeeping, inbox.

Inbox entries hold decrypted message content, so each is sealed by the user's data key (the
same trust boundary that seals its Signal state); the entry's key is the associated data, so a
sealed entry moved to another row does not open. Methods take the caller's connection so that a
decryption and its inbox entry commit together.
"""

from __future__ import annotations

import json
from typing import Any

from bridge.signal.types import UserId
from bridge.trust import Purpose, Vault

_INBOX = Purpose.SANDBOX_SIMULATED_INBOX


def _entry_name(stanza_class: str, sender: str, stanza_id: str, stanza_type: str) -> str:
    return f"{stanza_class}\n{sender}\n{stanza_id}\n{stanza_type}"


class SimulatedUserStore:
    def __init__(self, vault: Vault) -> None:
        self.vault = vault

    async def addresses(self, conn: Any) -> list[str]:
        rows = await conn.fetch("SELECT address FROM simulated_user ORDER BY address")
        return [row["address"] for row in rows]

    async def published_up_to(self, conn: Any, address: str) -> int | None:
        """Highest published one-time prekey id; None when the user is not simulated."""
        return await conn.fetchval(
            "SELECT published_up_to FROM simulated_user WHERE address=$1", address)

    async def set_published_up_to(self, conn: Any, address: str, key_id: int, now_ms: int) -> None:
        await conn.execute(
            """INSERT INTO simulated_user (address, published_up_to, enabled_at)
               VALUES ($1, $2, $3)
               ON CONFLICT (address) DO UPDATE SET published_up_to=excluded.published_up_to""",
            address, key_id, now_ms)

    async def find_entry(self, conn: Any, address: str, stanza_class: str, sender: str,
                         stanza_id: str, stanza_type: str) -> dict[str, Any] | None:
        row = await conn.fetchrow(
            """SELECT seq, sealed FROM simulated_inbox WHERE address=$1 AND stanza_class=$2
               AND sender=$3 AND stanza_id=$4 AND stanza_type=$5""",
            address, stanza_class, sender, stanza_id, stanza_type)
        if row is None:
            return None
        return await self._open(conn, address, row["seq"], stanza_class, sender, stanza_id,
                                stanza_type, row["sealed"])

    async def save_entry(self, conn: Any, address: str, entry: dict[str, Any],
                         now_ms: int) -> None:
        """Insert the entry, or replace the one with the same key (a resend after a retry)."""
        key = (entry["class"], entry["from"], entry["id"], entry.get("type", ""))
        boundary = await self.vault.boundary(conn, UserId(address))
        stored = {k: v for k, v in entry.items() if k != "seq"}
        sealed = boundary.seal(_INBOX, _entry_name(*key), json.dumps(stored).encode())
        await conn.execute(
            """INSERT INTO simulated_inbox (address, stanza_class, sender, stanza_id, stanza_type,
                                            received_at, sealed)
               VALUES ($1, $2, $3, $4, $5, $6, $7)
               ON CONFLICT (address, stanza_class, sender, stanza_id, stanza_type)
               DO UPDATE SET sealed=excluded.sealed""",
            address, *key, now_ms, sealed)

    async def entries(self, conn: Any, address: str, *,
                      after_seq: int = 0) -> list[dict[str, Any]]:
        rows = await conn.fetch(
            """SELECT seq, stanza_class, sender, stanza_id, stanza_type, sealed
               FROM simulated_inbox WHERE address=$1 AND seq > $2 ORDER BY seq""",
            address, after_seq)
        return [await self._open(conn, address, r["seq"], r["stanza_class"], r["sender"],
                                 r["stanza_id"], r["stanza_type"], r["sealed"]) for r in rows]

    async def _open(self, conn: Any, address: str, seq: int, stanza_class: str, sender: str,
                    stanza_id: str, stanza_type: str, sealed: bytes) -> dict[str, Any]:
        boundary = await self.vault.boundary(conn, UserId(address))
        entry = json.loads(boundary.open(
            _INBOX, _entry_name(stanza_class, sender, stanza_id, stanza_type), bytes(sealed)))
        return {"seq": seq, **entry}
