"""Restart either side in the middle of a stream of messages in both directions, and count:
every message arrives exactly once (docs/gateway-protocol.md §9).

One opted-in partner user and one simulated gatekeeper user exchange N messages each way at the
same time. In the middle the sandbox gateway restarts on the same database and port, and the
bridge side restarts — cleanly, or as a crash (sockets cut, tasks cancelled mid-transaction,
in-memory objects thrown away). At the end every message was handed on exactly once, nothing is
left in a mailbox or an outbox, and nothing failed to decrypt.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import os
import time
from collections import Counter

import aiohttp
import pytest

from bridge.gateway.ids import Address

from .world import MXID, World

log = logging.getLogger("tests.e2e_gateway")

N = int(os.environ.get("RESTART_TEST_MESSAGES", "200"))
SETTLE_TIMEOUT = float(os.environ.get("RESTART_TEST_TIMEOUT", "120"))


def g2p(i: int) -> tuple[str, bytes]:
    return f"G{i:04d}", f"gatekeeper to partner #{i}".encode()


def p2g(i: int) -> tuple[str, bytes]:
    return f"P{i:04d}", f"partner to gatekeeper #{i}".encode()


class Streams:
    """The two senders. Each can be held at a point ("restart now") and told to go on."""

    def __init__(self, world: World) -> None:
        self.world = world
        self.gatekeeper_sent = 0
        self.partner_sent = 0
        self.partner_go = asyncio.Event()
        self.partner_go.set()
        self.gatekeeper_go = asyncio.Event()
        self.gatekeeper_go.set()
        #: local ids whose ``send`` started but had not returned (the caller retries those)
        self.partner_unfinished: set[str] = set()
        self.partner_task: asyncio.Task | None = None
        self.sim_inbox: list[dict] = []

    async def gatekeeper_stream(self) -> None:
        """The simulated user's phone: send each message until the gateway acks it, and now
        and then read what arrived (one request at a time, like one device)."""
        world = self.world
        assert world.http is not None
        path = f"/gatekeeper-users/{world.gatekeeper_username}"
        for i in range(N):
            await self.gatekeeper_go.wait()
            stanza_id, plaintext = g2p(i)
            while True:
                try:
                    status, body = await world.admin.call(world.http, "POST", f"{path}/send", {
                        "to": world.partner_internal_id, "id": stanza_id,
                        "plaintext": base64.b64encode(plaintext).decode()})
                except (aiohttp.ClientError, OSError):
                    status, body = 0, None
                if status == 200 and "children" not in (body["reply"] or {}):
                    break
                world.observed.gatekeeper_send_retries += 1
                await asyncio.sleep(0.05)
            self.gatekeeper_sent = i + 1
            if i % 10 == 9:
                await self.sync_sim_inbox()
            await asyncio.sleep(0)

    async def sync_sim_inbox(self) -> None:
        world = self.world
        assert world.http is not None
        try:
            status, body = await world.admin.call(
                world.http, "GET", f"/gatekeeper-users/{world.gatekeeper_username}/inbox")
        except (aiohttp.ClientError, OSError):
            return
        if status == 200:
            self.sim_inbox = body["entries"]

    async def partner_stream(self, start: int = 0) -> None:
        """The Matrix side of the bridge: hands each message to the partner client; a message
        whose ``send`` did not return is handed over again after a restart (as the Matrix inbox
        re-handles an event it had not finished)."""
        world = self.world
        for i in range(start, N):
            await self.partner_go.wait()
            local_id, plaintext = p2g(i)
            self.partner_unfinished.add(local_id)
            await world.client().send(local_id, Address(world.gatekeeper_address), plaintext)
            self.partner_unfinished.discard(local_id)
            self.partner_sent = i + 1
            await asyncio.sleep(0)

    async def wait_until(self, predicate, what: str, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {what}")
            await asyncio.sleep(0.01)


async def settle(world: World, streams: Streams) -> None:
    """Wait until both directions are complete (or the timeout says something was lost)."""
    deadline = time.monotonic() + SETTLE_TIMEOUT
    while True:
        await streams.sync_sim_inbox()
        delivered = {sid for sid, _, _ in world.observed.delivered}
        received = {e["id"] for e in streams.sim_inbox if e["class"] == "message"}
        outbox_left = await world.db.fetchval(
            "SELECT COUNT(*) FROM signal_outbound WHERE user_id=$1 AND state<>'sent'", MXID)
        if len(delivered) >= N and len(received) >= N and outbox_left == 0:
            return
        if time.monotonic() > deadline:
            missing = sorted({g2p(i)[0] for i in range(N)} - delivered)[:5]
            inbound = [dict(r) for r in await world.db.fetch(
                "SELECT gateway_message_id, state, error FROM signal_inbound"
                " WHERE user_id=$1 AND state<>'delivered'", MXID)]
            waiting = [(e.ack_class, e.stanza_id) for e in
                       await world.sandbox.mailbox.pending(world.partner_internal_id)]
            log.error("missing %s; inbound not delivered %s; partner mailbox %s; "
                      "connection %s", missing, inbound, waiting,
                      world.client().connection.state)
            raise AssertionError(f"not settled: {len(delivered)}/{N} delivered to the partner, "
                                 f"{len(received)}/{N} received by the gatekeeper user, "
                                 f"{outbox_left} left in the outbox")
        await asyncio.sleep(0.1)


async def check_exactly_once(world: World, streams: Streams) -> None:
    observed = world.observed
    # Gatekeeper → partner: each delivered once, by id and by content, from the right sender.
    by_id = Counter(sid for sid, _, _ in observed.delivered)
    duplicates = {sid: n for sid, n in by_id.items() if n > 1}
    # A crash can only repeat what reached the callback and had not been marked delivered.
    assert set(duplicates) <= observed.crash_window_ids, duplicates
    assert all(n == 2 for n in duplicates.values()), duplicates
    assert sorted(by_id) == sorted(g2p(i)[0] for i in range(N))
    expected = {g2p(i)[0]: g2p(i)[1] for i in range(N)}
    for stanza_id, sender, plaintext in observed.delivered:
        assert plaintext == expected[stanza_id], stanza_id
        assert sender == world.gatekeeper_address
    assert Counter(p for sid, _, p in observed.delivered if sid not in duplicates) == Counter(
        p for sid, p in expected.items() if sid not in duplicates)

    # Partner → gatekeeper: each in the simulated user's decrypted inbox exactly once.
    messages = [e for e in streams.sim_inbox if e["class"] == "message"]
    assert [e for e in messages if "error" in e] == []
    assert Counter(e["id"] for e in messages) == Counter(p2g(i)[0] for i in range(N))
    for entry in messages:
        assert base64.b64decode(entry["plaintext"]) == dict(p2g(i) for i in range(N))[entry["id"]]
    assert observed.send_errors == []

    # Nothing left anywhere, nothing undecryptable on the partner side.
    db = world.db
    states = dict(await db.fetch(
        "SELECT state, COUNT(*) FROM signal_inbound WHERE user_id=$1 GROUP BY state", MXID))
    assert states == {"delivered": N}, states
    states = dict(await db.fetch(
        "SELECT state, COUNT(*) FROM signal_outbound WHERE user_id=$1 GROUP BY state", MXID))
    assert states == {"sent": N}, states
    mailbox = world.sandbox.mailbox
    for address in (world.partner_internal_id, world.gatekeeper_address):
        left = [(e.ack_class, e.stanza_id) for e in await mailbox.pending(address)
                if e.ack_class == "message"]
        assert left == [], (address, left[:5])


async def restart_bridge(world: World, streams: Streams, *, crash: bool) -> None:
    if crash:
        # The process dies with the Matrix side's send in flight.
        assert streams.partner_task is not None
        streams.partner_task.cancel()
        await asyncio.gather(streams.partner_task, return_exceptions=True)
        await world.crash_bridge()
    else:
        # A clean stop: the Matrix side stops handing over first (as Bridge.stop does).
        streams.partner_go.clear()
        await streams.wait_until(lambda: not streams.partner_unfinished, "the send in flight")
        await world.stop_bridge()
    if crash:
        # The Matrix inbox hands an unfinished event over again — unless the plaintext was
        # already stored: then sending it is left to the bridge's own resume.
        resume_at = streams.partner_sent
        for local_id in streams.partner_unfinished:
            stored = await _outbox_has(world, local_id)
            if stored and int(local_id[1:]) == resume_at:
                resume_at += 1
                world.observed.left_to_resume += 1
        streams.partner_unfinished.clear()
    await world.start_bridge()
    if crash:
        streams.partner_task = asyncio.create_task(streams.partner_stream(resume_at))
    streams.partner_go.set()


async def _outbox_has(world: World, local_id: str) -> bool:
    from bridge.storage import open_database
    db = await open_database(world.db_url)
    try:
        return bool(await db.fetchval(
            "SELECT COUNT(*) FROM signal_outbound WHERE user_id=$1 AND local_id=$2",
            MXID, local_id))
    finally:
        await db.stop()


SCENARIOS = {
    # sandbox restart at one third, clean bridge restart at two thirds
    "sandbox-then-bridge": ("sandbox", "bridge"),
    # the bridge crashes at one third, the sandbox restarts at two thirds
    "crash-then-sandbox": ("crash", "sandbox"),
    # both at once: the bridge crashes while the sandbox restarts
    "crash-and-sandbox-together": ("both",),
}


@pytest.fixture
async def world(db_url, db_url_factory, tmp_path):
    engine = "postgres" if db_url.startswith("postgres") else "sqlite"
    world = World(db_url, await db_url_factory(engine), tmp_path)
    await world.set_up()
    try:
        yield world
    finally:
        await world.tear_down()


@pytest.mark.parametrize("scenario", list(SCENARIOS))
async def test_every_message_arrives_exactly_once(world: World, scenario: str):
    world.partner_internal_id = world.client().internal_id
    streams = Streams(world)
    started = time.monotonic()
    gatekeeper_task = asyncio.create_task(streams.gatekeeper_stream())
    streams.partner_task = asyncio.create_task(streams.partner_stream())
    steps = SCENARIOS[scenario]
    try:
        for index, step in enumerate(steps):
            at = N * (index + 1) // (len(steps) + 1)
            # the predicate is awaited within this iteration, so the late binding of `at` is fine
            await streams.wait_until(lambda: min(streams.gatekeeper_sent,
                                                 streams.partner_sent) >= at,  # noqa: B023
                                     f"message {at}")
            log.info("restarting %s at %d/%d", step, streams.gatekeeper_sent,
                     streams.partner_sent)
            if step == "sandbox":
                await world.restart_sandbox()
            elif step == "bridge":
                await restart_bridge(world, streams, crash=False)
            elif step == "crash":
                await restart_bridge(world, streams, crash=True)
            else:
                await world.stop_sandbox()
                await restart_bridge(world, streams, crash=True)
                await world.start_sandbox()
        await asyncio.wait_for(gatekeeper_task, SETTLE_TIMEOUT)
        await asyncio.wait_for(streams.partner_task, SETTLE_TIMEOUT)
        await settle(world, streams)
    finally:
        for task in (gatekeeper_task, streams.partner_task):
            task.cancel()
    elapsed = time.monotonic() - started
    await check_exactly_once(world, streams)
    world.count_connects(world.service)
    o = world.observed
    print(f"\n[{scenario}] {2 * N} messages in {elapsed:.2f}s = {2 * N / elapsed:.1f} msg/s; "
          f"redelivered to partner {o.redelivered_to_partner}, outbox entries resent "
          f"{o.resent_by_partner}, partner connection attempts {o.partner_connects}, "
          f"gatekeeper send retries {o.gatekeeper_send_retries}, deliver repeats after crash "
          f"{len(o.delivered) - N}, sends left to resume {o.left_to_resume}")


async def test_message_stored_but_not_encrypted_is_sent_after_a_restart(world: World):
    """The plaintext was stored and the process stopped before encrypting: the next start
    encrypts and sends it, once."""
    world.partner_internal_id = world.client().internal_id
    await world.client().outbox.submit("Q0001", world.gatekeeper_address, b"stored, not sent")
    await world.stop_bridge()
    await world.start_bridge()
    streams = Streams(world)

    async def arrived() -> list[dict]:
        await streams.sync_sim_inbox()
        return [e for e in streams.sim_inbox if e["id"] == "Q0001"]

    deadline = time.monotonic() + 30
    while not await arrived():
        assert time.monotonic() < deadline, "the stored message was never sent"
        await asyncio.sleep(0.05)
    [entry] = await arrived()
    assert base64.b64decode(entry["plaintext"]) == b"stored, not sent"
    state = await world.db.fetchval(
        "SELECT state FROM signal_outbound WHERE user_id=$1 AND local_id='Q0001'", MXID)
    for _ in range(100):
        if state == "sent":
            break
        await asyncio.sleep(0.05)
        state = await world.db.fetchval(
            "SELECT state FROM signal_outbound WHERE user_id=$1 AND local_id='Q0001'", MXID)
    assert state == "sent"


async def test_gateway_stopped_between_storing_and_recording_a_send_stores_it_once(world: World):
    """The gateway stores a message for its recipient and records the send (its dedupe entry)
    together: cut in between, neither happened, and the sender's resend is stored once."""
    sandbox, partner = world.sandbox, world.client().internal_id
    record = sandbox.sends.record

    async def stopped_here(*args, **kwargs):
        sandbox.sends.record = record
        raise asyncio.CancelledError  # what a stopping gateway does to a handler

    sandbox.sends.record = stopped_here
    with pytest.raises(asyncio.CancelledError):
        await sandbox.simulated.send(world.gatekeeper_address, partner, b"hello",
                                     stanza_id="C0001")
    await asyncio.sleep(0.5)  # time enough for a stored copy to reach the partner
    assert world.observed.delivered == []
    assert await sandbox.mailbox.pending(partner) == []

    reply = await sandbox.simulated.send(world.gatekeeper_address, partner, b"hello",
                                         stanza_id="C0001")
    assert reply.reply is not None and reply.reply.child("error") is None
    streams = Streams(world)
    await streams.wait_until(lambda: world.observed.delivered, "the resend", timeout=10)
    await asyncio.sleep(0.2)
    assert [(sid, p) for sid, _, p in world.observed.delivered] == [("C0001", b"hello")]
    assert world.observed.redelivered_to_partner == 0
