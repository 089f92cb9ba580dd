"""Figures for the messages kept for reports: what keeping each incoming message costs (one
sealed insert plus trimming to the last N from that contact, in one transaction), and reading
the last N back for a report.

Run: PYTHONPATH=. python -m bench.report_evidence_bench [--db sqlite|postgres] [--messages N]
     [--keep N]
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import tempfile
import time
from pathlib import Path

from bridge.chats.reporting import ReportEvidence
from bridge.gateway.ids import Address
from bridge.partner.client import InboundMessage
from bridge.storage import open_database
from bridge.trust import MasterKey, UserScopes, Vault

from .scratch_db import scratch_database

USER = "@alice:example.org"
CONTACTS = [Address(f"49151{n:08d}@gk") for n in range(5)]


def report(label: str, count: int, wall: float, cpu: float) -> None:
    print(f"{label:<44} {count:>6}  {wall / count * 1000:7.3f} ms wall each  "
          f"{count / wall:8.1f}/s  {cpu / count * 1000:7.3f} ms CPU each")


async def main(engine: str, messages: int, keep: int) -> None:
    directory = Path(tempfile.mkdtemp(prefix="evidence-bench-"))
    async with scratch_database(engine, directory) as url:
        await measure(url, engine, messages, keep)


async def measure(url: str, engine: str, messages: int, keep: int) -> None:
    db = await open_database(url)
    try:
        evidence = ReportEvidence(db, UserScopes(Vault(MasterKey.generate())), keep)
        body = secrets.token_bytes(120)  # a short text message's padded content
        wall, cpu = time.perf_counter(), time.process_time()
        for n in range(messages):
            await evidence.record(USER, InboundMessage(
                f"M{n}", CONTACTS[n % len(CONTACTS)], body, 1764000000 + n))
        report(f"{engine}: keep one incoming message (keep={keep})", messages,
               time.perf_counter() - wall, time.process_time() - cpu)
        reads = 200
        wall, cpu = time.perf_counter(), time.process_time()
        for n in range(reads):
            await evidence.latest(USER, CONTACTS[n % len(CONTACTS)], keep)
        report(f"{engine}: read the last {keep} for a report", reads,
               time.perf_counter() - wall, time.process_time() - cpu)
        rows = await db.fetchval("SELECT COUNT(*) FROM report_evidence")
        print(f"{engine}: rows kept after {messages} messages from {len(CONTACTS)} contacts: "
              f"{rows}")
    finally:
        await db.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--keep", type=int, default=20)
    args = parser.parse_args()
    asyncio.run(main(args.db, args.messages, args.keep))
