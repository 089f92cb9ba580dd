"""Relations across the two sides (a contact replying to and reacting on the Matrix user's
messages, the one-reaction-per-person rule of the gateway against Matrix's many, who may edit or
delete what), and the remaining types: stickers both ways, a contact card, an emote. Both
engines."""

from __future__ import annotations

import pytest
from nio import (
    ReactionEvent,
    RedactionEvent,
    RoomMessageNotice,
    RoomMessageText,
    RoomRedactError,
)

from bridge.chats.to_gateway import stanza_id_for
from bridge.content import Contact, Edit, MessageKey, Reaction, ReplyTo, Revoke, Sticker, Text
from bridge.content.models import MediaKind
from tests.support.stack import running_stack

from . import samples
from .helpers import (
    content_of,
    download_decrypted,
    fetch_as_gatekeeper,
    gatekeeper_inbox,
    gatekeeper_media,
    join_invited_room,
    opted_in_person,
    record_everything,
    redact,
    relates_to,
    send_as_gatekeeper,
    send_event,
    send_status,
    simulated_user,
    upload_encrypted,
    wait_event,
)

pytestmark = pytest.mark.synapse


def reaction_to(event_id: str, key: str) -> dict:
    return {"m.relates_to": {"rel_type": "m.annotation", "event_id": event_id, "key": key}}


