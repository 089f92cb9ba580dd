"""The per-user gateway connection against a real in-test gateway on loopback (real Noise, real
WebSocket, real JWT)."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Sequence

import aiohttp
import pytest

from bridge.gateway.backoff import Backoff
from bridge.gateway.codec import Node
from bridge.gateway.connection import (
    ConnectionSettings,
    ConnectionState,
    GatewayConnection,
    Handlers,
)
from bridge.gateway.errors import ErrorCode, ErrorInfo
from bridge.gateway.hello_auth import EnlistedClient
from bridge.gateway.ids import Address, InternalId, StanzaId, UserVisibleId
from bridge.gateway.noise_channel import generate_static_private, static_public_from_private
from bridge.gateway.stanzas import ServerAck, message, outbox_key
from bridge.gateway.tokens import SigningKey, issue_identity_token, jwks_document

from .fake_gateway import GATEWAY_ID, FakeGateway, wait_for

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


@pytest.fixture
async def gateway():
    async def partner_jwks(base: str):
        assert base == PARTNER_BASE
        return jwks_document([PARTNER_KEY])

    server = FakeGateway(partner_jwks)
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
async def http():
    async with aiohttp.ClientSession() as session:
        yield session


def make_connection(gateway: FakeGateway, http: aiohttp.ClientSession, *, idle: float = 30.0,
                    ping_interval: float = 30.0, ping_timeout: float = 1.0, version: int = 1,
                    token_lifetime: int = 600, token_now: float | None = None,
                    enlist: bool = True, server_key: bytes | None = None):
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
        outbox=outbox, handlers=recorder.handlers(),
        backoff=Backoff(base=0.05, cap=0.2, rng=random.Random(1)),
    )
    return connection, outbox, recorder


def incoming(stanza_id: str) -> Node:
    return Node("message", {"id": stanza_id, "from": CONTACT, "type": "text", "t": "1"},
                [Node("enc", {"v": "2", "type": "msg"}, b"\x33" + b"c" * 40)])


async def test_mailbox_drained_and_acked_only_after_handler_stored(gateway, http) -> None:
    connection, _, recorder = make_connection(gateway, http)
    await gateway.deliver(LOGIN, incoming("M1"))
    await gateway.deliver(LOGIN, incoming("M2"))
    connection.wake()
    await wait_for(lambda: not gateway.mailbox(LOGIN).entries)
    assert [n.attrs["id"] for n in recorder.stored] == ["M1", "M2"]
    assert [a.attrs for a in gateway.client_acks] == [
        {"class": "message", "id": "M1", "to": CONTACT},
        {"class": "message", "id": "M2", "to": CONTACT},
    ]
    assert [n.child("mailbox") is not None or n.child("offline") is not None
            for n in recorder.infos] == [True, True]
    # a live message while connected
    await gateway.deliver(LOGIN, incoming("M3"))
    await wait_for(lambda: len(recorder.stored) == 3)
    await connection.close()


async def test_handler_failure_means_no_ack_and_redelivery(gateway, http) -> None:
    connection, _, recorder = make_connection(gateway, http)
    recorder.fail_next = 2
    await gateway.deliver(LOGIN, incoming("M1"))
    connection.wake()
    await wait_for(lambda: len(recorder.stored) == 1)
    assert gateway.connections == 3  # two failed handlings, each redelivered on a new channel
    assert [a.attrs["id"] for a in gateway.client_acks] == ["M1"]  # acked once, after storing
    assert len(connection.backoff_history) == 2
    await wait_for(lambda: not gateway.mailbox(LOGIN).entries)
    await connection.close()


async def test_outbox_resent_after_reconnect_and_acks_reported(gateway, http) -> None:
    connection, outbox, recorder = make_connection(gateway, http)
    first = message(StanzaId("OUT1"), CONTACT, "pkmsg", b"\x33abc")
    outbox.nodes.append(first)  # stored before the connection exists
    connection.wake()
    await wait_for(lambda: [a.stanza_id for a in recorder.acks] == ["OUT1"])
    # the gateway drops us before acking the next one: it must be resent on the next channel
    gateway.answer_pings = True
    second = message(StanzaId("OUT2"), CONTACT, "msg", b"\x33def")
    outbox.nodes.append(second)
    await gateway.kick(LOGIN)
    await connection.send(second)
    await wait_for(lambda: "OUT2" in [a.stanza_id for a in recorder.acks])
    assert [n.attrs["id"] for _, n in gateway.received if n.tag == "message"] == ["OUT1", "OUT2"]
    assert outbox.nodes == []
    await connection.close()


async def test_idle_close_and_wake_up(gateway, http) -> None:
    connection, _, recorder = make_connection(gateway, http, idle=0.3)
    connection.wake()
    await connection.wait_open(3)
    await wait_for(lambda: connection.state is ConnectionState.IDLE, timeout=3)
    assert gateway.live == {}
    assert gateway.connections == 1
    # a push while idle: wake reconnects and drains
    await gateway.deliver(LOGIN, incoming("P1"))
    connection.wake()
    await wait_for(lambda: len(recorder.stored) == 1)
    assert gateway.connections == 2
    await connection.close()


async def test_keepalive_pings_and_dead_channel_detection(gateway, http) -> None:
    connection, _, _ = make_connection(gateway, http, ping_interval=0.1, ping_timeout=0.2)
    connection.wake()
    await wait_for(lambda: gateway.pings >= 2)
    assert gateway.connections == 1
    gateway.answer_pings = False
    await wait_for(lambda: gateway.connections >= 2, timeout=5)
    await connection.close()


async def test_request_round_trip(gateway, http) -> None:
    connection, _, _ = make_connection(gateway, http)
    result = await connection.request(
        Node("iq", {"id": "Q1", "type": "set", "xmlns": "reachability"},
             [Node("ping", {"to": CONTACT})]))
    assert result.attrs == {"id": "Q1", "type": "result"}
    await connection.close()


@pytest.mark.parametrize("case", ["expired", "unsupported-version", "not-enlisted"])
async def test_refusals_stop_with_documented_codes(gateway, http, case) -> None:
    if case == "expired":
        connection, _, recorder = make_connection(gateway, http, token_lifetime=60,
                                                  token_now=1_000_000)
        expected = ErrorCode.NOT_AUTHORIZED
    elif case == "unsupported-version":
        connection, _, recorder = make_connection(gateway, http, version=7)
        expected = ErrorCode.VERSION_UNSUPPORTED
    else:
        connection, _, recorder = make_connection(gateway, http, enlist=False)
        expected = ErrorCode.NOT_AUTHORIZED
    connection.wake()
    await wait_for(lambda: connection.state is ConnectionState.STOPPED)
    assert [e.code for e in recorder.stopped] == [expected]
    # 401 is retried once with a fresh token, 406 is final at once
    assert gateway.connections == (1 if expected == ErrorCode.VERSION_UNSUPPORTED else 2)
    if case == "expired":
        assert "expired" in gateway.refusals[0].text
    await connection.close()


async def test_rate_limit_waits_retry_after(gateway, http) -> None:
    connection, _, _ = make_connection(gateway, http)
    gateway.refusal = ErrorInfo(ErrorCode.RATE_LIMITED, "slow down", retry_after=1)
    connection.wake()
    await wait_for(lambda: connection.backoff_history != [])
    assert connection.backoff_history[0] == 1.0  # retry-after beats the 0.05-0.2 s schedule
    gateway.refusal = None
    await connection.wait_open(3)
    await connection.close()


async def test_wrong_gateway_key_never_opens(gateway, http) -> None:
    impostor = static_public_from_private(generate_static_private())
    connection, _, _ = make_connection(gateway, http, server_key=impostor)
    connection.wake()
    await wait_for(lambda: len(connection.backoff_history) >= 2)
    assert connection.state is not ConnectionState.OPEN
    assert gateway.live == {}
    await connection.close()
