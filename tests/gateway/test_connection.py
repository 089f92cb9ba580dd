"""The per-user gateway connection against a real in-test gateway on loopback (real Noise, real
WebSocket, real JWT)."""

from __future__ import annotations

import asyncio

import pytest

from bridge.gateway.codec import Node
from bridge.gateway.connection import ConnectionState
from bridge.gateway.errors import ErrorCode, ErrorInfo
from bridge.gateway.ids import StanzaId
from bridge.gateway.noise_channel import generate_static_private, static_public_from_private
from bridge.gateway.stanzas import message

from .fake_gateway import wait_for
from .support import CONTACT, LOGIN, incoming, make_connection


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
    await wait_for(lambda: not gateway.mailbox(LOGIN).entries)
    assert len(recorder.stored) == 1
    assert gateway.connections == 3  # two failed handlings, each redelivered on a new channel
    assert [a.attrs["id"] for a in gateway.client_acks] == ["M1"]  # acked once, after storing
    assert len(connection.backoff_history) == 2
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


async def test_a_send_while_the_outbox_is_resent_goes_after_it(gateway, http) -> None:
    """What was stored before the channel opened goes out first: a message sent while the
    outbox is still being read and resent waits for it, so the gateway gets them in order."""
    connection, outbox, recorder = make_connection(gateway, http)
    outbox.nodes.append(message(StanzaId("OUT1"), CONTACT, "pkmsg", b"\x33abc"))
    reading, release = asyncio.Event(), asyncio.Event()
    read_outbox = outbox.unacknowledged

    async def slow_read():
        nodes = await read_outbox()
        reading.set()
        await release.wait()  # a database query that takes its time
        return nodes

    outbox.unacknowledged = slow_read
    connection.wake()
    await reading.wait()
    assert connection.state is ConnectionState.OPEN
    newer = message(StanzaId("OUT2"), CONTACT, "msg", b"\x33def")
    outbox.nodes.append(newer)
    sending = asyncio.create_task(connection.send(newer))
    await asyncio.sleep(0.2)
    release.set()
    await sending
    await wait_for(lambda: {a.stanza_id for a in recorder.acks} == {"OUT1", "OUT2"})
    received = [n.attrs["id"] for _, n in gateway.received if n.tag == "message"]
    assert received[:2] == ["OUT1", "OUT2"], received
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


async def test_rate_limited_send_is_resent_after_retry_after(gateway, http) -> None:
    connection, outbox, recorder = make_connection(gateway, http)
    gateway.throttle["SLOW"] = 2
    slow = message(StanzaId("SLOW"), CONTACT, "msg", b"\x33x")
    outbox.nodes.append(slow)
    connection.wake()
    await wait_for(lambda: recorder.acks != [])
    assert [(a.stanza_id, a.error) for a in recorder.acks] == [("SLOW", None)]
    assert gateway.throttle["SLOW"] == 0 and gateway.connections == 1
    await connection.close()


@pytest.mark.parametrize("code,stops", [(ErrorCode.CONNECTION_REPLACED, True),
                                        (ErrorCode.NOT_AUTHORIZED, True),
                                        (ErrorCode.UNAVAILABLE, False)])
async def test_stream_errors(gateway, http, code, stops) -> None:
    connection, _, recorder = make_connection(gateway, http)
    connection.wake()
    await connection.wait_open(3)
    await gateway.end_stream(LOGIN, ErrorInfo(code, "bye", retry_after=0.1))
    if stops:
        await wait_for(lambda: connection.state is ConnectionState.STOPPED)
        assert [e.code for e in recorder.stopped] == [code] and gateway.connections == 1
        connection.wake()  # a push or the user: try again
        await connection.wait_open(3)
    else:
        await wait_for(lambda: gateway.connections == 2)
        assert connection.backoff_history[0] >= 0.1 and recorder.stopped == []
    await connection.close()


@pytest.mark.parametrize("pause", [0.0, 0.002, 0.005, 0.05])
async def test_close_at_any_point_ends_the_channel_promptly(gateway, http, pause) -> None:
    connection, _, _ = make_connection(gateway, http)
    connection.wake()
    await asyncio.sleep(pause)
    async with asyncio.timeout(1.5):
        await connection.close()
    assert connection.state is ConnectionState.IDLE
    await wait_for(lambda: gateway.live == {})
    await asyncio.sleep(0.1)
    assert gateway.live == {}  # and no reconnect behind our back


async def test_rejected_token_is_invalidated_before_the_single_retry(gateway, http) -> None:
    rejected: list[int] = []
    connection, _, _ = make_connection(gateway, http, token_lifetime=60, token_now=1_000_000,
                                       token_rejected=lambda: rejected.append(1))
    connection.wake()
    await wait_for(lambda: connection.state is ConnectionState.STOPPED)
    assert rejected == [1] and gateway.connections == 2


def test_hello_repr_hides_the_token() -> None:
    from bridge.gateway.noise_channel import ClientHello

    assert "secret-jwt" not in repr(ClientHello(1, LOGIN, "secret-jwt"))
