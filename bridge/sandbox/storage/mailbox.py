"""The offline mailbox, the send ledger (dedupe) and the contact graph.

Mailbox entries are keyed by (recipient, class, id, peer, type) — exactly what the recipient's
``ack`` names (protocol §9) — and stay until that ack arrives or retention expires them. Stanzas
are kept in a codec-neutral JSON form so that swapping the wire codec does not strand them.
"""

from __future__ import annotations

from dataclasses import dataclass

from mautrix.util.async_db import Database

from ...storage import acquire, transaction


@dataclass(frozen=True)
class MailboxEntry:
    seq: int
    recipient: str
    ack_class: str
    stanza_id: str
    peer: str
    stanza_type: str
    stanza: str
    stored_at: int


class MailboxStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def put(self, recipient: str, ack_class: str, stanza_id: str, peer: str,
                  stanza_type: str, stanza: str, now_ms: int) -> None:
        """Store; an entry with the same key is replaced (a resend answering a retry receipt
        carries the same id, and the newest ciphertext is the one worth delivering). The
        replacement gets a new position, so a connected recipient is sent the new version."""
        inserted = await self.db.fetch(
            """INSERT INTO mailbox (recipient, ack_class, stanza_id, peer, stanza_type, stanza,
                   stored_at) VALUES ($1, $2, $3, $4, $5, $6, $7)
               ON CONFLICT DO NOTHING RETURNING seq""",
            recipient, ack_class, stanza_id, peer, stanza_type, stanza, now_ms,
        )
        if inserted:
            return
        async with acquire(self.db) as conn, transaction(conn):
            await conn.execute(
                """DELETE FROM mailbox WHERE recipient=$1 AND ack_class=$2 AND stanza_id=$3
                   AND peer=$4 AND stanza_type=$5""",
                recipient, ack_class, stanza_id, peer, stanza_type,
            )
            await conn.execute(
                """INSERT INTO mailbox (recipient, ack_class, stanza_id, peer, stanza_type, stanza,
                       stored_at) VALUES ($1, $2, $3, $4, $5, $6, $7)""",
                recipient, ack_class, stanza_id, peer, stanza_type, stanza, now_ms,
            )

    async def has(self, recipient: str, ack_class: str, stanza_id: str, peer: str) -> bool:
        return await self.db.fetchval(
            """SELECT COUNT(*) FROM mailbox WHERE recipient=$1 AND ack_class=$2
               AND stanza_id=$3 AND peer=$4""", recipient, ack_class, stanza_id, peer) > 0

    async def pending(self, recipient: str, *, after_seq: int = 0, until_seq: int | None = None,
                      not_before_ms: int = 0, limit: int = 500) -> list[MailboxEntry]:
        rows = await self.db.fetch(
            """SELECT * FROM mailbox WHERE recipient=$1 AND seq > $2 AND seq <= $3
               AND stored_at >= $4 ORDER BY seq LIMIT $5""",
            recipient, after_seq, until_seq if until_seq is not None else 2**62, not_before_ms,
            limit,
        )
        return [MailboxEntry(**dict(r)) for r in rows]

    async def last_seq(self, recipient: str) -> int:
        return await self.db.fetchval(
            "SELECT COALESCE(MAX(seq), 0) FROM mailbox WHERE recipient=$1", recipient)

    async def count(self, recipient: str, not_before_ms: int = 0,
                    until_seq: int | None = None) -> int:
        return await self.db.fetchval(
            """SELECT COUNT(*) FROM mailbox WHERE recipient=$1 AND stored_at >= $2
               AND seq <= $3""",
            recipient, not_before_ms, until_seq if until_seq is not None else 2**62,
        )

    async def ack(self, recipient: str, ack_class: str, stanza_id: str, peer: str,
                  stanza_type: str) -> int:
        """Remove what the recipient acknowledged. Returns how many entries went (0 or 1)."""
        rows = await self.db.fetch(
            """DELETE FROM mailbox WHERE recipient=$1 AND ack_class=$2 AND stanza_id=$3
               AND peer=$4 AND stanza_type=$5 RETURNING seq""",
            recipient, ack_class, stanza_id, peer, stanza_type,
        )
        return len(rows)

    async def expire(self, cutoff_ms: int) -> int:
        rows = await self.db.fetch("DELETE FROM mailbox WHERE stored_at < $1 RETURNING seq",
                                   cutoff_ms)
        return len(rows)


class SendLedger:
    """Client sends already accepted, with the ack they got, for dedupe (protocol §9 rule 4)."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def outcome(self, sender: str, dedupe_key: str) -> str | None:
        return await self.db.fetchval(
            "SELECT outcome FROM client_send WHERE sender=$1 AND dedupe_key=$2",
            sender, dedupe_key,
        )

    async def record(self, sender: str, dedupe_key: str, outcome: str, now_ms: int) -> None:
        await self.db.execute(
            """INSERT INTO client_send (sender, dedupe_key, outcome, received_at)
               VALUES ($1, $2, $3, $4) ON CONFLICT (sender, dedupe_key) DO NOTHING""",
            sender, dedupe_key, outcome, now_ms,
        )

    async def forget_before(self, cutoff_ms: int) -> None:
        await self.db.execute("DELETE FROM client_send WHERE received_at < $1", cutoff_ms)


class ContactStore:
    def __init__(self, db: Database) -> None:
        self.db = db
        # Pairs known to be stored: most messages go between people who already talked.
        self._known: set[tuple[str, str]] = set()

    async def add_pair(self, a: str, b: str) -> None:
        if (a, b) in self._known:
            return
        self._known.add((a, b))
        for owner, peer in ((a, b), (b, a)):
            await self.db.execute(
                "INSERT INTO contact (owner, peer) VALUES ($1, $2) ON CONFLICT DO NOTHING",
                owner, peer,
            )

    async def contacts_of(self, address: str) -> list[str]:
        rows = await self.db.fetch("SELECT peer FROM contact WHERE owner=$1 ORDER BY peer",
                                   address)
        return [r["peer"] for r in rows]

    async def forget(self, address: str) -> None:
        self.forget_cached(address)
        await self.db.execute("DELETE FROM contact WHERE owner=$1 OR peer=$1", address)

    def forget_cached(self, address: str) -> None:
        self._known = {pair for pair in self._known if address not in pair}
