"""Locations, contacts, and everything that cannot be mapped: never a silent drop."""

from __future__ import annotations

import pytest
from mautrix.types import EncryptedEvent, EventType

from bridge.content import decode_content, encode_content
from bridge.content.models import (
    ChatId,
    Contact,
    Location,
    ReplyTo,
    SenderKeyDistribution,
)
from bridge.mapping import Notice, SendEvent, Unmappable, unreadable_notice

from . import events
from .fakes import PEER_ID, USER_ID, portal
from .media_helpers import read_matrix_file

VCARD = "BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Bob Builder\r\nTEL:+15550100\r\nEND:VCARD\r\n"


async def test_location_to_gateway(to_gateway) -> None:
    evt = events.event({"msgtype": "m.location", "body": "Big Ben",
                        "geo_uri": "geo:51.5007,-0.1246;u=10"})
    result = await to_gateway.map_event(evt, portal())
    assert result.content == Location(latitude=51.5007, longitude=-0.1246, name="Big Ben")
    # MSC3488: the description wins over a body that only repeats the URI.
    extensible = events.event({
        "msgtype": "m.location", "body": "Location geo:1.5,2.5 at 12:00", "geo_uri": "geo:1.5,2.5",
        "org.matrix.msc3488.location": {"uri": "geo:1.5,2.5", "description": "Café"},
    })
    assert (await to_gateway.map_event(extensible, portal())).content.name == "Café"
    bare = events.event({"msgtype": "m.location", "body": "Location geo:1.5,2.5",
                         "geo_uri": "geo:1.5,2.5"})
    assert (await to_gateway.map_event(bare, portal())).content.name == ""


async def test_unreadable_location_is_unmappable(to_gateway) -> None:
    evt = events.event({"msgtype": "m.location", "body": "x", "geo_uri": "geo:200,0"})
    with pytest.raises(Unmappable, match="location could not be read"):
        await to_gateway.map_event(evt, portal())


async def test_location_to_matrix_and_back(to_gateway, to_matrix, message_ids) -> None:
    message_ids.add_message("$mine", "M1", USER_ID)
    original = Location(latitude=-33.856784, longitude=151.215297, name="Opera House",
                        address="Bennelong Point", reply_to=ReplyTo(stanza_id="M1",
                                                                    participant=USER_ID))
    [action] = await to_matrix.map_content(decode_content(encode_content(original)), PEER_ID,
                                           "L1", portal())
    content = action.content
    assert content["msgtype"] == "m.location"
    assert content["geo_uri"] == "geo:-33.856784,151.215297"
    assert content["body"] == "Opera House\nBennelong Point"
    assert content["org.matrix.msc3488.location"]["uri"] == content["geo_uri"]
    assert content["m.relates_to"] == {"m.in_reply_to": {"event_id": "$mine"}}
    back = (await to_gateway.map_event(events.event(content), portal())).content
    assert (back.latitude, back.longitude) == (original.latitude, original.longitude)
    assert back.reply_to.stanza_id == "M1"


@pytest.mark.parametrize("encrypted", [False, True], ids=["plain", "encrypted"])
async def test_contact_to_matrix_is_a_vcard_file(to_matrix, matrix_media, encrypted) -> None:
    contact = Contact(display_name="Bob/Builder", vcard=VCARD)
    [action] = await to_matrix.map_content(contact, PEER_ID, "C1", portal(encrypted))
    content = action.content
    assert content["msgtype"] == "m.file" and content["body"] == "Bob/Builder"
    assert content["filename"] == "Bob_Builder.vcf"
    assert content["info"]["mimetype"] == "text/vcard"
    assert read_matrix_file(matrix_media, content) == VCARD.encode()


async def test_contact_over_the_upload_limit_is_a_notice(to_matrix, matrix_media) -> None:
    matrix_media.upload_limit = 10
    [action] = await to_matrix.map_content(Contact(display_name="Bob", vcard=VCARD), PEER_ID,
                                           "C1", portal())
    assert isinstance(action, Notice) and "Bob.vcf" in action.text
    assert "too large to bridge" in action.text


@pytest.mark.parametrize("event_type, reason", [
    ("m.poll.start", "polls are not supported"),
    ("org.matrix.msc3381.poll.start", "polls are not supported"),
    ("org.matrix.msc3381.poll.response", "polls are not supported"),
    ("m.beacon_info", "live location is not supported"),
    ("org.matrix.msc3672.beacon", "live location is not supported"),
    ("com.example.game.move", "this kind of message is not supported"),
])
async def test_other_event_types_are_unmappable(to_gateway, event_type, reason) -> None:
    with pytest.raises(Unmappable) as caught:
        await to_gateway.map_event(events.event({"body": "x"}, event_type), portal())
    assert caught.value.reason == reason


@pytest.mark.parametrize("msgtype", ["m.key.verification.request", "m.server_notice",
                                     "com.example.custom"])
async def test_unknown_msgtypes_are_unmappable(to_gateway, msgtype) -> None:
    with pytest.raises(Unmappable, match="this kind of message is not supported"):
        await to_gateway.map_event(events.text("x", msgtype=msgtype), portal())


async def test_undecryptable_event_is_unmappable(to_gateway) -> None:
    evt = events.event({"algorithm": "m.megolm.v1.aes-sha2", "ciphertext": "AAAA",
                        "session_id": "s", "sender_key": "k", "device_id": "D"},
                       "m.room.encrypted")
    assert isinstance(evt, EncryptedEvent)
    with pytest.raises(Unmappable, match="could not decrypt"):
        await to_gateway.map_event(evt, portal())


async def test_sender_keys_show_nothing_and_bad_content_a_notice(to_matrix) -> None:
    distribution = SenderKeyDistribution(group_id=ChatId("g1"), distribution_message=b"\x33x")
    assert await to_matrix.map_content(distribution, PEER_ID, "K1", portal()) == []
    assert unreadable_notice() == Notice(text="A message could not be read.")


async def test_unknown_body_from_a_newer_sender_becomes_a_notice(to_matrix) -> None:
    from bridge.content import content_pb2

    newer = content_pb2.Content()
    newer.ParseFromString(b"\xa2\x01\x02\x08\x01")  # field 20, a body this version lacks
    received = decode_content(newer.SerializeToString() + b"\x01")
    [action] = await to_matrix.map_content(received, PEER_ID, "N1", portal())
    assert isinstance(action, Notice) and "unknown content type" in action.text


async def test_results_are_plain_event_contents(to_matrix) -> None:
    from bridge.content.models import Text

    [action] = await to_matrix.map_content(Text(text="x"), PEER_ID, "T", portal())
    assert action == SendEvent(event_type=EventType.ROOM_MESSAGE,
                               content={"msgtype": "m.text", "body": "x", "m.mentions": {}})


async def test_events_from_anyone_but_the_portal_owner_are_unmappable(to_gateway,
                                                                     message_ids) -> None:
    from bridge.mapping.to_gateway import OTHER_SENDER_REASON

    message_ids.add_message("$mine", "M1", USER_ID)
    for evt in (events.text("hello"), events.redaction("$mine"), events.reaction("$mine", "x")):
        evt.sender = "@someone-else:example.org"
        with pytest.raises(Unmappable) as refused:
            await to_gateway.map_event(evt, portal())
        assert refused.value.reason == OTHER_SENDER_REASON
