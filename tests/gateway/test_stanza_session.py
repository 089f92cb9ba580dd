"""The stanza rules of an open channel, on the pure state machine: no sockets, no clock."""

from __future__ import annotations

import itertools
import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bridge.gateway.codec import Node
from bridge.gateway.connection_types import ChannelEnd, EndKind
from bridge.gateway.errors import ErrorCode, ErrorInfo, ProtocolViolation
from bridge.gateway.ids import StanzaId
from bridge.gateway.stanza_session import (
    DEFAULT_RESEND_DELAY,
    AbandonRequest,
    AnswerRequest,
    CloseChannel,
    CloseReason,
    Deliver,
    Delivery,
    ReportServerAck,
    ResendFromOutbox,
    SendPing,
    SessionMisuse,
    SessionState,
    StanzaSession,
    WriteAck,
)
from bridge.gateway.stanzas import ServerAck, message, receipt

from .support import CONTACT, incoming

IDLE, PING, PING_TIMEOUT = 300.0, 30.0, 20.0


def new_session(now: float = 0.0, *, idle: float = IDLE, ping_interval: float = PING,
                ping_timeout: float = PING_TIMEOUT) -> StanzaSession:
    counter = itertools.count(1)
    return StanzaSession(now=now, idle_timeout=idle, ping_interval=ping_interval,
                         ping_timeout=ping_timeout, new_id=lambda: StanzaId(f"P{next(counter)}"))


def gateway_ack(stanza_id: str, *, stanza_class: str = "message", code: int | None = None,
                retry_after: str | None = None, ack_type: str | None = None) -> Node:
    attrs = {"class": stanza_class, "id": stanza_id}
    if ack_type is not None:
        attrs["type"] = ack_type
    children = None
    if code is not None:
        error = {"code": str(code), "text": "later"}
        if retry_after is not None:
            error["retry-after"] = retry_after
        children = [Node("error", error)]
    return Node("ack", attrs, children)


def result(stanza_id: str) -> Node:
    return Node("iq", {"id": stanza_id, "type": "result"})


def outgoing(stanza_id: str) -> Node:
    return message(StanzaId(stanza_id), CONTACT, "msg", b"\x33x")


# -- ack only after the handler returned ---------------------------------------------------------


def test_a_delivered_message_is_handed_on_and_acked_only_once_stored() -> None:
    session = new_session()
    node = incoming("M1")
    assert session.stanza_received(node, 1.0) == (Deliver(node, Delivery.STORE),)
    assert session.busy  # being handled: not idle, and no ack yet
    assert session.stored(node) == (WriteAck(Node(
        "ack", {"class": "message", "id": "M1", "to": CONTACT})),)
    session.delivery_done()
    assert not session.busy


def test_receipts_and_notifications_are_acked_like_messages() -> None:
    session = new_session()
    read = Node("receipt", {"id": "R1", "from": CONTACT, "type": "read"})
    note = Node("notification", {"id": "N1", "from": CONTACT})
    assert [e.kind for e in session.stanza_received(read, 1.0)] == [Delivery.STORE]
    assert [e.kind for e in session.stanza_received(note, 1.0)] == [Delivery.STORE]
    assert session.stored(read) == (WriteAck(Node(
        "ack", {"class": "receipt", "id": "R1", "to": CONTACT, "type": "read"})),)
    assert session.stored(note) == (WriteAck(Node(
        "ack", {"class": "notification", "id": "N1", "to": CONTACT})),)


def test_a_stored_stanza_that_cannot_be_acked_is_a_protocol_error() -> None:
    session = new_session()
    anonymous = Node("message", {"id": "M1"})
    session.stanza_received(anonymous, 1.0)
    with pytest.raises(ProtocolViolation):
        session.stored(anonymous)


@pytest.mark.parametrize("node", [
    Node("ib", {}, [Node("offline", {"count": "0"})]),
    Node("chatstate", {"from": CONTACT}, [Node("composing")]),
    Node("iq", {"id": "S1", "type": "get", "xmlns": "urn:later"}),
    Node("something-new", {}),
])
def test_other_stanzas_are_best_effort_infos(node: Node) -> None:
    session = new_session()
    assert session.stanza_received(node, 1.0) == (Deliver(node, Delivery.INFO),)
    assert session.last_activity == 1.0


