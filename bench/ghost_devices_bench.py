"""What per-ghost devices cost: each ghost message encrypted by the ghost's own cross-signed
device, against the path it replaces (the bot's device encrypting for every ghost), in one run.

Against a real Synapse on loopback with the bridge in this process, and a person with a real
E2EE device (matrix-nio) in every portal, so that room keys really travel over Olm. Figures:
- bridge CPU, wall time and homeserver requests for a portal's first ghost message (the ghost's
  device made, cross-signed, an Olm session to the person's device, the Megolm session shared),
  against a first message from the bot's device in a new portal;
- bridge CPU and requests per ghost message in steady state, both paths, interleaved in rounds
  so that load on the shared machine falls on both alike;
- Python memory held per ghost device (tracemalloc);
- one-time keys: what a ghost device publishes, and a top-up after the person's devices claimed
  them.
The bridge's cost is this process's CPU time; Synapse runs in its own process.

Run: PYTHONPATH=$PWD python -m bench.ghost_devices_bench [--db sqlite|postgres] [--portals N]
     [--messages N] [--rounds N]
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import statistics
import tempfile
import time
import tracemalloc
from collections import Counter
from pathlib import Path

import aiohttp
from mautrix.api import HTTPAPI
from mautrix.types import EventType, MessageType, TextMessageEventContent, UserID

from bridge.app import Bridge
from bridge.config import load_config
from bridge.devstack.bridge_config import write_bridge_config
from bridge.devstack.matrix_client import PersonClient
from bridge.devstack.ports import free_port
from bridge.devstack.synapse import LocalSynapse
from bridge.matrix.portals import Portal

from .scratch_db import scratch_database

REQUESTS: Counter[str] = Counter()


def count_homeserver_requests() -> None:
    """Count every request mautrix makes (the bridge's only way to the homeserver). Bench only:
    wraps the public ``HTTPAPI.request`` for this process."""
    original = HTTPAPI.request

    async def counted(self, method, path, *args, **kwargs):  # type: ignore[no-untyped-def]
        REQUESTS[f"{method} {request_kind(str(path))}"] += 1
        return await original(self, method, path, *args, **kwargs)

    HTTPAPI.request = counted  # type: ignore[method-assign]


def request_kind(path: str) -> str:
    """``rooms/{id}/send/m.room.encrypted/{txn}`` → ``rooms/*/send/*/*``: ids folded."""
    parts = path.split("/_matrix/client/")[-1].removeprefix("_matrix/client/").split("/")
    return "/".join("*" if part[:1] in "!@%" or (i > 3 and part)
                    or (i == 2 and parts[1] == "devices") else part
                    for i, part in enumerate(parts))


def text(body: str) -> TextMessageEventContent:
    return TextMessageEventContent(msgtype=MessageType.TEXT, body=body)


class Measured:
    def __init__(self) -> None:
        self.cpu: list[float] = []
        self.wall: list[float] = []
        self.requests = 0

    async def run(self, work) -> None:  # type: ignore[no-untyped-def]
        before = sum(REQUESTS.values())
        wall, cpu = time.perf_counter(), time.process_time()
        await work()
        self.wall.append(time.perf_counter() - wall)
        self.cpu.append(time.process_time() - cpu)
        self.requests += sum(REQUESTS.values()) - before

    def line(self, label: str, count: int) -> str:
        cpu, wall = sum(self.cpu) / count * 1000, sum(self.wall) / count * 1000
        return (f"{label:<52} {count:>5}  {cpu:7.2f} ms bridge CPU  {wall:7.1f} ms wall  "
                f"{self.requests / count:5.1f} homeserver requests each")


async def send_as_ghost(bridge: Bridge, portal: Portal, body: str) -> None:
    await portal.send(text(body))


async def send_bot_device_path(bridge: Bridge, portal: Portal, body: str) -> None:
    """The replaced path: the ghost sends, but the bot's device encrypts (the same steps as
    ``MatrixSender.send`` otherwise)."""
    assert bridge.running.encryption is not None
    assert await bridge.running.appservice.state_store.is_encrypted(portal.room_id)
    event_type, content = await bridge.running.encryption.encrypt(
        portal.room_id, EventType.ROOM_MESSAGE, text(body),
            sender=bridge.running.appservice.bot_mxid)
    await portal.ghost.intent.send_message_event(portal.room_id, event_type, content)


async def open_portals(bridge: Bridge, alice: PersonClient, first: int, count: int
                       ) -> list[Portal]:
    portals = []
    for i in range(first, first + count):
        portal = await bridge.running.portals.get_or_create(alice.user_id,
                                                            f"1-{100000 + i}@interop",
                                                    f"Contact {i}")
        await alice.client.join(portal.room_id)
        portals.append(portal)
    await alice.sync()
    # The bridge must know the person joined before it shares keys with them.
    for portal in portals:
        while alice.user_id not in await bridge.running.appservice.state_store.get_members(
                portal.room_id):
            await asyncio.sleep(0.05)
    return portals


async def one_time_keys_on_server(homeserver: str, as_token: str, user: UserID,
                                  device: str) -> int:
    async with aiohttp.ClientSession() as http, http.post(
            f"{homeserver}/_matrix/client/v3/keys/upload", json={},
            params={"user_id": user, "device_id": device},
            headers={"Authorization": f"Bearer {as_token}"}) as response:
        return (await response.json())["one_time_key_counts"].get("signed_curve25519", 0)


async def claim_one_time_keys(homeserver: str, token: str, user: UserID, device: str,
                              count: int) -> None:
    async with aiohttp.ClientSession() as http:
        for _ in range(count):
            async with http.post(f"{homeserver}/_matrix/client/v3/keys/claim",
                                 json={"one_time_keys": {user: {device: "signed_curve25519"}}},
                                 headers={"Authorization": f"Bearer {token}"}) as response:
                assert response.status == 200


async def run(directory: Path, database: str, engine: str, portals: int, messages: int,
              rounds: int) -> None:
    synapse_port = free_port()
    config_path, registration = write_bridge_config(
        directory / "bridge", homeserver=f"http://127.0.0.1:{synapse_port}", domain="localhost",
        port=free_port(), database=database,
        overrides={"logging.loggers.bridge.level": "WARNING"})
    synapse = LocalSynapse(directory / "synapse", port=synapse_port, registrations=[registration])
    await synapse.start()
    bridge = Bridge(load_config(config_path, environ={}))
    alice: PersonClient | None = None
    try:
        await bridge.start()
        assert bridge.running.encryption is not None
        count_homeserver_requests()
        alice = await PersonClient.create(synapse, "alice", directory / "alice")
        print(f"engine={engine} portals={portals} messages={messages} rounds={rounds}")

        # A first bot-device message makes the bot's Olm session with Alice's device, as a
        # running bridge of the old path has long had.
        [warm] = await open_portals(bridge, alice, 0, 1)
        await send_bot_device_path(bridge, warm, "warm-up")

        bot_first, ghost_first = Measured(), Measured()
        for portal in await open_portals(bridge, alice, 1, portals):
            await bot_first.run(lambda p=portal: send_bot_device_path(bridge, p, "first"))
        latencies = []
        for portal in await open_portals(bridge, alice, 1 + portals, portals):
            await ghost_first.run(lambda p=portal: send_as_ghost(bridge, p, "first"))
            latencies.append(ghost_first.wall[-1] * 1000)
        print(bot_first.line("first message in a new portal, bot's device", portals))
        print(ghost_first.line("first message in a new portal, ghost's own device", portals))
        latencies.sort()
        print(f"  first-message latency, ghost's device: p50 {statistics.median(latencies):.0f}"
              f" ms, max {latencies[-1]:.0f} ms")

        [steady_bot, steady_ghost] = await open_portals(bridge, alice, 1 + 2 * portals, 2)
        await send_bot_device_path(bridge, steady_bot, "start")
        await send_as_ghost(bridge, steady_ghost, "start")
        bot_steady, ghost_steady = Measured(), Measured()
        for r in range(rounds):
            async def bot_round(r=r) -> None:
                for i in range(messages):
                    await send_bot_device_path(bridge, steady_bot, f"r{r} m{i}")

            async def ghost_round(r=r) -> None:
                for i in range(messages):
                    await send_as_ghost(bridge, steady_ghost, f"r{r} m{i}")

            await bot_steady.run(bot_round)
            await ghost_steady.run(ghost_round)
        total = messages * rounds
        print(bot_steady.line("ghost message, steady state, bot's device", total))
        print(ghost_steady.line("ghost message, steady state, ghost's own device", total))
        print(f"  ratio ghost/bot bridge CPU per steady message: "
              f"{sum(ghost_steady.cpu) / sum(bot_steady.cpu):.2f}  (per round: "
              + ", ".join(f"{g / b:.2f}" for g, b in
                          zip(ghost_steady.cpu, bot_steady.cpu, strict=True))
              + ")")

        # Memory: ghost devices made and cross-signed, as on a first message.
        tracemalloc.start()
        before, _ = tracemalloc.get_traced_memory()
        made = 50
        for i in range(made):
            ghost = bridge.running.puppets.mxid_for(f"memory-{i}")  # type: ignore[arg-type]
            await bridge.running.appservice.intent.user(ghost).ensure_registered()
            device = await bridge.running.encryption.device_of(ghost)
            assert device is not None
            await device.ensure_identity()
        after, _ = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        print(f"Python memory per ghost device: {(after - before) / made / 1024:.1f} KiB "
              f"({made} devices)")

        ghost = steady_ghost.ghost.mxid
        device = await bridge.running.encryption.device_of(ghost)
        assert device is not None
        homeserver, as_token = synapse.address, bridge.config["appservice.as_token"]
        published = await one_time_keys_on_server(homeserver, as_token, ghost, device.device_id)
        claimed = published - 1
        await claim_one_time_keys(homeserver, alice.client.access_token, ghost,
                                  device.device_id, claimed)
        uploads_before = REQUESTS["POST v3/keys/upload"]
        started = time.perf_counter()
        cpu = time.process_time()
        # Synapse reports the lower count in its next transaction to the bridge.
        await send_as_ghost(bridge, steady_ghost, "after claims")
        while await one_time_keys_on_server(homeserver, as_token, ghost,
                                            device.device_id) < device.one_time_keys // 2:
            if time.perf_counter() - started > 60:
                raise SystemExit("the ghost device did not top up its one-time keys in 60 s")
            await asyncio.sleep(0.1)
        print(f"one-time keys: a ghost device publishes {published}; after {claimed} claims it "
              f"topped up in {(time.perf_counter() - started) * 1000:.0f} ms with "
              f"{REQUESTS['POST v3/keys/upload'] - uploads_before} upload(s), "
              f"{(time.process_time() - cpu) * 1000:.1f} ms bridge CPU")
        print("homeserver requests by kind over the run:")
        for kind, count in REQUESTS.most_common(12):
            print(f"  {count:6d}  {kind}")
    finally:
        if alice is not None:
            await alice.close()
        await bridge.stop()
        synapse.stop()


async def main(engine: str, portals: int, messages: int, rounds: int) -> None:
    logging.basicConfig(level=logging.WARNING)
    directory = Path(tempfile.mkdtemp(prefix="ghost-devices-bench-"))
    async with scratch_database(engine, directory) as database:
        await run(directory, database, engine, portals, messages, rounds)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--portals", type=int, default=10)
    parser.add_argument("--messages", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    asyncio.run(main(args.db, args.portals, args.messages, args.rounds))