async def test_relations_across_sides_and_the_other_types(db_url, tmp_path):
    async with running_stack(db_url, tmp_path) as stack:
        alice, _, alice_id = await opted_in_person(stack, "alice", tmp_path / "alice")
        record_everything(alice)
        try:
            await simulated_user(stack, "gina")

            async def gina_sends(stanza_id: str, content) -> None:
                await send_as_gatekeeper(stack, "gina", alice_id, content, stanza_id=stanza_id)

            def notice_containing(text: str):
                return lambda e: isinstance(e, RoomMessageNotice) and text in e.body

            await gina_sends("G1", Text(text="hi alice"))
            room = await join_invited_room(alice)
            greeting = await wait_event(alice, room, lambda e: isinstance(e, RoomMessageText))
            received = 0

            async def gina_receives():
                nonlocal received
                received += 1
                return (await gatekeeper_inbox(stack, "gina", received))[received - 1][1]

            mine = await send_event(alice, room, "m.room.message",
                                    {"msgtype": "m.text", "body": "how are you?"})
            await gina_receives()
            my_stanza = stanza_id_for(mine)

            # -- gina replies to Alice's message: a Matrix reply that mentions Alice --
            await gina_sends("G2", Text(text="fine", reply_to=ReplyTo(stanza_id=my_stanza)))
            reply = await wait_event(alice, room, lambda e: isinstance(e, RoomMessageText)
                                     and e.body == "fine")
            assert relates_to(reply)["m.in_reply_to"]["event_id"] == mine
            assert alice.user_id in content_of(reply)["m.mentions"]["user_ids"]

            # -- gina reacts to Alice's message, then changes her reaction (one per person) --
            await gina_sends("G3", Reaction(target=MessageKey(chat_id=alice_id, id=my_stanza),
                                            text="❤️"))
            heart = await wait_event(alice, room, lambda e: isinstance(e, ReactionEvent)
                                     and e.key == "❤️")
            assert heart.reacts_to == mine
            await gina_sends("G4", Reaction(target=MessageKey(chat_id=alice_id, id=my_stanza),
                                            text="😂"))
            await wait_event(alice, room, lambda e: isinstance(e, ReactionEvent)
                             and e.key == "😂" and e.reacts_to == mine)
            await wait_event(alice, room, lambda e: isinstance(e, RedactionEvent)
                             and e.redacts == heart.event_id, what="replaced reaction removed")

            # -- gina may neither edit nor delete Alice's message: said, not done --
            await gina_sends("G5", Edit(target=MessageKey(chat_id=alice_id, id=my_stanza),
                                        new_content=Text(text="hijacked")))
            await wait_event(alice, room, notice_containing("An edit of a message"))
            await gina_sends("G6", Revoke(target=MessageKey(chat_id=alice_id, id=my_stanza)))
            await wait_event(alice, room, notice_containing("A deletion of a message"))
            assert not any(isinstance(e, RedactionEvent) and e.redacts == mine
                           for e in alice.everything[room])

            # -- Alice reacts twice on Matrix; the gateway keeps her latest one --
            thumbs = await send_event(alice, room, "m.reaction",
                                      reaction_to(greeting.event_id, "👍"))
            assert (await gina_receives()).text == "👍"
            party = await send_event(alice, room, "m.reaction",
                                     reaction_to(greeting.event_id, "🎉"))
            assert (await gina_receives()).text == "🎉"
            # Removing the superseded one must not remove the current one on the gateway (the
            # next thing gina gets is the marker text, sent in order after the redaction)...
            await redact(alice, room, thumbs)
            await send_event(alice, room, "m.room.message", {"msgtype": "m.text",
                                                             "body": "marker"})
            marker = await gina_receives()
            assert isinstance(marker, Text) and marker.text == "marker", marker
            # ...removing the current one does.
            await redact(alice, room, party)
            removal = await gina_receives()
            assert isinstance(removal, Reaction) and removal.is_revoke
            assert removal.target.id == "G1"

            # -- Alice may neither edit nor delete gina's message: a failed status says why --
            edit = await send_event(alice, room, "m.room.message", {
                "msgtype": "m.text", "body": "* changed",
                "m.new_content": {"msgtype": "m.text", "body": "changed"},
                "m.relates_to": {"rel_type": "m.replace", "event_id": greeting.event_id}})
            failed = await send_status(alice, room, edit)
            assert failed["status"] == "FAIL_PERMANENT"
            assert "only your own messages can be edited" in failed["message"]
            # Deleting gina's message is already refused by the homeserver (power levels).
            refused = await alice.client.room_redact(room, greeting.event_id)
            assert isinstance(refused, RoomRedactError) and refused.status_code == "M_FORBIDDEN"

            # -- stickers both ways --
            sticker_ref = await gatekeeper_media(stack, MediaKind.STICKER, samples.webp(),
                                                 "image/webp")
            await gina_sends("G7", Sticker(media=sticker_ref, width=32, height=32))
            sticker = await wait_event(alice, room, lambda e: e.source.get("type")
                                       == "m.sticker", what="sticker")
            assert await download_decrypted(alice, content_of(sticker)["file"]) \
                == samples.webp()
            file = await upload_encrypted(alice, samples.webp())
            await send_event(alice, room, "m.sticker", {
                "body": "a yellow square", "file": file,
                "info": {"mimetype": "image/webp", "w": 32, "h": 32,
                         "size": len(samples.webp())}})
            sent_sticker = await gina_receives()
            assert isinstance(sent_sticker, Sticker)
            assert await fetch_as_gatekeeper(stack, MediaKind.STICKER, sent_sticker.media) \
                == samples.webp()

            # -- a contact card from gina: a .vcf file --
            await gina_sends("G8", Contact(display_name="Hugo Example", vcard=samples.VCARD))
            card = await wait_event(alice, room, lambda e: content_of(e).get("info", {})
                                    .get("mimetype") == "text/vcard", what="contact card")
            assert content_of(card)["filename"] == "Hugo Example.vcf"
            assert (await download_decrypted(alice, content_of(card)["file"])).decode() \
                == samples.VCARD

            # -- an emote from Alice: the gateway has none, it reads as "* alice waves" --
            await send_event(alice, room, "m.room.message", {"msgtype": "m.emote",
                                                             "body": "waves"})
            emote = await gina_receives()
            assert isinstance(emote, Text) and emote.text.endswith("alice waves")
        finally:
            await alice.close()
