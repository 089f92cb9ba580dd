"""Gateway → Matrix: ToMatrixFlow without a homeserver, on both database engines.

The portal and the partner client are recording doubles (tests/chats/flow_doubles.py); the
message map, message requests, hosted media, metrics and the content codec are the real ones.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator
from dataclasses import dataclass

import aiohttp
import pytest
from mautrix.types import EventID, EventType, UserID

from bridge.chats.media import HostedMedia
from bridge.chats.message_ids import MessageIds
from bridge.chats.requests import MessageRequest, MessageRequests, RequestState
from bridge.chats.to_matrix import ToMatrixFlow, matrix_txn_id
from bridge.content import ChatId, MessageKey, Reaction, Revoke, Text, encode_content
from bridge.gateway.ids import Address, InternalId, StanzaId
from bridge.mapping import unreadable_notice
from bridge.matrix.portals import BRIDGED_FROM, SendAs
from bridge.metrics import BridgeMetrics
from bridge.partner.events import InboundMessage
from bridge.storage import Database, open_database

from .flow_doubles import (
    GINA,
    HUGO,
    USER,
    USER_ID,
    InMemoryMatrixMedia,
    InMemoryPortals,
    RecordingClient,
    RecordingNotifier,
    SentReceipt,
    messages_counted,
)


@pytest.fixture
async def db(db_url) -> AsyncIterator[Database]:
    db = await open_database(db_url)
    try:
        yield db
    finally:
        await db.stop()


@dataclass
class ToMatrix:
    flow: ToMatrixFlow
    portals: InMemoryPortals
    message_ids: MessageIds
    requests: MessageRequests | None
    notices: RecordingNotifier
    media: InMemoryMatrixMedia
    metrics: BridgeMetrics
    client: RecordingClient


@pytest.fixture
async def gateway_http() -> AsyncIterator[aiohttp.ClientSession]:
    # Hosted media is only asked for a user's view here; nothing is downloaded.
    async with aiohttp.ClientSession() as session:
        yield session


def build(db: Database, http: aiohttp.ClientSession, requests: MessageRequests | None
          ) -> ToMatrix:
    portals = InMemoryPortals(db)
    message_ids = MessageIds(db, portals.messages)
    notices, media, metrics = RecordingNotifier(), InMemoryMatrixMedia(), BridgeMetrics()
    flow = ToMatrixFlow(
        portals=portals, puppets=portals.puppets, message_ids=message_ids, matrix_media=media,
        hosted_media=HostedMedia(db, http, gateway_base="http://gateway.invalid",
                                 integrator_id="1"),
        requests=requests, notices=notices, metrics=metrics)
    return ToMatrix(flow, portals, message_ids, requests, notices, media, metrics,
                    RecordingClient())


@pytest.fixture
def to_matrix(db, gateway_http) -> ToMatrix:
    return build(db, gateway_http, requests=None)


@pytest.fixture
def with_requests(db, gateway_http) -> ToMatrix:
    return build(db, gateway_http, MessageRequests(db))


def text_from(sender: InternalId, stanza_id: str, text: str, *, username: str | None = "gina",
              may_be_bridged: bool = False) -> InboundMessage:
    return InboundMessage(stanza_id, Address(sender), encode_content(Text(text=text)),
                           1764000000123, username, may_be_bridged=may_be_bridged)


async def test_a_text_becomes_one_event_marked_with_where_it_came_from(to_matrix):
    assert await to_matrix.flow.deliver(to_matrix.client, text_from(GINA, "S1", "hello"))

    portal = to_matrix.portals.rooms[(USER, GINA)]
    assert to_matrix.portals.usernames_asked == ["gina"]
    [sent] = portal.events
    assert sent.event_type == EventType.ROOM_MESSAGE
    assert (sent.content["msgtype"], sent.content["body"]) == ("m.text", "hello")
    assert sent.content[BRIDGED_FROM] == {"sender": GINA, "stanza_id": "S1", "part": 0}
    # The transaction id is a pure function of (sender, stanza, part): a later attempt, in this
    # process or the next, gets the event the homeserver already made.
    expected = "interop.in." + hashlib.sha256(f"{GINA}\nS1\n0".encode()).hexdigest()[:32]
    assert sent.txn_id == matrix_txn_id(GINA, StanzaId("S1"), 0) == expected
    assert matrix_txn_id(GINA, StanzaId("S2"), 0) != expected
    assert matrix_txn_id(HUGO, StanzaId("S1"), 0) != expected
    mapped = await to_matrix.message_ids.message_by_stanza(portal.room_id, GINA, StanzaId("S1"))
    assert mapped is not None
    assert (mapped.event_id, mapped.from_matrix, mapped.timestamp) == (
        sent.event_id, False, 1764000000123)
    assert portal.parts_asked == []  # a first delivery does not search the room
    assert to_matrix.media.limit_refreshes == 1
    assert messages_counted(to_matrix.metrics, "to_matrix", "text", "bridged") == 1


async def test_a_delivery_receipt_goes_back_only_after_the_event_is_bridged(to_matrix):
    seen_at_receipt = []

    async def check_bridged(receipt: SentReceipt) -> None:
        portal = to_matrix.portals.rooms[(USER, GINA)]
        mapped = await to_matrix.message_ids.message_by_stanza(
            portal.room_id, GINA, StanzaId(receipt.stanza_id))
        seen_at_receipt.append((len(portal.events), mapped is not None))

    to_matrix.client.on_receipt = check_bridged
    await to_matrix.flow.deliver(to_matrix.client, text_from(GINA, "S1", "hello"))

    assert to_matrix.client.receipts == [SentReceipt("S1", Address(GINA), read=False)]
    assert seen_at_receipt == [(1, True)]


async def test_the_same_stanza_twice_is_bridged_once(to_matrix):
    message = text_from(GINA, "S1", "hello")
    assert await to_matrix.flow.deliver(to_matrix.client, message)
    # Handed on again (a redelivery, or a restart before the delivered mark).
    assert await to_matrix.flow.deliver(to_matrix.client, message)
    assert await to_matrix.flow.deliver(to_matrix.client, text_from(GINA, "S1", "hello",
                                                                  may_be_bridged=True))

    portal = to_matrix.portals.rooms[(USER, GINA)]
    assert len(portal.events) == 1
    assert portal.parts_asked == []  # the message map answered before the room was searched
    assert [r.stanza_id for r in to_matrix.client.receipts] == ["S1"]
    assert messages_counted(to_matrix.metrics, "to_matrix", "text", "bridged") == 1


async def test_parts_already_in_the_room_are_not_sent_again(to_matrix):
    # A crash came between the homeserver taking the event and the message map recording it,
    # long enough ago that the homeserver forgot the transaction id.
    portal = await to_matrix.portals.open(USER, GINA, "gina")
    portal.already_in_room = {0: EventID("$sent-before-the-crash:example.org")}

    assert await to_matrix.flow.deliver(to_matrix.client,
                                       text_from(GINA, "S1", "hello", may_be_bridged=True))

    assert portal.events == []
    assert portal.parts_asked == [(GINA, "S1")]
    mapped = await to_matrix.message_ids.message_by_stanza(portal.room_id, GINA, StanzaId("S1"))
    assert mapped is not None and mapped.event_id == "$sent-before-the-crash:example.org"
    assert [r.stanza_id for r in to_matrix.client.receipts] == ["S1"]


async def test_an_undecodable_plaintext_gives_the_unreadable_notice(to_matrix):
    garbage = InboundMessage("S9", Address(GINA), b"not a padded protobuf", None, "gina")
    assert await to_matrix.flow.deliver(to_matrix.client, garbage)

    portal = to_matrix.portals.rooms[(USER, GINA)]
    assert portal.events == []
    [notice] = portal.notices
    assert notice.text == unreadable_notice().text == "A message could not be read."
    assert (notice.sender, notice.txn_id) == (SendAs.GHOST,
                                              matrix_txn_id(GINA, StanzaId("S9"), 0))
    assert [r.stanza_id for r in to_matrix.client.receipts] == ["S9"]
    assert messages_counted(to_matrix.metrics, "to_matrix", "unreadable", "bridged") == 1
    assert to_matrix.media.limit_refreshes == 0  # nothing to map, so no media to size


async def test_a_restarted_hand_on_keeps_the_name_already_known(to_matrix):
    await to_matrix.portals.open(USER, GINA, "gina")
    await to_matrix.flow.deliver(to_matrix.client, text_from(GINA, "S1", "hi", username=None))
    await to_matrix.flow.deliver(to_matrix.client, text_from(HUGO, "S2", "hi", username=None))
    # Gina's ghost keeps her name; for Hugo there is none yet but his id.
    assert to_matrix.portals.usernames_asked == ["gina", HUGO]


async def test_a_revoke_redacts_the_bridged_event_as_the_ghost(to_matrix):
    await to_matrix.flow.deliver(to_matrix.client, text_from(GINA, "S1", "oops"))
    portal = to_matrix.portals.rooms[(USER, GINA)]
    [original] = portal.events
    revoke = Revoke(target=MessageKey(chat_id=ChatId(USER_ID), id=StanzaId("S1"), from_me=True))

    await to_matrix.flow.deliver(to_matrix.client, InboundMessage(
        "S2", Address(GINA), encode_content(revoke), None, "gina"))

    assert portal.ghost.intent.redactions == [(portal.room_id, original.event_id,
                                               "Deleted by the sender")]
    assert len(portal.events) == 1
    assert messages_counted(to_matrix.metrics, "to_matrix", "revoke", "bridged") == 1


async def test_a_reaction_is_recorded_as_a_reaction_not_as_a_message(to_matrix):
    portal = await to_matrix.portals.open(USER, GINA, "gina")
    mine = await portal.record_message(event_id=EventID("$mine:example.org"),
                                       stanza_id=StanzaId("M1"), sender=USER_ID,
                                       from_matrix=True)
    reaction = Reaction(target=MessageKey(chat_id=ChatId(USER_ID), id=mine.stanza_id),
                        text="👍")

    await to_matrix.flow.deliver(to_matrix.client, InboundMessage(
        "R1", Address(GINA), encode_content(reaction), None, "gina"))

    [sent] = portal.events
    assert sent.event_type == EventType.REACTION
    assert sent.content["m.relates_to"] == {"rel_type": "m.annotation",
                                            "event_id": "$mine:example.org", "key": "👍"}
    recorded = await to_matrix.message_ids.reaction_by_event(sent.event_id)
    assert recorded is not None and (recorded.sender, recorded.key) == (GINA, "👍")
    assert await to_matrix.message_ids.message_by_stanza(portal.room_id, GINA,
                                                        StanzaId("R1")) is None


async def test_a_withdrawn_reaction_is_redacted_and_forgotten(to_matrix):
    portal = await to_matrix.portals.open(USER, GINA, "gina")
    await portal.record_message(event_id=EventID("$mine:example.org"),
                                stanza_id=StanzaId("M1"), sender=USER_ID, from_matrix=True)
    target = MessageKey(chat_id=ChatId(USER_ID), id=StanzaId("M1"))
    for stanza_id, emoji in (("R1", "👍"), ("R2", "")):  # the empty reaction takes it back
        await to_matrix.flow.deliver(to_matrix.client, InboundMessage(
            stanza_id, Address(GINA), encode_content(Reaction(target=target, text=emoji)),
            None, "gina"))

    [reaction] = portal.events
    assert portal.ghost.intent.redactions == [(portal.room_id, reaction.event_id, None)]
    assert await to_matrix.message_ids.reaction_by_event(reaction.event_id) is None


async def test_a_mention_of_a_known_contact_points_at_their_ghost(to_matrix):
    hugo = to_matrix.portals.puppets.add(HUGO, "hugo")
    text = Text(text="ask @hugo", mentions=(HUGO,))  # written as the contact sees him

    await to_matrix.flow.deliver(to_matrix.client, InboundMessage(
        "S1", Address(GINA), encode_content(text), None, "gina"))

    [sent] = to_matrix.portals.rooms[(USER, GINA)].events
    assert sent.content["m.mentions"] == {"user_ids": [hugo.mxid]}


# --- message requests ----------------------------------------------------------------------------


async def test_a_first_message_from_a_stranger_is_held_and_the_user_told_once(with_requests):
    flow, client = with_requests.flow, with_requests.client
    assert await flow.deliver(client, text_from(GINA, "S1", "hello there")) is False
    assert await flow.deliver(client, text_from(GINA, "S2", "are you there?")) is False

    assert with_requests.portals.rooms == {}  # no room until the user accepts
    assert client.receipts == []
    [(user, notice)] = with_requests.notices.notified
    assert user == USER
    assert "**gina** wants to chat with you" in notice
    assert "“hello there”" in notice and "accept gina" in notice and "block gina" in notice
    request = await with_requests.requests.get(USER, GINA)
    assert request is not None and request.state is RequestState.PENDING
    assert messages_counted(with_requests.metrics, "to_matrix", "text", "bridged") == 0


class LookingTogether(MessageRequests):
    """The real store, except that no lookup answers before ``callers`` have looked: as when
    two hand-ons of a stranger's messages overlap."""

    def __init__(self, db: Database, callers: int) -> None:
        super().__init__(db)
        self.callers = callers
        self.all_looked = asyncio.Event()

    async def get(self, user_id: UserID, contact_id: str) -> MessageRequest | None:
        found = await super().get(user_id, contact_id)
        self.callers -= 1
        if self.callers == 0:
            self.all_looked.set()
        await asyncio.wait_for(self.all_looked.wait(), timeout=30)
        return found


