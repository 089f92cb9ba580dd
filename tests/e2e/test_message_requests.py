"""Message requests: a first contact is held until the Matrix user accepts; a blocked request
never comes back (both engines)."""

from __future__ import annotations

import asyncio

import pytest
from nio import RoomMessageText

from bridge.content import Text
from tests.support.stack import running_stack

from .helpers import join_invited_room, notice, opted_in_person, send_as_gatekeeper, simulated_user

pytestmark = pytest.mark.synapse


async def test_requests_hold_until_accepted_and_blocked_ones_stay_away(db_url, tmp_path):
    async with running_stack(db_url, tmp_path,
                             overrides={"bridge.message_requests": True}) as stack:
        alice, management, alice_id = await opted_in_person(stack, "alice", tmp_path / "alice")
        try:
            await simulated_user(stack, "gina")
            mallory = await simulated_user(stack, "mallory")
            await send_as_gatekeeper(stack, "gina", alice_id, Text(text="hi, it's gina"))
            request = await alice.wait_for(management, notice("**gina** wants to chat"))
            assert "hi, it's gina" in request.body
            await send_as_gatekeeper(stack, "gina", alice_id, Text(text="second message"))
            await asyncio.sleep(2)
            await alice.sync()
            assert not alice.client.invited_rooms  # nothing is shown before accepting
            assert await stack.bridge.running.portals.for_user(alice.user_id) == []

            await alice.send_text(management, "accept gina")
            await alice.wait_for(management, notice("Accepted"))
            room = await join_invited_room(alice)
            await alice.wait_for(room, lambda e: isinstance(e, RoomMessageText)
                                 and e.body == "second message")
            bodies = [e.body for e in alice.timeline[room] if isinstance(e, RoomMessageText)]
            assert bodies == ["hi, it's gina", "second message"]  # in order, once each

            await send_as_gatekeeper(stack, "mallory", alice_id, Text(text="buy now"))
            await alice.wait_for(management, notice("**mallory** wants to chat"))
            await alice.send_text(management, "block mallory")
            await alice.wait_for(management, notice("**mallory** is blocked"))
            _status, blocks = await stack.admin.call("GET", f"/blocks/{alice_id}")
            assert mallory in blocks["blocked"]
            await alice.send_text(management, "accept mallory")
            await alice.wait_for(management, notice("There is no message request from"))
            assert len(await stack.bridge.running.portals.for_user(alice.user_id)) == 1
            inbound = await stack.bridge.running.db.fetchval(
                "SELECT COUNT(*) FROM signal_inbound WHERE user_id=$1 AND state='decrypted'",
                alice.user_id)
            assert inbound == 0  # what mallory sent was dropped, not kept waiting
        finally:
            await alice.close()
