"""A contact's changed identity key: with `identity_change_policy: block` nothing goes to or comes
from them until the Matrix user confirms the new key with `trust` (also across a restart); with
the default `notice` a security notice names both keys and messages go on. Both engines."""

from __future__ import annotations

import asyncio
import re
import time

import pytest
from nio import RoomMessageNotice, RoomMessageText

from bridge.content import Text
from bridge.gateway.ids import Address
from bridge.signal.party import safety_code
from bridge.trust import UserId
from tests.support.matrix_client import PersonClient
from tests.support.stack import running_stack

from .helpers import (
    gatekeeper_inbox,
    notice,
    opted_in_person,
    relates_to,
    send_as_gatekeeper,
    simulated_user,
)

pytestmark = pytest.mark.synapse

CODE = re.compile(r"`((?:\d{5} ){5}\d{5})`")


async def start_chat(person: PersonClient, management: str, username: str) -> str:
    """`start-chat` in the management room; join the portal it names."""
    await person.send_text(management, f"start-chat {username}")
    reply = await person.wait_for(management, notice("Your chat with"))
    room = re.search(r"matrix\.to/#/(![^)]+)\)", reply.body).group(1)
    await person.client.join(room)
    await person.sync()
    return room


def texts(person: PersonClient, room: str) -> list[str]:
    return [e.body for e in person.timeline.get(room, []) if isinstance(e, RoomMessageText)]


async def inbound_rows(stack, user_id: str, sender: str, count: int, timeout: float = 30):
    """Wait until the bridge stored ``count`` messages from ``sender``; their states."""
    deadline = time.monotonic() + timeout
    while True:
        rows = await stack.bridge.running.db.fetch(
            "SELECT state, error FROM signal_inbound WHERE user_id=$1 AND sender=$2"
            " ORDER BY received_at", user_id, sender)
        if len(rows) >= count:
            return [(r["state"], r["error"]) for r in rows]
        assert time.monotonic() < deadline, rows
        await asyncio.sleep(0.3)


async def trusted_key(stack, user_id: str, peer: str) -> bytes | None:
    async with stack.bridge.running.db.acquire() as conn:
        store = stack.bridge.running.partners.store.for_user(UserId(user_id))
        return await store.load_peer_identity(conn, Address(peer))


async def gatekeeper_key(stack, address: str) -> bytes:
    return await stack.sandbox.partners.identity_key(address)


