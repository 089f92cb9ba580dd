"""SIGKILL the bridge process in the middle of 500 messages each way, start it again, and check
that every message arrives exactly once, in order per chat.

Synapse and the sandbox gateway keep running; the bridge is a real separate process. One Matrix
user (a nio client with end-to-end encryption) has an encrypted portal with each of three
simulated gatekeeper users (real Signal clients inside the sandbox). At the same time the
gatekeeper users send 500 messages to the Matrix user and the Matrix user sends 500 to them,
spread over the three chats. When at least ``KILL_AT`` messages have arrived in each direction
the bridge gets SIGKILL — observed, not timed — while the senders go on; a new bridge process
starts on the same config and database and everything drains. Then, per chat and per side, the
bodies that arrived are exactly the bodies sent, in the order they were sent.

Until the kill each sender stays at most ``WINDOW`` messages ahead of the slower direction's
arrivals, so the kill finds both streams with messages in flight rather than one of them done.
While the bridge is down the Matrix user's client starts new Megolm sessions, whose keys Synapse
does not keep for the bridge (it asks the client for them), and it goes on writing until the new
process starts; from then until Synapse has worked off its queue the Matrix user waits (see
docs/operations.md, "Crashes", for the Synapse race this avoids).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import os
import sqlite3
import time
from collections import Counter
from dataclasses import dataclass, field

import aiohttp
import pytest
from nio import (
    MegolmEvent,
    MessageDirection,
    RoomMessagesResponse,
    RoomMessageText,
    RoomSendResponse,
    SyncResponse,
)

from bridge.content import Text, decode_content, encode_content
from tests.e2e.helpers import BOT, notice
from tests.support.matrix_client import SYNC_FILTER, PersonClient, share_requested_room_keys
from tests.support.stack import ProcessStack, process_stack

pytestmark = pytest.mark.synapse

N = int(os.environ.get("KILL_TEST_MESSAGES", "500"))
KILL_AT = int(os.environ.get("KILL_TEST_KILL_AT", str(N * 3 // 10)))
WINDOW = int(os.environ.get("KILL_TEST_WINDOW", "60"))
DRAIN_TIMEOUT = float(os.environ.get("KILL_TEST_DRAIN_TIMEOUT", "400"))
CONTACTS = ("gina", "hugo", "ivan")


def contact_of(i: int) -> str:
    return CONTACTS[i % len(CONTACTS)]


def to_matrix_body(i: int) -> str:
    return f"g2m {i:03d} from {contact_of(i)}"


def to_gatekeeper_body(i: int) -> str:
    return f"m2g {i:03d} to {contact_of(i)}"


def expected(body, contact: str) -> list[str]:
    return [body(i) for i in range(N) if contact_of(i) == contact]


@dataclass
class Progress:
    """What each side has seen so far, kept in the test process (the bridge process dies)."""

    #: bodies from each contact's ghost, in the order the Matrix user's client received them
    on_matrix: dict[str, list[str]] = field(default_factory=lambda: {c: [] for c in CONTACTS})
    #: Megolm events the Matrix user's client could not decrypt when they arrived
    undecryptable: list[str] = field(default_factory=list)
    #: bodies in each gatekeeper user's inbox, in inbox order
    on_gatekeeper: dict[str, list[str]] = field(default_factory=lambda: {c: [] for c in CONTACTS})
    #: inbox entries the gatekeeper user's Signal client could not decrypt or decode
    gatekeeper_errors: list[dict] = field(default_factory=list)
    sent_to_matrix: int = 0
    sent_to_gatekeeper: int = 0
    killed: asyncio.Event = field(default_factory=asyncio.Event)

    def arrived_on_matrix(self) -> int:
        return sum(len(v) for v in self.on_matrix.values())

    def arrived_on_gatekeeper(self) -> int:
        return sum(len(v) for v in self.on_gatekeeper.values())

    async def my_turn(self, i: int) -> None:
        """Before the kill, message ``i`` waits until the slower direction is close enough."""
        while not self.killed.is_set() and i >= WINDOW + min(self.arrived_on_matrix(),
                                                             self.arrived_on_gatekeeper()):
            await asyncio.sleep(0.02)


class Scenario:
    def __init__(self, stack: ProcessStack, alice: PersonClient, alice_id: str,
                 rooms: dict[str, str]) -> None:
        self.stack = stack
        self.alice = alice
        self.alice_id = alice_id
        self.rooms = rooms
        self.contact_by_room = {room: contact for contact, room in rooms.items()}
        self.progress = Progress()
        self.http = aiohttp.ClientSession()
        self.admin_url = f"{stack.admin.base_url}/_sandbox/admin/v1"
        self.admin_retries = 0
        #: cleared to hold the Matrix user's client between two messages
        self.matrix_user_may_send = asyncio.Event()
        self.matrix_user_may_send.set()
        self.matrix_sends_in_flight = 0
        self.keys_shared_on_request = 0
        self.events_read_back = 0
        alice.client.add_event_callback(self._on_room_event, (RoomMessageText, MegolmEvent))

    async def close(self) -> None:
        await self.http.close()

    # --- the Matrix user's client ----------------------------------------------------------

    async def _on_room_event(self, room, event) -> None:
        contact = self.contact_by_room.get(room.room_id)
        if contact is None or event.sender == self.alice.user_id:
            return
        if isinstance(event, MegolmEvent):
            self.progress.undecryptable.append(f"{room.room_id} {event.event_id}")
        elif event.body.startswith("g2m "):
            self.progress.on_matrix[contact].append(event.body)

    async def keep_syncing(self) -> None:
        client = self.alice.client
        while True:
            response = await client.sync(timeout=1000, sync_filter=SYNC_FILTER)
            if isinstance(response, SyncResponse):
                self.keys_shared_on_request += share_requested_room_keys(client, response)
            if client.should_upload_keys:
                await client.keys_upload()
            if client.should_query_keys:
                await client.keys_query()
            if client.should_claim_keys:
                await client.keys_claim(client.get_users_for_key_claiming())
            await client.send_to_device_messages()

    async def matrix_user_sends(self, contact: str) -> None:
        """As fast as the client goes, in order, one chat; a fixed transaction id per message
        makes a retried request idempotent."""
        room = self.rooms[contact]
        for i in range(N):
            if contact_of(i) != contact:
                continue
            await self.progress.my_turn(i)
            await self.matrix_user_may_send.wait()
            content = {"msgtype": "m.text", "body": to_gatekeeper_body(i)}
            self.matrix_sends_in_flight += 1
            try:
                for _ in range(5):
                    response = await self.alice.client.room_send(
                        room, "m.room.message", content, tx_id=f"m2g-{i}",
                        ignore_unverified_devices=True)
                    if isinstance(response, RoomSendResponse):
                        break
                    await asyncio.sleep(0.5)
                else:
                    raise AssertionError(f"Synapse did not take message {i}: {response}")
            finally:
                self.matrix_sends_in_flight -= 1
            self.progress.sent_to_gatekeeper += 1

    # --- the gatekeeper users' phones ------------------------------------------------------

    async def _admin(self, method: str, path: str, body=None) -> tuple[int, object]:
        async with self.http.request(method, self.admin_url + path, json=body, headers={
                "Authorization": f"Bearer {self.stack.admin.secret}"}) as resp:
            try:
                return resp.status, await resp.json(content_type=None)
            except ValueError:
                return resp.status, None

    async def gatekeeper_user_sends(self, contact: str) -> None:
        """Each message until the gateway acknowledges it; a retry keeps the stanza id, so the
        gateway stores it once."""
        for i in range(N):
            if contact_of(i) != contact:
                continue
            await self.progress.my_turn(i)
            body = {"to": self.alice_id, "id": f"G{i:04d}", "plaintext": base64.b64encode(
                encode_content(Text(text=to_matrix_body(i)))).decode()}
            while True:
                status, reply = await self._admin("POST", f"/gatekeeper-users/{contact}/send",
                                                  body)
                if status == 200 and "error" not in reply:
                    break
                self.admin_retries += 1
                await asyncio.sleep(0.1)
            self.progress.sent_to_matrix += 1

    async def read_gatekeeper_inbox(self, contact: str) -> None:
        """The gatekeeper user's phone syncing: decrypts and acknowledges what the gateway kept."""
        status, inbox = await self._admin("GET", f"/gatekeeper-users/{contact}/inbox")
        if status != 200:
            return
        bodies, errors = [], []
        for entry in inbox["entries"]:
            if entry["class"] != "message":
                continue
            if "plaintext" not in entry or "error" in entry:
                errors.append(entry)
                continue
            content = decode_content(base64.b64decode(entry["plaintext"]))
            bodies.append(content.text if isinstance(content, Text) else repr(content))
        self.progress.on_gatekeeper[contact] = bodies
        self.progress.gatekeeper_errors = [e for e in self.progress.gatekeeper_errors
                                           if e["contact"] != contact] + [
            {"contact": contact, **e} for e in errors]

    async def keep_reading_gatekeeper_inboxes(self) -> None:
        while True:
            for contact in CONTACTS:
                await self.read_gatekeeper_inbox(contact)
            await asyncio.sleep(0.3)

    # --- checks ----------------------------------------------------------------------------

    def complete(self) -> bool:
        return (self.progress.arrived_on_matrix() >= N
                and self.progress.arrived_on_gatekeeper() >= N)

    async def room_timeline(self, contact: str) -> list[str]:
        """The portal as the homeserver stores it (paginated back from now, decrypted by the
        client): the ghost's bridged bodies, oldest first; undecryptable events as markers."""
        room = self.rooms[contact]
        bodies: list[str] = []
        token = self.alice.client.next_batch
        while True:
            response = await self.alice.client.room_messages(
                room, start=token, direction=MessageDirection.back, limit=500)
            assert isinstance(response, RoomMessagesResponse), response
            self.events_read_back += len(response.chunk)
            for event in response.chunk:
                if event.sender == self.alice.user_id or event.sender == BOT:
                    continue
                if isinstance(event, MegolmEvent):
                    bodies.append(f"<undecryptable {event.event_id}>")
                elif isinstance(event, RoomMessageText) and event.body.startswith("g2m "):
                    bodies.append(event.body)
            if not response.chunk or not response.end:
                break
            token = response.end
        return bodies[::-1]


