"""Reactions, edits and deletions both ways, resolved through an in-memory MessageIds."""

from __future__ import annotations

import pytest
from mautrix.types import EventType

from bridge.content import decode_content, encode_content
from bridge.content.models import (
    ChatId,
    Edit,
    Image,
    MediaKind,
    MessageKey,
    Reaction,
    Revoke,
    Text,
)
from bridge.mapping import Notice, Redact, SendEvent, Unmappable

from . import events, samples
from .fakes import PEER_ID, USER_ID, USER_MXID, portal
from .media_helpers import gateway_ref, matrix_source, read_hosted, read_matrix_file

PEER_CHAT = ChatId(PEER_ID)
# In a 1:1 chat the sender names the chat by its peer: our user.
SENDER_VIEW_CHAT = ChatId(USER_ID)


# --- Matrix → gateway -------------------------------------------------------------


async def test_reaction_to_gateway(to_gateway, message_ids) -> None:
    message_ids.add_message("$theirs", "T1", PEER_ID)
    message_ids.add_message("$mine", "M1", USER_ID)
    result = await to_gateway.map_event(events.reaction("$theirs", "👍"), portal())
    assert result.content == Reaction(
        target=MessageKey(chat_id=PEER_CHAT, id="T1", from_me=False),
        text="👍", timestamp_ms=1_700_000_000_000,
    )
    own = await to_gateway.map_event(events.reaction("$mine", "❤️"), portal())
    assert own.content.target == MessageKey(chat_id=PEER_CHAT, id="M1", from_me=True)
    group = await to_gateway.map_event(events.reaction("$theirs", "👍"),
                                       portal(is_group=True))
    assert group.content.target.participant == PEER_ID


@pytest.mark.parametrize("key, reason", [
    ("", "empty reaction"), ("this is a whole sentence, not an emoji", "single emoji"),
])
async def test_odd_reactions_are_unmappable(to_gateway, message_ids, key, reason) -> None:
    message_ids.add_message("$theirs", "T1", PEER_ID)
    with pytest.raises(Unmappable, match=reason):
        await to_gateway.map_event(events.reaction("$theirs", key), portal())


async def test_reaction_to_an_unknown_message_is_unmappable(to_gateway) -> None:
    with pytest.raises(Unmappable, match="not on the other side"):
        await to_gateway.map_event(events.reaction("$unknown", "👍"), portal())


async def test_redactions_to_gateway(to_gateway, message_ids) -> None:
    theirs = message_ids.add_message("$theirs", "T1", PEER_ID)
    message_ids.add_message("$mine", "M1", USER_ID)
    message_ids.add_reaction("$my_reaction", theirs, USER_ID, "👍")
    message_ids.add_reaction("$their_reaction", theirs, PEER_ID, "😂")

    revoke = await to_gateway.map_event(events.redaction("$my_reaction"), portal())
    assert revoke.content == Reaction(
        target=MessageKey(chat_id=PEER_CHAT, id="T1"), text="",
        timestamp_ms=1_700_000_000_000)
    assert revoke.content.is_revoke
    deleted = await to_gateway.map_event(events.redaction("$mine"), portal())
    assert deleted.content == Revoke(target=MessageKey(chat_id=PEER_CHAT, id="M1", from_me=True))

    with pytest.raises(Unmappable, match="only your own messages can be deleted"):
        await to_gateway.map_event(events.redaction("$theirs"), portal())
    with pytest.raises(Unmappable, match="only your own reactions"):
        await to_gateway.map_event(events.redaction("$their_reaction"), portal())
    with pytest.raises(Unmappable, match="never delivered"):
        await to_gateway.map_event(events.redaction("$unknown"), portal())