async def test_block_policy_holds_both_ways_until_trusted(db_url, tmp_path):
    async with running_stack(db_url, tmp_path,
                             overrides={"bridge.identity_change_policy": "block"}) as stack:
        alice, management, alice_id = await opted_in_person(stack, "alice", tmp_path / "alice")
        bob = None
        try:
            gina = await simulated_user(stack, "gina")
            room = await start_chat(alice, management, "gina")
            await alice.send_text(room, "hello gina")  # the bridge fetches gina's keys
            await gatekeeper_inbox(stack, "gina", 1)
            await send_as_gatekeeper(stack, "gina", alice_id, Text(text="hi alice"))
            await alice.wait_for(room, lambda e: isinstance(e, RoomMessageText)
                                 and e.body == "hi alice")
            old_key = await gatekeeper_key(stack, gina)
            assert await trusted_key(stack, alice.user_id, gina) == old_key

            # Gina reinstalls: the gateway tells the bridge, which learns the new key and holds.
            status, reset = await stack.admin.call("POST", "/gatekeeper-users/gina/reset-identity")
            assert status == 200, reset
            new_key = await gatekeeper_key(stack, gina)
            assert new_key != old_key
            warning = await alice.wait_for(room, notice("security key changed"))
            assert CODE.findall(warning.body) == [safety_code(old_key), safety_code(new_key)]
            assert "`!interop trust`" in warning.body and "`trust gina`" in warning.body

            # Outgoing is kept with a visible status, and does not reach gina.
            held_out = await alice.send_text(room, "held outgoing")
            waiting = await alice.wait_for(room, lambda e: isinstance(e, RoomMessageNotice)
                                           and "waiting for you to confirm" in e.body)
            assert (relates_to(waiting).get("m.in_reply_to") or {}).get("event_id") == held_out
            # Incoming is kept undecrypted in the durable inbox, and not shown.
            for body in ("held incoming 1", "held incoming 2"):
                await send_as_gatekeeper(stack, "gina", alice_id, Text(text=body))
            rows = await inbound_rows(stack, alice.user_id, gina, 3)
            assert rows[1:] == [("failed", "UntrustedIdentityError")] * 2
            queued = await stack.bridge.running.db.fetchval(
                "SELECT COUNT(*) FROM signal_outbound WHERE user_id=$1 AND recipient=$2"
                " AND state='queued'", alice.user_id, gina)
            assert queued == 1
            await alice.sync()
            assert texts(alice, room) == ["hello gina", "hi alice", "held outgoing"]
            assert await trusted_key(stack, alice.user_id, gina) == old_key

            # Refusals: unknown user, no argument outside a portal, someone else in the portal.
            await alice.send_text(management, "trust nobody")
            await alice.wait_for(management, notice("You have no chat with **nobody**"))
            await alice.send_text(management, "trust")
            await alice.wait_for(management, notice("Name the person"))
            bob = await PersonClient.create(stack.synapse, "bob", tmp_path / "bob")
            await alice.client.room_invite(room, bob.user_id)
            await bob.sync()
            await bob.client.join(room)
            await alice.wait_for_member(room, bob.user_id)
            await bob.send_text(room, "!interop trust")
            await alice.wait_for(room, notice("Only the person this chat belongs to"))

            # The hold survives a restart; the bridge does not tell alice twice.
            await stack.restart_bridge()
            await send_as_gatekeeper(stack, "gina", alice_id, Text(text="held incoming 3"))
            rows = await inbound_rows(stack, alice.user_id, gina, 4)
            assert rows[3] == ("failed", "UntrustedIdentityError")
            await alice.sync()
            assert len([e for e in alice.timeline[room] if isinstance(e, RoomMessageNotice)
                        and "security key changed" in e.body]) == 1

            # Confirmed in the portal: what was held flows, in order, both ways.
            await alice.send_text(room, "!interop trust")
            await alice.wait_for(room, notice("You confirmed **gina**'s new security key"))
            await alice.wait_for(room, lambda e: isinstance(e, RoomMessageText)
                                 and e.body == "held incoming 3")
            assert texts(alice, room)[-3:] == ["held incoming 1", "held incoming 2",
                                               "held incoming 3"]
            received = await gatekeeper_inbox(stack, "gina", 2)
            assert [c.text for _, c in received] == ["hello gina", "held outgoing"]
            assert await trusted_key(stack, alice.user_id, gina) == new_key

            # Nothing left to confirm; new messages go straight through.
            await alice.send_text(management, "trust gina")
            await alice.wait_for(management, notice("There is nothing to confirm"))
            await alice.send_text(room, "after trust")
            received = await gatekeeper_inbox(stack, "gina", 3)
            assert received[-1][1].text == "after trust"
        finally:
            await alice.close()
            if bob is not None:
                await bob.close()


async def test_notice_policy_names_both_keys_and_goes_on(db_url, tmp_path):
    async with running_stack(db_url, tmp_path) as stack:
        alice, management, alice_id = await opted_in_person(stack, "alice", tmp_path / "alice")
        try:
            gina = await simulated_user(stack, "gina")
            room = await start_chat(alice, management, "gina")
            await alice.send_text(room, "hello gina")
            await gatekeeper_inbox(stack, "gina", 1)
            old_key = await gatekeeper_key(stack, gina)

            status, reset = await stack.admin.call("POST", "/gatekeeper-users/gina/reset-identity")
            assert status == 200, reset
            new_key = await gatekeeper_key(stack, gina)
            warning = await alice.wait_for(room, notice("security key changed"))
            assert CODE.findall(warning.body) == [safety_code(old_key), safety_code(new_key)]
            assert "trust" not in warning.body

            await send_as_gatekeeper(stack, "gina", alice_id, Text(text="new phone, same gina"))
            await alice.wait_for(room, lambda e: isinstance(e, RoomMessageText)
                                 and e.body == "new phone, same gina")
            await alice.send_text(room, "welcome back")
            received = await gatekeeper_inbox(stack, "gina", 2)
            assert [c.text for _, c in received] == ["hello gina", "welcome back"]
            await alice.send_text(management, "trust gina")
            await alice.wait_for(management, notice("There is nothing to confirm"))
        finally:
            await alice.close()