def appservice_marked_down(stack: ProcessStack) -> bool:
    """Whether Synapse holds the bridge for down and is working off its queue (it has no API
    that says so; its database does)."""
    database = stack.synapse.directory / "homeserver.db"
    with contextlib.closing(sqlite3.connect(f"file:{database}?mode=ro", uri=True)) as conn:
        row = conn.execute("SELECT state FROM application_services_state WHERE as_id=?",
                           ("interop",)).fetchone()
    return row is not None and row[0] == "down"


def describe(got: list[str], want: list[str]) -> str:
    counts = Counter(got)
    missing = [b for b in want if b not in counts]
    duplicated = [b for b, n in counts.items() if n > 1]
    first_out_of_order = next((f"position {k}: got {g!r}, expected {w!r}"
                               for k, (g, w) in enumerate(zip(got, want, strict=False))
                               if g != w), None)
    return (f"{len(got)} received of {len(want)}; missing {missing[:10]}; duplicated "
            f"{duplicated[:10]}; first difference: {first_out_of_order}")


async def opt_in(stack: ProcessStack, alice: PersonClient) -> str:
    """Opt in through the management room, as a person does; the gateway's internal id."""
    room = await alice.create_dm(BOT)
    await alice.wait_for_member(room, BOT)
    await alice.send_text(room, "opt-in")
    await alice.wait_for(room, notice("Before you turn on"), timeout=60)
    await alice.send_text(room, "opt-in confirm")
    await alice.wait_for(room, notice("third-party chats are on"), timeout=60)
    partner = await stack.sandbox.partners.get_by_visible_id("alice")
    assert partner is not None
    return partner.internal_id