async def test_redaction_in_new_room_versions_reads_redacts_from_the_content(
    to_gateway, message_ids
) -> None:
    from mautrix.types import RedactionEvent, RedactionEventContent

    message_ids.add_message("$mine", "M1", USER_ID)
    # mautrix 0.21 cannot parse a room v11+ redaction (no top-level `redacts`); built by
    # hand with an empty top-level field, the content's `redacts` is used.
    evt = RedactionEvent(
        type=EventType.ROOM_REDACTION, room_id="!portal:example.org", event_id="$r",
        sender=USER_MXID, timestamp=1, redacts="",
        content=RedactionEventContent.deserialize({"redacts": "$mine"}),
    )
    result = await to_gateway.map_event(evt, portal())
    assert result.content == Revoke(target=MessageKey(chat_id=PEER_CHAT, id="M1", from_me=True))


async def test_text_edit_to_gateway(to_gateway, message_ids) -> None:
    message_ids.add_message("$mine", "M1", USER_ID)
    evt = events.edit("$mine", {"msgtype": "m.text", "body": "fixed",
                                "format": "org.matrix.custom.html",
                                "formatted_body": "<b>fixed</b>"})
    result = await to_gateway.map_event(evt, portal())
    assert result.content == Edit(
        target=MessageKey(chat_id=PEER_CHAT, id="M1", from_me=True),
        new_content=Text(text="*fixed*"), timestamp_ms=1_700_000_000_000,
    )


async def test_caption_edit_to_gateway(to_gateway, message_ids, matrix_media,
                                       gateway_media) -> None:
    message_ids.add_message("$photo", "M2", USER_ID)
    data = samples.png()
    evt = events.edit("$photo", {"msgtype": "m.image", "body": "new caption",
                                 "filename": "p.png", "info": {"mimetype": "image/png"},
                                 **matrix_source(matrix_media, data, True)})
    result = await to_gateway.map_event(evt, portal(encrypted=True))
    assert isinstance(result.content.new_content, Image)
    assert result.content.new_content.caption == "new caption"
    assert read_hosted(gateway_media, MediaKind.IMAGE, result.content.new_content.media) == data


async def test_edits_that_cannot_be_mapped(to_gateway, message_ids, matrix_media) -> None:
    message_ids.add_message("$theirs", "T1", PEER_ID)
    message_ids.add_message("$place", "M3", USER_ID)
    with pytest.raises(Unmappable, match="only your own messages can be edited"):
        await to_gateway.map_event(
            events.edit("$theirs", {"msgtype": "m.text", "body": "x"}), portal())
    with pytest.raises(Unmappable, match="never delivered"):
        await to_gateway.map_event(
            events.edit("$gone", {"msgtype": "m.text", "body": "x"}), portal())
    with pytest.raises(Unmappable, match="cannot be edited"):
        await to_gateway.map_event(events.edit("$place", {
            "msgtype": "m.location", "body": "here", "geo_uri": "geo:1,2"}), portal())
    with pytest.raises(Unmappable, match="cannot be edited"):
        await to_gateway.map_event(events.edit("$place", {
            "msgtype": "m.audio", "body": "a.ogg", "url": matrix_media.put(b"x")}), portal())


# --- gateway → Matrix -------------------------------------------------------------


async def test_reaction_to_matrix(to_matrix, message_ids) -> None:
    mine = message_ids.add_message("$mine", "M1", USER_ID)
    reaction = Reaction(target=MessageKey(chat_id=SENDER_VIEW_CHAT, id="M1"), text="👍")
    actions = await to_matrix.map_content(decode_content(encode_content(reaction)), PEER_ID,
                                          "R1", portal())
    assert actions == [SendEvent(event_type=EventType.REACTION, content={
        "m.relates_to": {"rel_type": "m.annotation", "event_id": "$mine", "key": "👍"}})]

    message_ids.add_reaction("$their_reaction", mine, PEER_ID, "👍")
    # The same reaction again changes nothing; another one replaces it.
    assert await to_matrix.map_content(reaction, PEER_ID, "R2", portal()) == []
    changed = Reaction(target=reaction.target, text="😮")
    redact, send = await to_matrix.map_content(changed, PEER_ID, "R3", portal())
    assert redact == Redact(event_id="$their_reaction")
    assert send.content["m.relates_to"]["key"] == "😮"
    # An empty text revokes the earlier reaction: its redaction.
    revoke = Reaction(target=reaction.target, text="")
    assert await to_matrix.map_content(revoke, PEER_ID, "R4", portal()) == [
        Redact(event_id="$their_reaction")]


