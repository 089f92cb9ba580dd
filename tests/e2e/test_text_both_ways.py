"""The main job end to end: a gatekeeper user's text reaches the Matrix user's encrypted portal,
and the answer reaches the gatekeeper user, decrypted by their own Signal client (both engines)."""

from __future__ import annotations

import pytest
from nio import ReceiptEvent, RoomMessageText, TypingNoticeEvent

from bridge.content import Text
from tests.support.stack import running_stack

from .helpers import (
    gatekeeper_chat_state,
    gatekeeper_inbox,
    gatekeeper_receipt,
    join_invited_room,
    notice,
    opted_in_person,
    send_as_gatekeeper,
    simulated_user,
)

pytestmark = pytest.mark.synapse


async def test_text_both_ways_through_an_encrypted_portal(db_url, tmp_path):
    async with running_stack(db_url, tmp_path) as stack:
        alice, _, alice_id = await opted_in_person(stack, "alice", tmp_path / "alice")
        try:
            gina = await simulated_user(stack, "gina")
            first_id = "GINA-FIRST-MESSAGE"
            await send_as_gatekeeper(stack, "gina", alice_id, Text(text="hello from *gina*"),
                                     stanza_id=first_id)

            portal_room = await join_invited_room(alice)
            first = await alice.wait_for(portal_room, lambda e: isinstance(e, RoomMessageText))
            assert first.decrypted, "portal messages must be Megolm-encrypted"
            assert first.body == "hello from *gina*"
            assert "<strong>gina</strong>" in (first.formatted_body or "")
            assert first.sender.startswith("@interop_")

            # Gina's app hears that her message was delivered (stored and shown on Matrix).
            await gatekeeper_receipt(stack, "gina", first_id, read=False)

            reply_event = await alice.send_text(portal_room, "hi gina, this is alice")
            [(entry, content)] = await gatekeeper_inbox(stack, "gina", 1)
            assert entry["from"] == alice_id
            assert isinstance(content, Text) and content.text == "hi gina, this is alice"
            portal = await stack.bridge.running.portals.by_room(portal_room)
            assert portal.contact_id == gina
            # The ghost carries the name the gateway gives the sender (notify), not an id.
            assert portal.ghost.username == "gina"
            assert portal.ghost.displayname == "gina"

            # The gateway's ack shows as a successful send status on Alice's message.
            status = await alice.wait_for_raw(portal_room, lambda e: (
                e.get("type") == "com.beeper.message_send_status"
                and e["content"].get("m.relates_to", {}).get("event_id") == reply_event
                and e["content"].get("status") == "SUCCESS"))
            assert status["sender"] == "@interopbot:localhost"

            # Gina reads Alice's message: her ghost's read receipt moves in Matrix.
            status_code, _ = await stack.admin.call(
                "POST", "/gatekeeper-users/gina/read", {"to": alice_id, "id": entry["id"]})
            assert status_code == 200
            ghost = first.sender
            await alice.wait_for_ephemeral(portal_room, lambda e: isinstance(e, ReceiptEvent)
                                           and any(r.user_id == ghost and
                                                   r.event_id == reply_event
                                                   for r in e.receipts))

            # Alice reads Gina's message: Gina's app gets a read receipt.
            await alice.client.room_read_markers(portal_room, first.event_id, first.event_id)
            await gatekeeper_receipt(stack, "gina", first_id, read=True)

            # Gina types: her ghost types in the portal.
            status_code, _ = await stack.admin.call(
                "POST", "/gatekeeper-users/gina/typing", {"to": alice_id, "state": "composing"})
            assert status_code == 200
            await alice.wait_for_ephemeral(portal_room, lambda e: isinstance(
                e, TypingNoticeEvent) and ghost in e.users)

            # Alice types: Gina's app shows it.
            await alice.client.room_typing(portal_room, typing_state=True, timeout=10000)
            await gatekeeper_chat_state(stack, "gina", alice_id, "composing")
        finally:
            await alice.close()


async def test_start_chat_and_contacts(db_url, tmp_path):
    async with running_stack(db_url, tmp_path) as stack:
        alice, management, alice_id = await opted_in_person(stack, "alice", tmp_path / "alice")
        try:
            hugo = await simulated_user(stack, "hugo")
            status, _ = await stack.admin.call("POST", "/gatekeeper-users",
                                               {"username": "ivy", "opted_in": False})
            assert status == 201

            await alice.send_text(management, "start-chat nobody-here")
            await alice.wait_for(management, notice("There is nobody called **nobody-here**"))
            await alice.send_text(management, "start-chat ivy")
            await alice.wait_for(management, notice("**ivy** has not turned on third-party"))
            await alice.send_text(management, "resolve ivy")
            await alice.wait_for(management, notice("has not turned on third-party chats."))
            await alice.send_text(management, "invite ivy")
            await alice.wait_for(management, notice("**ivy** was asked to turn on"))
            await alice.send_text(management, "invite ivy")
            await alice.wait_for(management, notice("You asked **ivy** recently"))

            await alice.send_text(management, "start-chat hugo")
            await alice.wait_for(management, notice("Your chat with **hugo**"))
            portal_room = await join_invited_room(alice)
            await alice.send_text(portal_room, "hello hugo")
            [(entry, content)] = await gatekeeper_inbox(stack, "hugo", 1)
            assert content.text == "hello hugo" and entry["from"] == alice_id

            await alice.send_text(management, "contacts")
            listing = await alice.wait_for(management, notice("Your third-party chats"))
            assert "hugo" in listing.body and portal_room in listing.body

            # Blocking from inside the chat reaches the gateway, and the chat says so.
            await alice.send_text(portal_room, "!interop block")
            await alice.wait_for(portal_room, notice("You blocked hugo"))
            status, blocks = await stack.admin.call("GET", f"/blocks/{alice_id}")
            assert status == 200 and blocks["blocked"] == [hugo], blocks
            status, reply = await stack.admin.call(
                "POST", "/gatekeeper-users/hugo/send",
                {"to": alice_id, "plaintext": "aGVsbG8=", "pad": True})
            assert "409" in str(reply), reply  # the gateway refuses hugo's message
            await alice.send_text(management, "blocklist")
            await alice.wait_for(management, notice("You have blocked:"))
            await alice.send_text(management, "unblock hugo")
            await alice.wait_for(management, notice("**hugo** is unblocked"))
            status, blocks = await stack.admin.call("GET", f"/blocks/{alice_id}")
            assert blocks["blocked"] == []
            await alice.send_text(management, "blocklist")
            await alice.wait_for(management, notice("You have blocked nobody"))
        finally:
            await alice.close()