def portal_invites(person: PersonClient) -> list[str]:
    """Rooms a ghost invited the person to (the bot's invite to the inbox space is not one)."""
    return [room_id for room_id, room in person.client.invited_rooms.items()
            if (room.inviter or "").startswith("@interop_")]


async def open_portals(stack: ProcessStack, alice: PersonClient, alice_id: str
                       ) -> dict[str, str]:
    """Each contact writes first; the Matrix user joins the portal the bridge invites them to."""
    rooms: dict[str, str] = {}
    for contact in CONTACTS:
        status, created = await stack.admin.call("POST", "/gatekeeper-users",
                                                 {"username": contact, "opted_in": True})
        assert status == 201, created
        status, simulated = await stack.admin.call(
            "POST", f"/gatekeeper-users/{contact}/simulate")
        assert status == 200, simulated
        hello = f"hello from {contact}"
        status, reply = await stack.admin.call("POST", f"/gatekeeper-users/{contact}/send", {
            "to": alice_id, "plaintext": base64.b64encode(
                encode_content(Text(text=hello))).decode()})
        assert status == 200 and "error" not in reply, reply
        deadline = time.monotonic() + 60
        while not (invites := portal_invites(alice)):
            assert time.monotonic() < deadline, f"no portal invite for {contact}"
            await alice.sync()
            await asyncio.sleep(0.2)
        [room] = invites
        await alice.client.join(room)
        await alice.sync()
        first = await alice.wait_for(room, lambda e, hello=hello: isinstance(
            e, RoomMessageText) and e.body == hello, timeout=60)
        assert first.decrypted, "portals must be Megolm-encrypted"
        rooms[contact] = room
    return rooms


