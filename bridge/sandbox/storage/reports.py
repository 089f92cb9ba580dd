"""Reports partners sent about users, as the gatekeeper's moderation would receive them.

The disclosed messages are message content: they are sealed (one sealed JSON list per report,
under the gateway's own boundary, the report id as associated data) and never logged.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from typing import Any

from mautrix.util.async_db import Database

from bridge.gateway.ids import SERVER_ADDRESS
from bridge.gateway.reports import Report
from bridge.signal.types import UserId
from bridge.trust import Purpose, Vault

from ...storage import acquire, transaction

_REPORT = Purpose.SANDBOX_REPORT

#: Reports are sealed under the gateway's own data key, not under any user's.
MODERATION = UserId(SERVER_ADDRESS)


@dataclass(frozen=True)
class StoredReport:
    report_id: str
    reporter: str
    reported: str
    reason: str
    block_requested: bool
    received_at: int
    #: ``[{"id", "t", "plaintext": base64}]`` in the order the reporter gave them.
    messages: list[dict[str, Any]]


class ReportStore:
    def __init__(self, db: Database, vault: Vault) -> None:
        self.db = db
        self.vault = vault

    async def add(self, report_id: str, reporter: str, report: Report, now_ms: int) -> None:
        messages = [{"id": m.stanza_id, "t": m.timestamp,
                     "plaintext": base64.b64encode(m.plaintext).decode()}
                    for m in report.messages]
        async with acquire(self.db) as conn, transaction(conn):
            boundary = await self.vault.boundary(conn, MODERATION)
            sealed = boundary.seal(_REPORT, report_id, json.dumps(messages).encode())
            await conn.execute(
                """INSERT INTO report (report_id, reporter, reported, reason, block_requested,
                                       message_count, received_at, sealed_messages)
                   VALUES ($1, $2, $3, $4, $5, $6, $7, $8)""",
                report_id, reporter, report.reported, report.reason, report.block,
                len(messages), now_ms, sealed)

    async def list(self, *, reporter: str | None = None,
                   reported: str | None = None) -> list[StoredReport]:
        rows = await self.db.fetch(
            """SELECT * FROM report WHERE ($1 = '' OR reporter = $1) AND ($2 = '' OR reported = $2)
               ORDER BY received_at, report_id""", reporter or "", reported or "")
        return [await self._open(row) for row in rows]

    async def get(self, report_id: str) -> StoredReport | None:
        row = await self.db.fetchrow("SELECT * FROM report WHERE report_id=$1", report_id)
        return await self._open(row) if row is not None else None

    async def _open(self, row) -> StoredReport:
        async with acquire(self.db) as conn:
            boundary = await self.vault.boundary(conn, MODERATION)
        messages = json.loads(boundary.open(_REPORT, row["report_id"],
                                            bytes(row["sealed_messages"])))
        return StoredReport(row["report_id"], row["reporter"], row["reported"], row["reason"],
                            bool(row["block_requested"]), row["received_at"], messages)