def test_delivery_done_without_a_delivery_is_a_misuse() -> None:
    with pytest.raises(SessionMisuse):
        new_session().delivery_done()


# -- iq correlation -------------------------------------------------------------------------------


def test_an_iq_result_answers_its_request_once() -> None:
    session = new_session()
    session.request_started("Q1")
    answer = result("Q1")
    assert session.stanza_received(answer, 2.0) == (AnswerRequest("Q1", answer, None),)
    assert session.stanza_received(answer, 2.5) == ()  # a second answer finds nobody waiting
    assert session.pending_requests == frozenset()
    # Answers are received traffic (they defer the ping) but not activity (no idle reset).
    assert (session.last_received, session.last_activity) == (2.5, 0.0)


def test_an_iq_error_answers_with_its_error() -> None:
    session = new_session()
    session.request_started("Q1")
    session.request_started("Q2")
    refused = Node("iq", {"id": "Q1", "type": "error"},
                   [Node("error", {"code": "404", "text": "unknown user"})])
    bare = Node("iq", {"id": "Q2", "type": "error"})
    assert session.stanza_received(refused, 1.0) == (
        AnswerRequest("Q1", refused, ErrorInfo(ErrorCode.UNKNOWN_USER, "unknown user")),)
    assert session.stanza_received(bare, 1.0) == (
        AnswerRequest("Q2", bare, ErrorInfo(ErrorCode.BAD_REQUEST)),)


@pytest.mark.parametrize("node", [result("NEVER"), Node("iq", {"type": "result"})])
def test_answers_to_unknown_ids_are_dropped(node: Node) -> None:
    session = new_session()
    session.request_started("Q1")
    assert session.stanza_received(node, 1.0) == ()
    assert session.pending_requests == {"Q1"}


def test_an_answer_after_the_requester_gave_up_is_dropped() -> None:
    session = new_session()
    session.request_started("Q1")
    session.request_finished("Q1")  # timed out
    assert session.stanza_received(result("Q1"), 40.0) == ()
    assert not session.busy


# -- in flight, server acks and resends ---------------------------------------------------------


def test_an_outbox_stanza_is_in_flight_until_the_gateway_acks_it() -> None:
    session = new_session()
    session.track(outgoing("OUT1"))
    session.track(receipt(StanzaId("R1"), CONTACT, "read"))
    assert session.in_flight == {("message", "OUT1", None), ("receipt", "R1", "read")}
    ack = gateway_ack("OUT1")
    assert session.stanza_received(ack, 1.0) == (Deliver(ack, Delivery.SERVER_ACK),)
    assert session.server_ack(ack, 1.0) == (
        ReportServerAck(ServerAck("message", StanzaId("OUT1"), None, None)),)
    # A receipt's ack must name the receipt type to match.
    assert session.server_ack(gateway_ack("R1", stanza_class="receipt"), 1.0) != ()
    assert session.in_flight == {("receipt", "R1", "read")}
    session.server_ack(gateway_ack("R1", stanza_class="receipt", ack_type="read"), 1.0)
    assert session.in_flight == frozenset()


def test_a_final_ack_error_is_reported_and_ends_the_flight() -> None:
    session = new_session()
    session.track(outgoing("OUT1"))
    (effect,) = session.server_ack(gateway_ack("OUT1", code=403), 1.0)
    assert isinstance(effect, ReportServerAck)
    assert effect.ack.error == ErrorInfo(ErrorCode.NOT_OPTED_IN, "later")
    assert session.in_flight == frozenset()


@pytest.mark.parametrize("code,retry_after,delay", [
    (429, "2", 2.0),
    (503, "0.5", 0.5),
    (503, None, DEFAULT_RESEND_DELAY),
    (429, None, DEFAULT_RESEND_DELAY),
    # Today's rules, reported as odd: a 500 ack is resent too (TRANSIENT_CODES has it), and
    # retry-after="0" waits the default 5 s (``retry_after or DEFAULT``).
    (500, None, DEFAULT_RESEND_DELAY),
    (429, "0", DEFAULT_RESEND_DELAY),
])
def test_a_transient_ack_keeps_it_in_flight_and_resends_it_later(
        code: int, retry_after: str | None, delay: float) -> None:
    session = new_session(ping_interval=1000.0)
    session.track(outgoing("SLOW"))
    assert session.server_ack(gateway_ack("SLOW", code=code, retry_after=retry_after), 10.0) == ()
    assert session.in_flight == {("message", "SLOW", None)}  # not reported to the owner
    assert session.next_deadline() == 10.0 + delay
    assert session.tick(10.0 + delay * 0.99) == ()
    assert session.tick(10.0 + delay) == (ResendFromOutbox(("message", "SLOW", None)),)
    assert session.tick(10.0 + delay + 1) == ()  # once
    assert session.in_flight == {("message", "SLOW", None)}  # until its ack


