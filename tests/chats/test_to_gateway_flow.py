"""Matrix → gateway: ToGatewayFlow without a homeserver, on both database engines.

The portal, the partner clients and the homeserver's media are recording doubles
(tests/chats/flow_doubles.py); the message map, hosted media, partner accounts, metrics, the
mapping and the content codec are the real ones.
"""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest
from mautrix.types import Event, EventID, UserID

from bridge.chats.contact_signals import held_message_notice
from bridge.chats.media import HostedMedia
from bridge.chats.message_ids import MessageIds
from bridge.chats.to_gateway import ToGatewayFlow, stanza_id_for
from bridge.content import Reaction, Text, decode_content
from bridge.gateway.errors import ErrorCode, ErrorInfo
from bridge.gateway.ids import Address, StanzaId
from bridge.matrix.send_status import SendFailure
from bridge.metrics import BridgeMetrics
from bridge.partner.client import BundleUnavailable
from bridge.partner.events import SendAcknowledged
from bridge.storage import Database, open_database

from .flow_doubles import (
    GINA,
    USER,
    USER_ID,
    InMemoryClients,
    InMemoryMatrixMedia,
    InMemoryPortals,
    RecordingClient,
    RecordingPortal,
    SentStanza,
    Status,
    messages_counted,
)

MALLORY = UserID("@mallory:example.org")
_event_numbers = itertools.count(1)


@pytest.fixture
async def db(db_url) -> AsyncIterator[Database]:
    db = await open_database(db_url)
    try:
        yield db
    finally:
        await db.stop()


@dataclass
class ToGateway:
    flow: ToGatewayFlow
    portal: RecordingPortal
    client: RecordingClient
    clients: InMemoryClients
    message_ids: MessageIds
    hosted: HostedMedia
    media: InMemoryMatrixMedia
    metrics: BridgeMetrics
    permissions: dict[str, str]

    def hosted_for(self, stanza_id: str) -> Any:
        return self.hosted.db.fetchval(
            "SELECT COUNT(*) FROM hosted_media WHERE user_id=$1 AND message_id=$2", USER,
            stanza_id)


@pytest.fixture
async def to_gateway(db) -> AsyncIterator[ToGateway]:
    portals = InMemoryPortals(db)
    portal = await portals.open(USER, GINA, "gina")
    clients = InMemoryClients(db)
    client = clients.clients[USER] = RecordingClient()
    message_ids = MessageIds(db, portals.messages)
    media, metrics = InMemoryMatrixMedia(), BridgeMetrics()
    permissions = {"example.org": "user"}
    # Hosted media only stores and withdraws blobs here; nothing is fetched from the gateway.
    async with aiohttp.ClientSession() as http:
        hosted = HostedMedia(db, http, gateway_base="http://gateway.invalid", integrator_id="1")
        flow = ToGatewayFlow(partners=clients, message_ids=message_ids, matrix_media=media,
                            hosted_media=hosted, portals=portals, permissions=permissions,
                            metrics=metrics, command_prefix="!interop")
        yield ToGateway(flow, portal, client, clients, message_ids, hosted, media, metrics,
                       permissions)


def event(portal: RecordingPortal, content: dict[str, Any], event_type: str = "m.room.message",
          sender: UserID = USER) -> Any:
    return Event.deserialize({
        "type": event_type, "event_id": f"$out{next(_event_numbers)}:example.org",
        "sender": sender, "room_id": portal.room_id, "origin_server_ts": 1764000000000,
        "content": content})


def text(portal: RecordingPortal, body: str, sender: UserID = USER) -> Any:
    return event(portal, {"msgtype": "m.text", "body": body}, sender=sender)


def file(to_gateway: ToGateway, data: bytes, size: int | None = None) -> Any:
    uri = to_gateway.media.put(data)
    return event(to_gateway.portal, {
        "msgtype": "m.file", "body": "notes.txt", "filename": "notes.txt", "url": uri,
        "info": {"mimetype": "text/plain", "size": len(data) if size is None else size}})