async def test_sigkill_in_the_middle_of_500_messages_each_way(db_url, tmp_path):
    async with process_stack(db_url, tmp_path) as stack:
        alice = await PersonClient.create(stack.synapse, "alice", tmp_path / "alice")
        scenario = None
        tasks: list[asyncio.Task] = []
        try:
            alice_id = await opt_in(stack, alice)
            rooms = await open_portals(stack, alice, alice_id)
            scenario = Scenario(stack, alice, alice_id, rooms)
            progress = scenario.progress
            started = time.monotonic()
            tasks = [asyncio.create_task(scenario.keep_syncing()),
                     asyncio.create_task(scenario.keep_reading_gatekeeper_inboxes())]
            senders = [asyncio.create_task(send(contact)) for contact in CONTACTS
                       for send in (scenario.matrix_user_sends, scenario.gatekeeper_user_sends)]
            tasks += senders

            async def wait_for(predicate, what: str, timeout: float) -> None:
                deadline = time.monotonic() + timeout
                while not predicate():
                    for task in tasks:
                        if task.done() and task.exception() is not None:
                            raise task.exception()
                    if time.monotonic() > deadline:
                        details = "; ".join(
                            f"{c}: to Matrix "
                            f"{describe(progress.on_matrix[c], expected(to_matrix_body, c))}, "
                            "to the gatekeeper user "
                            + describe(progress.on_gatekeeper[c], expected(to_gatekeeper_body, c))
                            for c in CONTACTS)
                        raise AssertionError(
                            f"timed out waiting for {what}: {progress.arrived_on_matrix()} of "
                            f"{N} on Matrix, {progress.arrived_on_gatekeeper()} of {N} with the "
                            f"gatekeeper users; bridge log {stack.bridge.log_path}; {details}")
                    await asyncio.sleep(0.02)

            # The kill point is observed: enough arrived both ways, more is on its way.
            await wait_for(lambda: min(progress.arrived_on_matrix(),
                                       progress.arrived_on_gatekeeper()) >= KILL_AT,
                           f"{KILL_AT} messages each way", DRAIN_TIMEOUT)
            stack.kill_bridge()
            at_kill = (progress.sent_to_matrix, progress.arrived_on_matrix(),
                       progress.sent_to_gatekeeper, progress.arrived_on_gatekeeper())
            killed_at = time.monotonic()
            # The Matrix user's client starts new Megolm sessions while the bridge is down (as
            # it does every 100 messages): the homeserver does not keep those room keys for
            # the bridge, which has to ask the client for them.
            for room in rooms.values():
                alice.client.olm.outbound_group_sessions.pop(room, None)
            progress.killed.set()
            assert KILL_AT <= at_kill[1] < N and KILL_AT <= at_kill[3] < N, at_kill
            # Both sides go on writing while the bridge is down: the gateway keeps messages in
            # its mailbox, Synapse queues the Matrix user's events (not the room keys).
            await wait_for(lambda: progress.sent_to_gatekeeper >= at_kill[2] + 15,
                           "Matrix messages written while the bridge is down", 60)
            # Synapse works off its queue after the restart, but an event created just as it
            # finishes can be left in a transaction it never sends (its scheduler checks
            # "down" and creates the transaction without a lock; see docs/operations.md). The
            # Matrix user waits until Synapse is through; the gatekeeper users do not.
            scenario.matrix_user_may_send.clear()
            await wait_for(lambda: scenario.matrix_sends_in_flight == 0, "sends in flight", 60)
            await stack.start_bridge()
            restarted_in = time.monotonic() - killed_at
            await wait_for(lambda: not appservice_marked_down(stack),
                           "Synapse to send what it queued", DRAIN_TIMEOUT)
            scenario.matrix_user_may_send.set()

            await wait_for(scenario.complete, "every message", DRAIN_TIMEOUT)
            await asyncio.gather(*senders)
            elapsed = time.monotonic() - started
            # Anything extra (a duplicate) arrives shortly after; give it a moment to show.
            await asyncio.sleep(2)
            for contact in CONTACTS:
                await scenario.read_gatekeeper_inbox(contact)

            for contact in CONTACTS:
                want = expected(to_gatekeeper_body, contact)
                got = progress.on_gatekeeper[contact]
                assert got == want, f"{contact}'s inbox: {describe(got, want)}"
            assert progress.gatekeeper_errors == []
            reading_back = time.monotonic()
            timelines = {contact: await scenario.room_timeline(contact) for contact in CONTACTS}
            read_back_in = time.monotonic() - reading_back
            for contact in CONTACTS:
                want = expected(to_matrix_body, contact)
                got = timelines[contact]
                assert got == want, f"portal with {contact}: {describe(got, want)}"
                seen = progress.on_matrix[contact]
                assert seen == want, f"live in portal with {contact}: {describe(seen, want)}"
            assert progress.undecryptable == []
            print(f"\n[{db_url.split(':')[0]}] {2 * N} messages in {elapsed:.1f} s "
                  f"({2 * N / elapsed:.1f} msg/s); killed with {at_kill[0]} sent/{at_kill[1]} "
                  f"arrived to Matrix and {at_kill[2]} sent/{at_kill[3]} arrived to the "
                  f"gatekeeper users; ready again {restarted_in:.1f} s after the kill; "
                  f"drained {time.monotonic() - killed_at:.1f} s after the kill; "
                  f"admin send retries {scenario.admin_retries}; room keys shared on request "
                  f"{scenario.keys_shared_on_request}; the client read back and decrypted the "
                  f"three portals ({scenario.events_read_back} events) in {read_back_in:.1f} s")
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            if scenario is not None:
                await scenario.close()
            await alice.close()
