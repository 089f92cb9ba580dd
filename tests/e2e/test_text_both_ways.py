"""The main job end to end: a gatekeeper user's text reaches the Matrix user's encrypted portal,
and the answer reaches the gatekeeper user, decrypted by their own Signal client (both engines)."""

from __future__ import annotations

import pytest
from nio import RoomMessageText

from bridge.content import Text
from tests.support.stack import running_stack

from .helpers import (gatekeeper_inbox, join_invited_room, opted_in_person, send_as_gatekeeper,
                      simulated_user)

pytestmark = pytest.mark.synapse


async def test_text_both_ways_through_an_encrypted_portal(db_url, tmp_path):
    async with running_stack(db_url, tmp_path) as stack:
        alice, _, alice_id = await opted_in_person(stack, "alice", tmp_path / "alice")
        try:
            gina = await simulated_user(stack, "gina")
            await send_as_gatekeeper(stack, "gina", alice_id, Text(text="hello from *gina*"))

            portal_room = await join_invited_room(alice)
            first = await alice.wait_for(portal_room, lambda e: isinstance(e, RoomMessageText))
            assert first.decrypted, "portal messages must be Megolm-encrypted"
            assert first.body == "hello from *gina*"
            assert "<strong>gina</strong>" in (first.formatted_body or "")
            assert first.sender.startswith("@interop_")

            await alice.send_text(portal_room, "hi gina, this is alice")
            [(entry, content)] = await gatekeeper_inbox(stack, "gina", 1)
            assert entry["from"] == alice_id
            assert isinstance(content, Text) and content.text == "hi gina, this is alice"
            portal = await stack.bridge.portals.by_room(portal_room)
            assert portal.contact_id == gina
        finally:
            await alice.close()