async def test_reaction_to_the_senders_own_message(to_matrix, message_ids) -> None:
    message_ids.add_message("$theirs", "T1", PEER_ID)
    own = Reaction(target=MessageKey(chat_id=SENDER_VIEW_CHAT, id="T1", from_me=True), text="x")
    [action] = await to_matrix.map_content(own, PEER_ID, "R1", portal())
    assert action.content["m.relates_to"]["event_id"] == "$theirs"


async def test_relations_to_unknown_messages_become_notices(to_matrix) -> None:
    key = MessageKey(chat_id=SENDER_VIEW_CHAT, id="NOPE", from_me=True)
    cases = [
        (Reaction(target=key, text="👍"), "A reaction to a message"),
        (Edit(target=key, new_content=Text(text="x")), "An edit of a message"),
        (Revoke(target=key), "A deletion of a message"),
    ]
    for content, start in cases:
        [action] = await to_matrix.map_content(content, PEER_ID, "X", portal())
        assert isinstance(action, Notice) and action.text.startswith(start)
        assert "not in this room" in action.text


async def test_edit_to_matrix(to_matrix, message_ids) -> None:
    message_ids.add_message("$theirs", "T1", PEER_ID)
    edit = Edit(target=MessageKey(chat_id=SENDER_VIEW_CHAT, id="T1", from_me=True),
                new_content=Text(text="*now* @alice", mentions=(PEER_ID,)))
    [action] = await to_matrix.map_content(decode_content(encode_content(edit)), PEER_ID,
                                           "E1", portal())
    content = action.content
    assert content["m.relates_to"] == {"rel_type": "m.replace", "event_id": "$theirs"}
    assert content["body"] == "* *now* Alice Liddell"
    assert content["formatted_body"].startswith("* <strong>now</strong>")
    assert content["m.new_content"]["body"] == "*now* Alice Liddell"
    assert content["m.new_content"]["m.mentions"] == {"user_ids": ["@wa_1-100:example.org"]}
    assert content["m.mentions"] == {}


async def test_edit_of_someone_elses_message_is_refused(to_matrix, message_ids) -> None:
    message_ids.add_message("$mine", "M1", USER_ID)
    # A peer cannot edit our user's message, whatever the key claims.
    edit = Edit(target=MessageKey(chat_id=SENDER_VIEW_CHAT, id="M1", participant=USER_ID),
                new_content=Text(text="hijacked"))
    [action] = await to_matrix.map_content(edit, PEER_ID, "E1", portal())
    assert isinstance(action, Notice)


async def test_caption_edit_to_matrix(to_matrix, message_ids, matrix_media,
                                      gateway_media) -> None:
    message_ids.add_message("$photo", "T2", PEER_ID)
    data = samples.png()
    image = Image(media=gateway_ref(gateway_media, MediaKind.IMAGE, data, "image/png"),
                  caption="new caption")
    edit = Edit(target=MessageKey(chat_id=SENDER_VIEW_CHAT, id="T2", from_me=True),
                new_content=image)
    [action] = await to_matrix.map_content(edit, PEER_ID, "E2", portal(encrypted=True))
    new = action.content["m.new_content"]
    assert new["msgtype"] == "m.image" and new["body"] == "new caption"
    assert read_matrix_file(matrix_media, new) == data