async def test_the_owners_text_is_encoded_and_sent_under_a_stanza_id_from_its_event(to_gateway):
    hello = text(to_gateway.portal, "hello")
    await to_gateway.flow.handle(to_gateway.portal, hello)

    stanza_id = stanza_id_for(hello.event_id)
    expected = "M" + hashlib.sha256(hello.event_id.encode()).hexdigest()[:24].upper()
    assert stanza_id == expected
    [sent] = to_gateway.client.sent
    assert (sent.local_id, sent.recipient) == (stanza_id, Address(GINA))
    assert decode_content(sent.plaintext) == Text(text="hello")
    # Pending until the gateway acknowledges it (report()).
    assert to_gateway.portal.status.posted == [Status("pending", hello.event_id)]
    own = await to_gateway.message_ids.own_message(USER_ID, stanza_id)
    assert own is not None and (own.room_id, own.event_id) == (to_gateway.portal.room_id,
                                                               hello.event_id)
    mapped = await to_gateway.message_ids.message_by_event(hello.event_id)
    assert mapped is not None and mapped.from_matrix and mapped.sender == USER_ID


async def test_the_same_event_again_sends_the_same_stanza(to_gateway):
    hello = text(to_gateway.portal, "hello")
    await to_gateway.flow.handle(to_gateway.portal, hello)
    # Handled again after a crash: the map knows it already, the gateway de-duplicates.
    await to_gateway.flow.handle(to_gateway.portal, hello)
    assert [s.local_id for s in to_gateway.client.sent] == [stanza_id_for(hello.event_id)] * 2


async def test_events_from_others_than_the_owner_are_ignored(to_gateway):
    await to_gateway.flow.handle(to_gateway.portal, text(to_gateway.portal, "hi", sender=MALLORY))
    await to_gateway.flow.undecryptable(to_gateway.portal,
                                      text(to_gateway.portal, "?", sender=MALLORY))
    assert to_gateway.client.sent == []
    assert to_gateway.portal.status.posted == []
    assert to_gateway.portal.notices == []


async def test_an_unmappable_event_gets_a_failure_status_not_silence(to_gateway):
    poll = event(to_gateway.portal, {"body": "Lunch?"}, "org.matrix.msc3381.poll.start")
    await to_gateway.flow.handle(to_gateway.portal, poll)

    assert to_gateway.client.sent == []
    assert to_gateway.portal.status.posted == [
        Status("failure", poll.event_id, SendFailure.UNSUPPORTED, "polls are not supported")]
    assert messages_counted(to_gateway.metrics, "to_gateway", "GenericEvent", "unmappable") == 1


async def test_a_file_over_the_limit_fails_as_too_large_before_it_is_fetched(to_gateway):
    big = file(to_gateway, b"a small stand-in", size=200 * 1024 * 1024)
    await to_gateway.flow.handle(to_gateway.portal, big)

    assert to_gateway.client.sent == []
    [status] = to_gateway.portal.status.posted
    assert (status.kind, status.failure) == ("failure", SendFailure.TOO_LARGE)
    assert status.text is not None and "too large" in status.text
    assert await to_gateway.hosted_for(stanza_id_for(big.event_id)) == 0


async def test_an_undecryptable_event_of_the_owner_gets_its_failure(to_gateway):
    hidden = text(to_gateway.portal, "?")
    await to_gateway.flow.undecryptable(to_gateway.portal, hidden)
    assert to_gateway.portal.status.posted == [
        Status("failure", hidden.event_id, SendFailure.UNDECRYPTABLE)]
    assert messages_counted(to_gateway.metrics, "to_gateway", "MessageEvent", "undecryptable") == 1


