"""Gateway client figures: codec, Noise handshake and transport, and a loopback round trip.

Run: PYTHONPATH=$PWD python bench/gateway_bench.py
Prints one figure per line; nothing here asserts.
"""

from __future__ import annotations

import asyncio
import os
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import aiohttp

from bridge.gateway.backoff import Backoff
from bridge.gateway.codec import BinaryStanzaCodec, Node
from bridge.gateway.connection import ConnectionSettings, GatewayConnection, Handlers
from bridge.gateway.hello_auth import EnlistedClient
from bridge.gateway.ids import Address, InternalId, StanzaId, UserVisibleId
from bridge.gateway.noise_channel import (
    ClientChannel,
    ClientHello,
    ServerChannel,
    generate_static_private,
    static_public_from_private,
)
from bridge.gateway.stanzas import message, outbox_key
from bridge.gateway.tokens import SigningKey, issue_identity_token, jwks_document
from tests.gateway.fake_gateway import GATEWAY_ID, FakeGateway


def rate(label: str, count: int, seconds: float, unit: str = "ops") -> None:
    print(f"{label}: {count / seconds:,.0f} {unit}/s ({seconds / count * 1e6:,.1f} µs each, "
          f"n={count})")


def bench_codec() -> None:
    codec = BinaryStanzaCodec()
    node = message(StanzaId("3EB0A1B2C3D4E5F6"), Address("4915112345678@gk"), "msg",
                   os.urandom(180))
    encoded = codec.encode(node)
    print(f"codec: typical text message stanza = {len(encoded)} bytes on the wire "
          f"(180 B ciphertext)")
    n = 50_000
    start = time.perf_counter()
    for _ in range(n):
        codec.encode(node)
    rate("codec encode", n, time.perf_counter() - start)
    start = time.perf_counter()
    for _ in range(n):
        codec.decode(encoded)
    rate("codec decode", n, time.perf_counter() - start)


def bench_noise() -> None:
    server_key = generate_static_private()
    client_key = generate_static_private()
    hello = ClientHello(1, InternalId("1-1@interop"), "x" * 600)
    n = 300
    start = time.perf_counter()
    for _ in range(n):
        client = ClientChannel(static_private=client_key,
                               server_static_public=static_public_from_private(server_key),
                               hello=hello)
        server = ServerChannel(static_private=server_key)
        out, _ = server.receive(client.start())
        out, _ = client.receive(out)
        server.receive(out)
        client.receive(server.accept())
    rate("noise XX handshake (both sides, in memory)", n, time.perf_counter() - start)
    node = message(StanzaId("A"), Address("b@gk"), "msg", os.urandom(180))
    n = 20_000
    start = time.perf_counter()
    for _ in range(n):
        server.receive(client.send_stanza(node))
    rate("stanza seal+open (encode, AES-GCM, frame, split, decrypt, decode)", n,
         time.perf_counter() - start)


class Outbox:
    def __init__(self) -> None:
        self.nodes: dict[tuple, Node] = {}

    async def unacknowledged(self):
        return list(self.nodes.values())


