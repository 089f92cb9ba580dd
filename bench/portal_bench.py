"""Figures for portals: creating portal rooms and sending encrypted messages as ghosts, against a
real Synapse on loopback, with the bridge in this process.

Wall time includes Synapse (the bottleneck on a small machine); the bridge's own cost is this
process's CPU time (Synapse runs in its own process). The Matrix user is a registered account
without a client: portals invite it, and encrypted sends share room keys with no devices.

Run: PYTHONPATH=. python bench/portal_bench.py [--db sqlite|postgres] [--portals N] [--messages N]
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import tempfile
import time
from pathlib import Path

from mautrix.types import MessageType, TextMessageEventContent

from bridge.app import Bridge
from bridge.config import load_config
from bridge.devstack.bridge_config import write_bridge_config
from bridge.devstack.ports import free_port
from bridge.devstack.synapse import LocalSynapse

from .scratch_db import scratch_database


def report(label: str, count: int, wall: float, cpu: float) -> None:
    print(f"{label:<46} {count:>5}  {wall / count * 1000:8.1f} ms wall each  "
          f"{count / wall:7.1f}/s  {cpu / count * 1000:7.2f} ms bridge CPU each")


async def measure(label: str, count: int, work) -> None:
    wall, cpu = time.perf_counter(), time.process_time()
    await work()
    report(label, count, time.perf_counter() - wall, time.process_time() - cpu)


async def main(engine: str, portals: int, messages: int) -> None:
    logging.basicConfig(level=logging.WARNING)
    directory = Path(tempfile.mkdtemp(prefix="portal-bench-"))
    async with scratch_database(engine, directory) as database:
        await run(directory, database, engine, portals, messages)


async def run(directory: Path, database: str, engine: str, portals: int, messages: int) -> None:
    synapse_port = free_port()
    config_path, registration = write_bridge_config(
        directory / "bridge", homeserver=f"http://127.0.0.1:{synapse_port}", domain="localhost",
        port=free_port(), database=database,
        overrides={"logging.loggers.bridge.level": "WARNING"},
    )
    synapse = LocalSynapse(directory / "synapse", port=synapse_port, registrations=[registration])
    await synapse.start()
    bridge = Bridge(load_config(config_path, environ={}))
    try:
        await bridge.start()
        await synapse.register_user("alice", "alice-password")
        user = "@alice:localhost"
        contact = lambda i: f"1-{100000 + i}@interop"  # noqa: E731

        async def sequential():
            for i in range(portals):
                await bridge.running.portals.get_or_create(user, contact(i), f"Contact {i}")

        async def concurrent():
            await asyncio.gather(*(bridge.running.portals.get_or_create(user, contact(portals + i),
                                                                f"Contact {portals + i}")
                                   for i in range(portals)))

        async def existing():
            for _ in range(10):
                for i in range(portals):
                    await bridge.running.portals.get_or_create(user, contact(i), f"Contact {i}")

        print(f"engine={engine} portals={portals} messages={messages}")
        await measure("create portal (sequential)", portals, sequential)
        await measure("create portal (all at once)", portals, concurrent)
        await measure("get_or_create of an existing portal", portals * 10, existing)

        portal = await bridge.running.portals.get_or_create(user, contact(0), "Contact 0")

        async def send_sequential():
            for i in range(messages):
                await portal.send(TextMessageEventContent(msgtype=MessageType.TEXT,
                                                          body=f"message {i}"))

        async def send_concurrent():
            await asyncio.gather(*(portal.send(TextMessageEventContent(
                msgtype=MessageType.TEXT, body=f"message {i}")) for i in range(messages)))

        await measure("ghost message, encrypted (sequential)", messages, send_sequential)
        await measure("ghost message, encrypted (all at once)", messages, send_concurrent)
    finally:
        await bridge.stop()
        synapse.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--portals", type=int, default=20)
    parser.add_argument("--messages", type=int, default=100)
    args = parser.parse_args()
    asyncio.run(main(args.db, args.portals, args.messages))