async def test_a_held_send_tells_the_owner_what_to_do(to_gateway):
    to_gateway.client.answer = False  # stored, waiting for Gina's new key to be confirmed
    hello = text(to_gateway.portal, "hello")
    await to_gateway.flow.handle(to_gateway.portal, hello)

    notice = held_message_notice("gina", "!interop")
    assert "!interop trust" in notice
    assert to_gateway.portal.status.posted == [Status("pending", hello.event_id),
                                             Status("waiting", hello.event_id, text=notice)]
    assert messages_counted(to_gateway.metrics, "to_gateway", "MessageEvent", "held") == 1


@pytest.mark.parametrize(("error", "failure", "final"), [
    (ErrorInfo(ErrorCode.NOT_OPTED_IN), SendFailure.NOT_OPTED_IN, True),
    (ErrorInfo(ErrorCode.UNKNOWN_USER), SendFailure.NOT_OPTED_IN, True),
    (None, SendFailure.GATEWAY_UNREACHABLE, False),
])
async def test_no_bundle_for_the_contact(to_gateway, error, failure, final):
    to_gateway.client.answer = BundleUnavailable(Address(GINA), error)
    document = file(to_gateway, b"meeting notes")
    await to_gateway.flow.handle(to_gateway.portal, document)

    stanza_id = stanza_id_for(document.event_id)
    assert to_gateway.portal.status.last == Status("failure", document.event_id, failure)
    # Final: out of the outbox and its media withdrawn; otherwise it is sent once it can be.
    assert to_gateway.client.outbox.refused == ([stanza_id] if final else [])
    assert await to_gateway.hosted_for(stanza_id) == (0 if final else 1)


@pytest.mark.parametrize(("setup", "failure"), [
    ("permission withdrawn", SendFailure.SENDER_NOT_ALLOWED),
    ("opted out", SendFailure.SENDER_OPTED_OUT),
    ("connection down", SendFailure.GATEWAY_UNREACHABLE),
    ("contact blocked", SendFailure.BLOCKED),
])
async def test_what_stops_a_message_before_it_is_mapped(to_gateway, setup, failure):
    if setup == "permission withdrawn":
        to_gateway.permissions.clear()
    elif setup in ("opted out", "connection down"):
        del to_gateway.clients.clients[USER]
        if setup == "connection down":
            accounts = to_gateway.clients.accounts
            await accounts.record_disclosure(USER)
            await accounts.activate(accounts.db, USER, user_visible_id="alice",
                                    internal_id=USER_ID, sealed_noise_key=b"k")
    else:
        to_gateway.portal.record.blocked = True
    hello = text(to_gateway.portal, "hello")
    await to_gateway.flow.handle(to_gateway.portal, hello)

    assert to_gateway.portal.status.posted == [Status("failure", hello.event_id, failure)]
    assert to_gateway.client.sent == []


async def test_an_ack_marks_the_message_sent(to_gateway):
    hello = text(to_gateway.portal, "hello")
    await to_gateway.flow.handle(to_gateway.portal, hello)
    await to_gateway.flow.report(to_gateway.client,
                               SendAcknowledged(stanza_id_for(hello.event_id), None))

    assert to_gateway.portal.status.last == Status("success", hello.event_id)
    assert messages_counted(to_gateway.metrics, "to_gateway", "message", "sent") == 1
    assert messages_counted(to_gateway.metrics, "to_gateway", "message", "refused") == 0