async def test_revoke_to_matrix(to_matrix, message_ids) -> None:
    message_ids.add_message("$theirs", "T1", PEER_ID)
    message_ids.add_message("$mine", "M1", USER_ID)
    revoke = Revoke(target=MessageKey(chat_id=SENDER_VIEW_CHAT, id="T1", from_me=True))
    assert await to_matrix.map_content(decode_content(encode_content(revoke)), PEER_ID, "V1",
                                       portal()) == [
        Redact(event_id="$theirs", reason="Deleted by the sender")]
    # In a 1:1 chat a peer cannot delete our user's message for everyone.
    not_theirs = Revoke(target=MessageKey(chat_id=SENDER_VIEW_CHAT, id="M1"))
    [action] = await to_matrix.map_content(not_theirs, PEER_ID, "V2", portal())
    assert isinstance(action, Notice)


async def test_reaction_round_trip(to_gateway, to_matrix, message_ids) -> None:
    """A reaction sent from one portal reaches the right message in the mirrored portal
    (as if the peer were bridged too): `from_me` is relative to the reaction's author."""
    message_ids.add_message("$theirs", "T1", PEER_ID)
    sent = (await to_gateway.map_event(events.reaction("$theirs", "🎉"), portal())).content
    mirrored = portal(chat_id=SENDER_VIEW_CHAT, user_internal_id=PEER_ID)
    [action] = await to_matrix.map_content(
        decode_content(encode_content(sent)), USER_ID, "R", mirrored)
    assert action.content["m.relates_to"] == {
        "rel_type": "m.annotation", "event_id": "$theirs", "key": "🎉"}


async def test_group_targets_name_their_author(to_gateway, to_matrix, message_ids) -> None:
    group = portal(is_group=True, chat_id=ChatId("g-42@interop"))
    other = "1-300@interop"  # a third member
    message_ids.add_message("$by_other", "O1", other)
    message_ids.add_message("$mine", "M1", USER_ID)
    # Matrix → gateway: targets and quotes carry the author.
    reaction = (await to_gateway.map_event(events.reaction("$by_other", "👍"), group)).content
    assert reaction.target == MessageKey(chat_id=ChatId("g-42@interop"), id="O1",
                                         participant=other)
    deleted = (await to_gateway.map_event(events.redaction("$mine"), group)).content
    assert deleted.target.participant == USER_ID and deleted.target.from_me
    # gateway → Matrix: the participant picks the message even when stanza ids collide.
    message_ids.add_message("$peer_same_id", "O1", PEER_ID)
    from_peer = Reaction(target=MessageKey(chat_id=ChatId("g-42@interop"), id="O1",
                                           participant=other), text="🔥")
    [action] = await to_matrix.map_content(from_peer, PEER_ID, "R1", group)
    assert action.content["m.relates_to"]["event_id"] == "$by_other"
    # Without a participant and not from_me, a group target cannot be found.
    anonymous = Reaction(target=MessageKey(chat_id=ChatId("g-42@interop"), id="O1"), text="🔥")
    [action] = await to_matrix.map_content(anonymous, PEER_ID, "R2", group)
    assert isinstance(action, Notice)
    # Group admins may revoke others' messages.
    revoke = Revoke(target=MessageKey(chat_id=ChatId("g-42@interop"), id="O1",
                                      participant=other))
    assert await to_matrix.map_content(revoke, PEER_ID, "V1", group) == [
        Redact(event_id="$by_other", reason="Deleted by a group admin")]


async def test_redacting_a_superseded_reaction_sends_nothing(to_gateway, message_ids) -> None:
    theirs = message_ids.add_message("$theirs", "T1", PEER_ID)
    message_ids.add_reaction("$first", theirs, USER_ID, "👍")
    message_ids.add_reaction("$second", theirs, USER_ID, "❤️")  # replaced 👍 on the gateway
    assert await to_gateway.map_event(events.redaction("$first"), portal()) is None
    revoke = await to_gateway.map_event(events.redaction("$second"), portal())
    assert revoke.content.is_revoke