async def bench_loopback() -> None:
    partner_key = SigningKey.generate("ES256")

    async def jwks(_: str):
        return jwks_document([partner_key])

    gateway = FakeGateway(jwks)
    await gateway.start()
    login = InternalId("1-7@interop")
    client_key = generate_static_private()
    gateway.enlisted[login] = EnlistedClient(login, static_public_from_private(client_key),
                                             UserVisibleId("u"), "http://p")
    outbox = Outbox()
    acked = asyncio.Event()
    stored: list[Node] = []
    total = 2000

    async def on_ack(ack) -> None:
        outbox.nodes.pop(("message", ack.stanza_id, None), None)
        if not outbox.nodes:
            acked.set()

    async def on_message(node: Node) -> None:
        stored.append(node)

    async def token() -> str:
        return issue_identity_token(partner_key, partner_base="http://p", user_visible_id="u",
                                    gateway_audience=GATEWAY_ID)

    async with aiohttp.ClientSession() as http:
        connection = GatewayConnection(
            session=http, settings=ConnectionSettings(gateway.url, gateway.static_public),
            login=login, noise_static_private=client_key, token_provider=token, outbox=outbox,
            handlers=Handlers(on_message=on_message, on_server_ack=on_ack),
            backoff=Backoff(rng=random.Random(0)))
        start = time.perf_counter()
        connection.wake()
        await connection.wait_open(10)
        rate("connect (WebSocket + Noise + JWT check) over loopback", 1,
             time.perf_counter() - start, "connections")
        nodes = [message(StanzaId(f"M{i}"), Address("b@gk"), "msg", os.urandom(180))
                 for i in range(total)]
        cpu0, start = time.process_time(), time.perf_counter()
        for node in nodes:
            outbox.nodes[outbox_key(node)] = node
            await connection.send(node)
        await asyncio.wait_for(acked.wait(), 60)
        wall, cpu = time.perf_counter() - start, time.process_time() - cpu0
        print(f"loopback send+ack: {total / wall:,.0f} messages/s; "
              f"{cpu / total * 1e6:,.0f} µs CPU per message for client and test gateway "
              f"together (one process, n={total})")
        await connection.close()
        for i in range(total):
            gateway.mailbox(login).add(Node(
                "message", {"id": f"I{i}", "from": "b@gk", "type": "text", "t": "1"},
                [Node("enc", {"v": "2", "type": "msg"}, os.urandom(180))]))
        cpu0, start = time.process_time(), time.perf_counter()
        connection.wake()
        while len(stored) < total or gateway.mailbox(login).stored:
            await asyncio.sleep(0.002)
        wall, cpu = time.perf_counter() - start, time.process_time() - cpu0
        print(f"loopback mailbox drain (connect, deliver, handle, ack): {total / wall:,.0f} "
              f"messages/s; {cpu / total * 1e6:,.0f} µs CPU per message, both ends (n={total})")
        await connection.close()
    await gateway.stop()


async def bench_many_users(users: int = 200) -> None:
    """Concurrent connections of many partner clients, then idle close of all of them."""
    import resource

    partner_key = SigningKey.generate("ES256")

    async def jwks(_: str):
        return jwks_document([partner_key])

    gateway = FakeGateway(jwks)
    await gateway.start()

    class Empty:
        async def unacknowledged(self):
            return []

    async def ignore(_: object) -> None:
        return None

    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as http:
        connections = []
        for index in range(users):
            login = InternalId(f"1-{index}@interop")
            key = generate_static_private()
            gateway.enlisted[login] = EnlistedClient(login, static_public_from_private(key),
                                                     UserVisibleId(f"u{index}"), "http://p")
            token = issue_identity_token(partner_key, partner_base="http://p",
                                         user_visible_id=f"u{index}",
                                         gateway_audience=GATEWAY_ID)

            async def provide(token: str = token) -> str:
                return token

            connections.append(GatewayConnection(
                session=http,
                settings=ConnectionSettings(gateway.url, gateway.static_public, idle_timeout=2.0),
                login=login, noise_static_private=key, token_provider=provide, outbox=Empty(),
                handlers=Handlers(on_message=ignore, on_server_ack=ignore)))
        rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        start = time.perf_counter()
        for connection in connections:
            connection.wake()
        await asyncio.gather(*(c.wait_open(60) for c in connections))
        wall = time.perf_counter() - start
        rss_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        print(f"{users} users connecting at once: all open after {wall:.2f} s "
              f"({users / wall:,.0f} connections/s, client and test gateway in one process); "
              f"peak RSS grew {(rss_after - rss_before) / 1024:.1f} MiB")
        start = time.perf_counter()
        while any(c.state.value != "idle" for c in connections):
            await asyncio.sleep(0.05)
        print(f"idle close of {users} users after 2 s idle timeout: all closed "
              f"{time.perf_counter() - start:.2f} s after opening")
        await asyncio.gather(*(c.close() for c in connections))
    await gateway.stop()


if __name__ == "__main__":
    bench_codec()
    bench_noise()
    asyncio.run(bench_loopback())
    asyncio.run(bench_many_users())
