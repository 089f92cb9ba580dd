"""Benchmark: messages routed through the sandbox gateway (partner → partner, over WebSockets).

Runs one in-process sandbox (SQLite state file in a temporary directory) with a tiny partner
server, two enlisted clients speaking the real Noise channel, and measures:

* enlistment rate (HTTP form + JWKS-verified JWT + XEdDSA check + insert),
* send → gateway ack throughput with N messages in flight at most W at a time,
* send → recipient delivery latency (median, p95) while the recipient acks each message.

Client and server share this process, so CPU figures include both ends.

    PYTHONPATH=$PWD python bench/sandbox_routing.py [--messages 2000] [--window 50]
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
import statistics
import tempfile
import time

from bridge.gateway.codec import Node
from bridge.sandbox.clock import AdjustableClock
from bridge.sandbox.config import SandboxConfig
from bridge.sandbox.server import SandboxGateway
from tests.sandbox.helpers import GATEWAY_ID, ClientKeys, PartnerServer, connect_user, enlist_user


async def drain(client) -> None:
    while True:
        node = await client.receive(10)
        if node.tag == "ib" and node.children[0].tag == "offline":
            return


async def main(messages: int, window: int, enlistments: int) -> None:
    partner = PartnerServer()
    await partner.start()
    with tempfile.TemporaryDirectory() as tmp:
        sandbox = SandboxGateway(SandboxConfig(
            integrator_id="1", port=0, database_url=f"sqlite:{tmp}/sandbox.db",
            partner_base_url=partner.base_url, gateway_id=GATEWAY_ID, admin_secret="x"),
            clock=AdjustableClock())
        await sandbox.start()
        try:
            started, cpu = time.perf_counter(), time.process_time()
            for i in range(enlistments):
                await enlist_user(sandbox, partner, f"user{i}", ClientKeys())
            wall = time.perf_counter() - started
            print(f"enlistment: {enlistments / wall:.0f}/s "
                  f"({(time.process_time() - cpu) / enlistments * 1000:.2f} ms CPU each)")

            alice_keys, alice = await enlist_user(sandbox, partner, "alice")
            bob_keys, bob = await enlist_user(sandbox, partner, "bob")
            a = await connect_user(sandbox, partner, "alice", alice_keys, alice)
            b = await connect_user(sandbox, partner, "bob", bob_keys, bob)
            await drain(a)
            await drain(b)
            sent_at: dict[str, float] = {}
            latencies: list[float] = []
            all_delivered = asyncio.Event()

            async def receiver() -> None:
                while len(latencies) < messages:
                    node = await b.receive(30)
                    if node.tag != "message":
                        continue
                    latencies.append(time.perf_counter() - sent_at[node.attrs["id"]])
                    await b.send(Node("ack", {"class": "message", "id": node.attrs["id"],
                                              "to": node.attrs["from"]}))
                all_delivered.set()

            receiving = asyncio.create_task(receiver())
            in_flight = asyncio.Semaphore(window)
            acked = 0
            all_acked = asyncio.Event()

            async def ack_reader() -> None:
                nonlocal acked
                while acked < messages:
                    node = await a.receive(30)
                    if node.tag == "ack":
                        acked += 1
                        in_flight.release()
                all_acked.set()

            acking = asyncio.create_task(ack_reader())
            payload = b"\x33" + bytes(150)
            started, cpu = time.perf_counter(), time.process_time()
            for i in range(messages):
                await in_flight.acquire()
                message_id = f"B{i:08d}"
                sent_at[message_id] = time.perf_counter()
                await a.send(Node("message", {"id": message_id, "to": bob, "type": "text"},
                                  [Node("enc", {"v": "2", "type": "msg"}, payload)]))
            await asyncio.wait_for(all_acked.wait(), 120)
            send_wall = time.perf_counter() - started
            await asyncio.wait_for(all_delivered.wait(), 120)
            total_wall = time.perf_counter() - started
            cpu_used = time.process_time() - cpu
            await asyncio.gather(receiving, acking)
            latencies.sort()
            print(f"routing: {messages} messages, window {window}: "
                  f"{messages / send_wall:.0f} acked/s, "
                  f"{messages / total_wall:.0f} delivered+acked/s,"
                  f" {cpu_used / messages * 1000:.2f} ms CPU per message (both ends)")
            print(f"delivery latency: median {statistics.median(latencies) * 1000:.1f} ms, "
                  f"p95 {latencies[int(len(latencies) * 0.95)] * 1000:.1f} ms")
            remaining = await sandbox.mailbox.count(bob)
            print(f"mailbox after all acks: {remaining} entries")
            await a.close()
            await b.close()
        finally:
            await sandbox.stop()
            await partner.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--window", type=int, default=50)
    parser.add_argument("--enlistments", type=int, default=200)
    args = parser.parse_args()
    asyncio.run(main(args.messages, args.window, args.enlistments))
