"""A stored gateway message handed on again after a crash: the crash came after the homeserver
took the Matrix event and before the message map recorded it. The room shows the message once:
the send's transaction id is derived from the stanza, so the homeserver answers with the event it
has; and when the homeserver has forgotten the transaction id, the bridge finds the event in the
room by the stanza it names. The contact keeps their name though a message handed on after a
restart carries none (both engines).
"""

from __future__ import annotations

import pytest
from nio import RoomMessageText

from bridge.chats import to_matrix
from bridge.content import Text, encode_content
from bridge.gateway.ids import Address
from bridge.partner.client import InboundMessage
from tests.support.stack import running_stack

from .helpers import join_invited_room, opted_in_person, send_as_gatekeeper, simulated_user

pytestmark = pytest.mark.synapse


async def test_a_message_handed_on_again_after_the_send_shows_once(db_url, tmp_path,
                                                                     monkeypatch):
    async with running_stack(db_url, tmp_path) as stack:
        alice, _, alice_id = await opted_in_person(stack, "alice", tmp_path / "alice")
        try:
            gina = await simulated_user(stack, "gina")
            await send_as_gatekeeper(stack, "gina", alice_id, Text(text="once only"),
                                     stanza_id="ONCE-1")
            room = await join_invited_room(alice)
            first = await alice.wait_for(room, lambda e: isinstance(e, RoomMessageText)
                                         and e.body == "once only")
            portal = await stack.bridge.running.portals.by_room(room)
            assert portal.ghost.username == "gina"

            # The crash window: the event is in the room, the message map does not know it.
            await stack.bridge.running.db.execute(
                "DELETE FROM portal_message WHERE room_id=$1 AND stanza_id=$2", room, "ONCE-1")
            client = stack.bridge.running.partners.client(alice.user_id)
            again = InboundMessage("ONCE-1", Address(gina),
                                    encode_content(Text(text="once only")),
                                    timestamp=None, username=None)
            assert await stack.bridge.running.to_matrix.deliver(client, again) is True

            mapped = await stack.bridge.running.portals.messages.by_stanza(room, "ONCE-1")
            assert mapped is not None and mapped.event_id == first.event_id

            # The homeserver forgot the transaction id (Synapse keeps it in memory for 30 to 60
            # minutes): the bridge looks for the event in the room instead of sending again.
            await stack.bridge.running.db.execute(
                "DELETE FROM portal_message WHERE room_id=$1 AND stanza_id=$2", room, "ONCE-1")
            monkeypatch.setattr(to_matrix, "matrix_txn_id", lambda *_: "forgotten-by-the-server")
            resumed = InboundMessage("ONCE-1", Address(gina),
                                      encode_content(Text(text="once only")), timestamp=None,
                                      username=None, may_be_bridged=True)
            assert await stack.bridge.running.to_matrix.deliver(client, resumed) is True
            mapped = await stack.bridge.running.portals.messages.by_stanza(room, "ONCE-1")
            assert mapped is not None and mapped.event_id == first.event_id
            monkeypatch.undo()
            await send_as_gatekeeper(stack, "gina", alice_id, Text(text="and then this"))
            await alice.wait_for(room, lambda e: isinstance(e, RoomMessageText)
                                 and e.body == "and then this")
            bodies = [e.body for e in alice.timeline[room] if isinstance(e, RoomMessageText)]
            assert bodies == ["once only", "and then this"]
            # No name came with the message handed on again: the contact kept theirs.
            assert portal.ghost.username == "gina"
            assert portal.record.contact_name == "gina"
        finally:
            await alice.close()