def test_resends_come_due_in_time_order() -> None:
    session = new_session(ping_interval=1000.0)
    for stanza_id, seconds in (("A", "3"), ("B", "1"), ("C", "3")):
        session.track(outgoing(stanza_id))
        session.server_ack(gateway_ack(stanza_id, code=429, retry_after=seconds), 0.0)
    assert session.tick(5.0) == tuple(ResendFromOutbox(("message", i, None)) for i in "BAC")


def test_a_resend_dropped_from_the_outbox_leaves_the_flight() -> None:
    session = new_session(ping_interval=1000.0)
    session.track(outgoing("GONE"))
    session.server_ack(gateway_ack("GONE", code=503), 0.0)
    (effect,) = session.tick(DEFAULT_RESEND_DELAY)
    assert isinstance(effect, ResendFromOutbox)
    session.resend_dropped(effect.key)
    assert not session.busy


# -- idle ----------------------------------------------------------------------------------------


def test_a_quiet_channel_closes_after_the_idle_timeout() -> None:
    session = new_session(idle=10.0, ping_interval=1000.0)
    assert session.next_deadline() == 10.0
    assert session.tick(9.99) == ()
    assert session.tick(10.0) == (CloseChannel(CloseReason.IDLE),)
    assert session.state is SessionState.ENDING
    assert session.end == ChannelEnd(EndKind.IDLE)
    assert session.next_deadline() == math.inf
    assert session.tick(20.0) == ()


def test_activity_defers_the_idle_close() -> None:
    session = new_session(idle=10.0, ping_interval=1000.0)
    session.activity(4.0)  # a write, or the user is active
    assert session.tick(10.0) == ()
    session.stanza_received(Node("ib", {}), 8.0)
    session.delivery_done()
    assert session.next_deadline() == 18.0


@pytest.mark.parametrize("make_busy", ["in-flight", "request", "delivery"])
def test_nothing_idles_while_something_is_in_flight_pending_or_handled(make_busy: str) -> None:
    session = new_session(idle=10.0, ping_interval=1000.0)
    if make_busy == "in-flight":
        session.track(outgoing("OUT1"))
    elif make_busy == "request":
        session.request_started("Q1")
    else:
        session.stanza_received(incoming("M1"), 0.0)
    assert session.next_deadline() == 1000.0  # only the keep-alive
    assert session.tick(50.0) == ()
    if make_busy == "in-flight":
        session.server_ack(gateway_ack("OUT1"), 50.0)
    elif make_busy == "request":
        session.request_finished("Q1")
    else:
        session.delivery_done()
    # Long past the idle deadline: the next tick, which the shell runs at once, closes.
    assert session.next_deadline() == 10.0
    assert session.tick(50.0) == (CloseChannel(CloseReason.IDLE),)


# -- keep-alive ----------------------------------------------------------------------------------


def test_a_ping_after_the_interval_without_traffic_and_its_answer() -> None:
    session = new_session()
    assert session.next_deadline() == PING
    assert session.tick(PING - 0.01) == ()
    assert session.tick(PING) == (
        SendPing(Node("iq", {"id": "P1", "type": "get", "xmlns": "ping"})),)
    assert session.busy and session.last_activity == 0.0  # pings are not activity
    assert session.next_deadline() == PING + PING_TIMEOUT
    assert session.tick(PING + 10) == ()  # one ping at a time
    assert session.stanza_received(result("P1"), PING + 1) == ()  # not a request's answer
    assert not session.busy
    assert session.next_deadline() == 2 * PING + 1


def test_an_error_answer_to_a_ping_shows_the_channel_alive_too() -> None:
    session = new_session()
    session.tick(PING)
    session.stanza_received(Node("iq", {"id": "P1", "type": "error"}), PING + 1)
    assert session.state is SessionState.OPEN and not session.busy