async def test_two_first_messages_at_once_tell_the_user_once(db, gateway_http):
    # Both find no request; the store lets only one of them open it, and only that one tells.
    setup = build(db, gateway_http, LookingTogether(db, callers=2))
    held = await asyncio.gather(
        setup.flow.deliver(setup.client, text_from(GINA, "S1", "hello")),
        setup.flow.deliver(setup.client, text_from(GINA, "S2", "hello?")))
    assert held == [False, False]
    assert len(setup.notices.notified) == 1


async def test_an_accepted_request_is_bridged_and_a_blocked_one_dropped(with_requests):
    flow, client, requests = with_requests.flow, with_requests.client, with_requests.requests
    for contact, username, state in ((GINA, "gina", RequestState.ACCEPTED),
                                     (HUGO, "hugo", RequestState.BLOCKED)):
        await requests.open(USER, contact, username)
        await requests.settle(USER, contact, state)

    assert await flow.deliver(client, text_from(GINA, "S1", "hello"))
    # True: handled for good (nothing is kept for a blocked sender), though nothing is shown.
    assert await flow.deliver(client, text_from(HUGO, "S2", "hello", username="hugo"))

    assert list(with_requests.portals.rooms) == [(USER, GINA)]
    assert len(with_requests.portals.rooms[(USER, GINA)].events) == 1
    assert [r.stanza_id for r in client.receipts] == ["S1"]
    assert with_requests.notices.notified == []


async def test_a_contact_with_a_portal_needs_no_request(with_requests):
    portal = await with_requests.portals.open(USER, GINA, "gina")
    assert await with_requests.flow.deliver(with_requests.client,
                                            text_from(GINA, "S1", "hello"))
    assert len(portal.events) == 1
    assert with_requests.notices.notified == []
    assert await with_requests.requests.get(USER, GINA) is None
