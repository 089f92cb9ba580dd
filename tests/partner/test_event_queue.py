"""The per-user partner-event queues: order per user, independence across users, publish
waits and raises, close lets the event in hand finish and refuses the rest."""

from __future__ import annotations

import asyncio

import pytest
from mautrix.types import UserID

from bridge.gateway.connection_types import ConnectionState
from bridge.gateway.ids import Address, StanzaId
from bridge.gateway.received import Chatstate
from bridge.partner.event_queue import QueueClosed, UserEventQueues
from bridge.partner.events import (
    AccountChange,
    AccountChanged,
    ClientEvent,
    ConnectionChanged,
    MessageStored,
    TypingChanged,
)

ALICE, BOB = UserID("@alice:example.org"), UserID("@bob:example.org")


class Client:
    """What the queues need of a partner client: whose it is."""

    def __init__(self, user_id: UserID) -> None:
        self.user_id = user_id


class Recorder:
    def __init__(self) -> None:
        self.seen: list[tuple[UserID, object]] = []
        self.gates: dict[StanzaId, asyncio.Event] = {}
        self.fail_on: set[StanzaId] = set()

    async def client_event(self, client: Client, event: ClientEvent) -> None:
        if isinstance(event, MessageStored):
            gate = self.gates.get(event.stanza_id)
            if gate is not None:
                await gate.wait()
            if event.stanza_id in self.fail_on:
                raise RuntimeError(f"cannot hand on {event.stanza_id}")
        self.seen.append((client.user_id, event))

    async def account_event(self, event: AccountChanged) -> None:
        self.seen.append((event.user, event))


def stored(stanza_id: str) -> MessageStored:
    return MessageStored(StanzaId(stanza_id), Address("1-1@interop"), None, None,
                         may_be_bridged=False)


def typing() -> TypingChanged:
    return TypingChanged(Chatstate(Address("1-1@interop"), composing=True))


async def until(condition) -> None:
    while not condition():
        await asyncio.sleep(0)


async def test_events_wait_for_the_consumer_and_keep_their_order() -> None:
    queues, recorder = UserEventQueues(), Recorder()
    alice = Client(ALICE)
    queues.post(alice, stored("A1"))
    queues.post(alice, stored("A2"))
    await asyncio.sleep(0)
    assert recorder.seen == []  # no consumer yet: nothing is lost, nothing handled
    queues.start(recorder)
    await queues.publish(alice, typing())
    assert [e.stanza_id if isinstance(e, MessageStored) else "typing"
            for _, e in recorder.seen] == ["A1", "A2", "typing"]


async def test_one_slow_user_does_not_hold_up_another() -> None:
    queues, recorder = UserEventQueues(), Recorder()
    queues.start(recorder)
    recorder.gates[StanzaId("A1")] = gate = asyncio.Event()
    queues.post(Client(ALICE), stored("A1"))
    await queues.publish(Client(BOB), typing())  # returns although Alice's event is stuck
    assert [user for user, _ in recorder.seen] == [BOB]
    gate.set()
    await until(lambda: len(recorder.seen) == 2)
    assert recorder.seen[1][0] == ALICE


async def test_publish_raises_what_the_handler_raised_and_the_queue_goes_on() -> None:
    queues, recorder = UserEventQueues(), Recorder()
    queues.start(recorder)
    alice = Client(ALICE)
    recorder.fail_on.add(StanzaId("BAD"))
    with pytest.raises(RuntimeError, match="cannot hand on BAD"):
        await queues.publish(alice, stored("BAD"))
    queues.post(alice, stored("ALSO-BAD"))  # posted: logged, not raised
    recorder.fail_on.add(StanzaId("ALSO-BAD"))
    await queues.publish(alice, stored("GOOD"))
    assert [e.stanza_id for _, e in recorder.seen] == ["GOOD"]


async def test_close_finishes_the_event_in_hand_and_refuses_the_waiting_ones() -> None:
    queues, recorder = UserEventQueues(), Recorder()
    queues.start(recorder)
    alice = Client(ALICE)
    recorder.gates[StanzaId("IN-HAND")] = gate = asyncio.Event()
    queues.post(alice, stored("IN-HAND"))
    waiting = asyncio.ensure_future(queues.publish(alice, typing()))
    await until(lambda: len(queues.workers()) == 1)
    closing = asyncio.ensure_future(queues.close(ALICE))
    await asyncio.sleep(0)
    assert not closing.done()  # the message being handed on is not cut off
    gate.set()
    await closing
    assert [e.stanza_id for _, e in recorder.seen] == ["IN-HAND"]
    with pytest.raises(QueueClosed):
        await waiting
    assert queues.workers() == []


async def test_publishing_from_inside_a_handler_does_not_wait_for_itself() -> None:
    queues = UserEventQueues()
    alice = Client(ALICE)
    seen: list[str] = []

    class Nested(Recorder):
        async def client_event(self, client: Client, event: ClientEvent) -> None:
            if isinstance(event, MessageStored):
                await queues.publish(client, typing())  # e.g. a notice while handing on
            seen.append(type(event).__name__)

    queues.start(Nested())
    await asyncio.wait_for(queues.publish(alice, stored("A1")), timeout=10)
    assert seen == ["TypingChanged", "MessageStored"]


async def test_account_events_share_the_users_queue() -> None:
    queues, recorder = UserEventQueues(), Recorder()
    queues.start(recorder)
    alice = Client(ALICE)
    recorder.gates[StanzaId("A1")] = gate = asyncio.Event()
    queues.post(alice, stored("A1"))
    queues.post(alice, ConnectionChanged(ConnectionState.OPEN, None, at=0.0))
    opted_out = asyncio.ensure_future(
        queues.publish_account(AccountChanged(ALICE, AccountChange.OPTED_OUT)))
    await asyncio.sleep(0)
    assert not opted_out.done()
    gate.set()
    await opted_out
    assert [type(e).__name__ for _, e in recorder.seen] == [
        "MessageStored", "ConnectionChanged", "AccountChanged"]