def test_an_unanswered_ping_ends_the_channel_as_failed() -> None:
    session = new_session()
    session.tick(PING)
    assert session.tick(PING + PING_TIMEOUT) == (CloseChannel(CloseReason.PING_UNANSWERED),)
    assert session.end == ChannelEnd(EndKind.FAILED)


def test_received_traffic_defers_the_ping() -> None:
    session = new_session()
    session.stanza_received(incoming("M1"), 25.0)
    assert session.tick(PING) == ()
    assert session.next_deadline() == 25.0 + PING


# -- ending and closing --------------------------------------------------------------------------


def test_a_stream_error_ends_the_channel_with_its_error() -> None:
    session = new_session()
    error = ErrorInfo(ErrorCode.CONNECTION_REPLACED, "replaced")
    session.request_started("Q1")
    assert session.stream_closed(error) == ()
    assert session.end == ChannelEnd(EndKind.ENDED, error)
    assert session.tick(1000.0) == ()
    # What the socket still hands over is taken: a waiting request gets its answer.
    assert session.stanza_received(result("Q1"), 1.0) != ()


def test_the_first_end_decided_wins() -> None:
    session = new_session(idle=1.0)
    session.tick(1.0)
    session.failed()
    session.stream_closed(ErrorInfo(ErrorCode.UNAVAILABLE))
    assert session.end == ChannelEnd(EndKind.IDLE)


def test_close_abandons_pending_requests_and_forgets_what_is_in_flight() -> None:
    session = new_session()
    session.request_started("Q1")
    session.request_started("Q2")
    session.track(outgoing("OUT1"))
    session.server_ack(gateway_ack("OUT1", code=429, retry_after="1"), 0.0)
    session.stanza_received(incoming("M1"), 0.0)  # being handled
    session.tick(PING)  # a ping outstanding
    effects = session.close()
    assert set(effects) == {AbandonRequest("Q1"), AbandonRequest("Q2")}  # not the ping
    assert session.state is SessionState.CLOSED and session.end == ChannelEnd(EndKind.FAILED)
    # The next channel resends the whole outbox: nothing in flight survives this one.
    assert session.in_flight == frozenset() and not session.busy
    assert session.next_deadline() == math.inf
    assert session.tick(1e9) == ()
    assert session.stanza_received(result("Q1"), 1.0) == ()
    session.delivery_done()  # the cancelled handler's bookkeeping is harmless
    assert session.close() == ()


# -- the shell never spins -----------------------------------------------------------------------

_inputs = st.lists(st.tuples(
    st.sampled_from(["message", "ack", "ack429", "answer", "track", "request", "done",
                     "activity", "tick", "tick-at-deadline"]),
    st.floats(0.0, 50.0)), max_size=40)


@given(_inputs, st.floats(0.5, 100), st.floats(0.5, 100), st.floats(0.5, 100))
def test_a_tick_at_the_deadline_always_moves_the_deadline_on(
        steps: list[tuple[str, float]], idle: float, interval: float, timeout: float) -> None:
    """A shell that sleeps until next_deadline() and ticks never wakes for nothing twice, and
    the channel never goes idle while busy."""
    session = new_session(idle=idle, ping_interval=interval, ping_timeout=timeout)
    now, outstanding, sent = 0.0, 0, 0
    for action, step in steps:
        if action == "tick-at-deadline":
            now = max(now, min(session.next_deadline(), now + 1000))
        else:
            now += step
        if action == "message":
            outstanding += len(session.stanza_received(incoming("M"), now))
        elif action in ("ack", "ack429") and sent:
            session.server_ack(gateway_ack(f"O{sent}", code=429 if action == "ack429" else None,
                                           retry_after="1"), now)
        elif action == "answer":
            session.stanza_received(result("Q"), now)
        elif action == "track":
            sent += 1
            session.track(outgoing(f"O{sent}"))
        elif action == "request":
            session.request_started("Q")
        elif action == "done" and outstanding:
            outstanding -= 1
            session.delivery_done()
        elif action == "activity":
            session.activity(now)
        else:
            was_busy = session.busy
            effects = session.tick(now)
            if CloseChannel(CloseReason.IDLE) in effects:
                assert not was_busy
        if session.state is not SessionState.OPEN:
            break
        if action.startswith("tick"):
            assert session.next_deadline() > now
