"""Helpers for connection tests: a partner identity, an in-memory outbox, recording handlers."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Sequence

import aiohttp

from bridge.gateway.backoff import Backoff
from bridge.gateway.codec import Node
from bridge.gateway.connection import ConnectionSettings, GatewayConnection, Handlers
from bridge.gateway.errors import ErrorInfo
from bridge.gateway.hello_auth import EnlistedClient
from bridge.gateway.ids import Address, InternalId, UserVisibleId
from bridge.gateway.noise_channel import generate_static_private, static_public_from_private
from bridge.gateway.stanzas import ServerAck, outbox_key
from bridge.gateway.tokens import SigningKey, issue_identity_token

from .fake_gateway import GATEWAY_ID, FakeGateway

PARTNER_BASE = "http://partner.test"
PARTNER_KEY = SigningKey.generate("ES256")
LOGIN = InternalId("9-1@interop")
USER = UserVisibleId("alice@matrix.test")
CONTACT = Address("4915112345678@gk")


class ListOutbox:
    def __init__(self) -> None:
        self.nodes: list[Node] = []

    async def unacknowledged(self) -> Sequence[Node]:
        return list(self.nodes)


class Recorder:
    """Handlers that 'store' into lists; ``fail_next`` makes the message handler raise."""

    def __init__(self, outbox: ListOutbox) -> None:
        self.stored: list[Node] = []
        self.acks: list[ServerAck] = []
        self.infos: list[Node] = []
        self.stopped: list[ErrorInfo] = []
        self.fail_next = 0
        self.outbox = outbox

    async def on_message(self, node: Node) -> None:
        await asyncio.sleep(0.01)  # a store takes time; the ack must wait for it
        if self.fail_next:
            self.fail_next -= 1
            raise RuntimeError("database unavailable")
        self.stored.append(node)

    async def on_server_ack(self, ack: ServerAck) -> None:
        self.acks.append(ack)
        self.outbox.nodes = [n for n in self.outbox.nodes
                             if outbox_key(n)[:2] != (ack.stanza_class, ack.stanza_id)]

    async def on_info(self, node: Node) -> None:
        self.infos.append(node)

    async def on_stopped(self, error: ErrorInfo) -> None:
        self.stopped.append(error)

    def handlers(self) -> Handlers:
        return Handlers(on_message=self.on_message, on_server_ack=self.on_server_ack,
                        on_info=self.on_info, on_stopped=self.on_stopped)


def make_connection(gateway: FakeGateway, http: aiohttp.ClientSession, *, idle: float = 30.0,
                    ping_interval: float = 30.0, ping_timeout: float = 1.0, version: int = 1,
                    token_lifetime: int = 600, token_now: float | None = None,
                    enlist: bool = True, server_key: bytes | None = None,
                    token_rejected=None):
    client_private = generate_static_private()
    if enlist:
        gateway.enlisted[LOGIN] = EnlistedClient(
            LOGIN, static_public_from_private(client_private), USER, PARTNER_BASE)
    outbox = ListOutbox()
    recorder = Recorder(outbox)

    async def token() -> str:
        return issue_identity_token(PARTNER_KEY, partner_base=PARTNER_BASE,
                                    user_visible_id=USER, gateway_audience=GATEWAY_ID,
                                    lifetime_seconds=token_lifetime, now=token_now)

    connection = GatewayConnection(
        session=http,
        settings=ConnectionSettings(
            chat_url=gateway.url,
            gateway_static_public=server_key or gateway.static_public,
            idle_timeout=idle, ping_interval=ping_interval, ping_timeout=ping_timeout,
            connect_timeout=3.0, request_timeout=3.0, protocol_version=version),
        login=LOGIN, noise_static_private=client_private, token_provider=token,
        outbox=outbox, handlers=recorder.handlers(), token_rejected=token_rejected,
        backoff=Backoff(base=0.05, cap=0.2, rng=random.Random(1)),
    )
    return connection, outbox, recorder


def incoming(stanza_id: str) -> Node:
    return Node("message", {"id": stanza_id, "from": CONTACT, "type": "text", "t": "1"},
                [Node("enc", {"v": "2", "type": "msg"}, b"\x33" + b"c" * 40)])


