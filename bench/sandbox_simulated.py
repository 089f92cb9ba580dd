"""Benchmark: a simulated gatekeeper user talking content with a real partner Signal party.

Runs one in-process sandbox (SQLite state file in a temporary directory, or ``--database-url``)
with a tiny partner server and measures, with the simulated user's Signal state in the database
(sealed ``SqlSignalStores``):

* content sends through the admin API (HTTP → build + encode content → Signal encrypt →
  route → mailbox), each received, decrypted and decoded by the partner before the next,
* inbox sync: N messages from the partner decrypted, decoded, sealed into the inbox and acked,
* a media send (encrypt, store on the media server, send) of ``--media-kib`` KiB.

Client and server share this process, so CPU figures include both ends.

    PYTHONPATH=$PWD python bench/sandbox_simulated.py [--messages 300] [--media-kib 1024]
"""

from __future__ import annotations

import sys
from pathlib import Path

# Run as a script, this directory would come first on sys.path, and bench/signal/ would then
# shadow the standard library's ``signal``: put the repository root there instead, before
# the imports below (E402).
# ruff: noqa: E402
sys.path[0] = str(Path(__file__).resolve().parent.parent)

import argparse
import asyncio
import base64
import os
import statistics
import tempfile
import time

from bridge.content import Text
from bridge.sandbox.clock import AdjustableClock
from bridge.sandbox.config import SandboxConfig
from bridge.sandbox.server import SandboxGateway
from tests.sandbox.conftest import ADMIN_SECRET as SECRET  # what the helpers use
from tests.sandbox.helpers import GATEWAY_ID, Admin, PartnerServer
from tests.sandbox.simulated_support import PartnerSide, simulated_gina


async def main(messages: int, media_kib: int, database_url: str) -> None:
    partner = PartnerServer()
    await partner.start()
    with tempfile.TemporaryDirectory() as tmp:
        sandbox = SandboxGateway(SandboxConfig(
            integrator_id="1", port=0, database_url=database_url or f"sqlite:{tmp}/sandbox.db",
            partner_base_url=partner.base_url, gateway_id=GATEWAY_ID, admin_secret=SECRET,
            simulated_users_key_file=f"{tmp}/simulated-users.key"), clock=AdjustableClock())
        await sandbox.start()
        try:
            admin = Admin(sandbox, SECRET)
            _, gina = await simulated_gina(sandbox)
            alice = await PartnerSide.enlist(sandbox, partner)
            await admin.call("POST", "/gatekeeper-users/gina/send/text",
                             {"to": "alice", "text": "warm-up"})
            await alice.receive_content(gina)

            latencies = []
            started, cpu = time.perf_counter(), time.process_time()
            for i in range(messages):
                sent = time.perf_counter()
                status, _ = await admin.call("POST", "/gatekeeper-users/gina/send/text",
                                             {"to": "alice", "text": f"*message* {i}"})
                assert status == 200
                await alice.receive_content(gina)
                latencies.append(time.perf_counter() - sent)
            wall = time.perf_counter() - started
            cpu_used = time.process_time() - cpu
            latencies.sort()
            print(f"content send (admin API → partner decrypt+decode), {messages} sequential: "
                  f"{messages / wall:.0f}/s, median {statistics.median(latencies) * 1000:.1f} ms,"
                  f" p95 {latencies[int(len(latencies) * 0.95)] * 1000:.1f} ms, "
                  f"{cpu_used / messages * 1000:.2f} ms CPU each (both ends)")

            for i in range(messages):
                await alice.send_content(gina, Text(text=f"reply {i}"))
            started, cpu = time.perf_counter(), time.process_time()
            status, inbox = await admin.call("GET", "/gatekeeper-users/gina/inbox")
            wall = time.perf_counter() - started
            assert status == 200 and len(inbox["entries"]) == messages
            print(f"inbox sync: {messages} messages decrypted, decoded, sealed and acked in "
                  f"{wall * 1000:.0f} ms ({messages / wall:.0f}/s, "
                  f"{(time.process_time() - cpu) / messages * 1000:.2f} ms CPU each)")

            data = os.urandom(media_kib * 1024)
            started = time.perf_counter()
            status, answer = await admin.call("POST", "/gatekeeper-users/gina/send/media", {
                "to": "alice", "kind": "image", "data": base64.b64encode(data).decode()})
            media_wall = time.perf_counter() - started
            assert status == 200 and "error" not in answer, answer
            print(f"media send of {media_kib} KiB (base64 upload, encrypt, store, send): "
                  f"{media_wall * 1000:.0f} ms")
            await alice.client.close()
        finally:
            await sandbox.stop()
            await partner.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=300)
    parser.add_argument("--media-kib", type=int, default=1024)
    parser.add_argument("--database-url", default="",
                        help="e.g. postgres://user@127.0.0.1:5432/db (default: a temp SQLite)")
    args = parser.parse_args()
    asyncio.run(main(args.messages, args.media_kib, args.database_url))