@pytest.mark.parametrize(("code", "failure"), [
    (ErrorCode.NOT_OPTED_IN, SendFailure.NOT_OPTED_IN),
    (ErrorCode.UNKNOWN_USER, SendFailure.NOT_OPTED_IN),
    (ErrorCode.BLOCKED, SendFailure.BLOCKED),
    (ErrorCode.TOO_LARGE, SendFailure.TOO_LARGE),
    (ErrorCode.BAD_REQUEST, SendFailure.GATEWAY_UNREACHABLE),
])
async def test_a_refusal_shows_its_reason_and_withdraws_the_hosted_media(to_gateway, code,
                                                                          failure):
    document = file(to_gateway, b"meeting notes")
    await to_gateway.flow.handle(to_gateway.portal, document)
    stanza_id = stanza_id_for(document.event_id)
    [sent] = to_gateway.client.sent
    assert sent == SentStanza(stanza_id, Address(GINA), sent.plaintext)
    assert await to_gateway.hosted_for(stanza_id) == 1  # fetchable until refused

    await to_gateway.flow.report(to_gateway.client,
                               SendAcknowledged(StanzaId(stanza_id), ErrorInfo(code, "")))

    assert to_gateway.portal.status.last == Status("failure", document.event_id, failure,
                                                 str(code))
    assert await to_gateway.hosted_for(stanza_id) == 0
    assert messages_counted(to_gateway.metrics, "to_gateway", "message", "refused") == 1


async def test_a_refusal_names_the_gateways_text_when_it_gives_one(to_gateway):
    hello = text(to_gateway.portal, "hello")
    await to_gateway.flow.handle(to_gateway.portal, hello)
    await to_gateway.flow.report(to_gateway.client, SendAcknowledged(
        stanza_id_for(hello.event_id), ErrorInfo(ErrorCode.BLOCKED, "recipient blocked you")))
    assert to_gateway.portal.status.last.text == "recipient blocked you"


async def test_a_refusal_of_an_unknown_stanza_still_withdraws_its_media(to_gateway):
    await to_gateway.hosted.store(USER, b"sealed blob", "Mforgotten")
    await to_gateway.flow.report(to_gateway.client, SendAcknowledged(
        StanzaId("Mforgotten"), ErrorInfo(ErrorCode.NOT_OPTED_IN)))
    assert await to_gateway.hosted_for("Mforgotten") == 0
    assert to_gateway.portal.status.posted == []


async def test_a_reaction_is_acknowledged_through_its_own_stanza(to_gateway):
    hello = text(to_gateway.portal, "hello")
    await to_gateway.flow.handle(to_gateway.portal, hello)
    thumbs = event(to_gateway.portal, {"m.relates_to": {
        "rel_type": "m.annotation", "event_id": hello.event_id, "key": "👍"}}, "m.reaction")
    await to_gateway.flow.handle(to_gateway.portal, thumbs)

    sent = to_gateway.client.sent[-1]
    assert sent.local_id == stanza_id_for(thumbs.event_id)
    reaction = decode_content(sent.plaintext)
    assert isinstance(reaction, Reaction) and reaction.text == "👍"
    assert reaction.target.id == stanza_id_for(hello.event_id)
    # Reactions have no row in the message map; the reaction table knows it.
    assert await to_gateway.message_ids.message_by_event(thumbs.event_id) is None
    recorded = await to_gateway.message_ids.reaction_by_event(EventID(thumbs.event_id))
    assert recorded is not None and (recorded.sender, recorded.key) == (USER_ID, "👍")

    ack = SendAcknowledged(stanza_id_for(thumbs.event_id), None)
    await to_gateway.flow.report(to_gateway.client, ack)
    assert to_gateway.portal.status.last == Status("success", thumbs.event_id)
    posted = len(to_gateway.portal.status.posted)
    await to_gateway.flow.report(to_gateway.client, ack)  # acked twice: shown once
    assert len(to_gateway.portal.status.posted) == posted


async def test_warnings_of_a_sent_message_become_a_reply_notice(to_gateway):
    # A reply to a message the other side never had goes without its quote, and says so.
    reply = event(to_gateway.portal, {"msgtype": "m.text", "body": "yes", "m.relates_to": {
        "m.in_reply_to": {"event_id": "$never-bridged:example.org"}}})
    await to_gateway.flow.handle(to_gateway.portal, reply)

    assert decode_content(to_gateway.client.sent[0].plaintext) == Text(text="yes")
    [notice] = to_gateway.portal.notices
    assert notice.reply_to == reply.event_id
    assert "without the quote" in notice.text
