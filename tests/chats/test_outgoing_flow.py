"""Matrix → gateway: OutgoingFlow without a homeserver, on both database engines.

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
from bridge.chats.outgoing import OutgoingFlow, stanza_id_for
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
class Outgoing:
    flow: OutgoingFlow
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
async def outgoing(db) -> AsyncIterator[Outgoing]:
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
        flow = OutgoingFlow(partners=clients, message_ids=message_ids, matrix_media=media,
                            hosted_media=hosted, portals=portals, permissions=permissions,
                            metrics=metrics, command_prefix="!interop")
        yield Outgoing(flow, portal, client, clients, message_ids, hosted, media, metrics,
                       permissions)


def event(portal: RecordingPortal, content: dict[str, Any], event_type: str = "m.room.message",
          sender: UserID = USER) -> Any:
    return Event.deserialize({
        "type": event_type, "event_id": f"$out{next(_event_numbers)}:example.org",
        "sender": sender, "room_id": portal.room_id, "origin_server_ts": 1764000000000,
        "content": content})


def text(portal: RecordingPortal, body: str, sender: UserID = USER) -> Any:
    return event(portal, {"msgtype": "m.text", "body": body}, sender=sender)


def file(outgoing: Outgoing, data: bytes, size: int | None = None) -> Any:
    uri = outgoing.media.put(data)
    return event(outgoing.portal, {
        "msgtype": "m.file", "body": "notes.txt", "filename": "notes.txt", "url": uri,
        "info": {"mimetype": "text/plain", "size": len(data) if size is None else size}})


async def test_the_owners_text_is_encoded_and_sent_under_a_stanza_id_from_its_event(outgoing):
    hello = text(outgoing.portal, "hello")
    await outgoing.flow.handle(outgoing.portal, hello)

    stanza_id = stanza_id_for(hello.event_id)
    expected = "M" + hashlib.sha256(hello.event_id.encode()).hexdigest()[:24].upper()
    assert stanza_id == expected
    [sent] = outgoing.client.sent
    assert (sent.local_id, sent.recipient) == (stanza_id, Address(GINA))
    assert decode_content(sent.plaintext) == Text(text="hello")
    # Pending until the gateway acknowledges it (report()).
    assert outgoing.portal.status.posted == [Status("pending", hello.event_id)]
    own = await outgoing.message_ids.own_message(USER_ID, stanza_id)
    assert own is not None and (own.room_id, own.event_id) == (outgoing.portal.room_id,
                                                               hello.event_id)
    mapped = await outgoing.message_ids.message_by_event(hello.event_id)
    assert mapped is not None and mapped.from_matrix and mapped.sender == USER_ID


async def test_the_same_event_again_sends_the_same_stanza(outgoing):
    hello = text(outgoing.portal, "hello")
    await outgoing.flow.handle(outgoing.portal, hello)
    # Handled again after a crash: the map knows it already, the gateway de-duplicates.
    await outgoing.flow.handle(outgoing.portal, hello)
    assert [s.local_id for s in outgoing.client.sent] == [stanza_id_for(hello.event_id)] * 2


async def test_events_from_others_than_the_owner_are_ignored(outgoing):
    await outgoing.flow.handle(outgoing.portal, text(outgoing.portal, "hi", sender=MALLORY))
    await outgoing.flow.undecryptable(outgoing.portal,
                                      text(outgoing.portal, "?", sender=MALLORY))
    assert outgoing.client.sent == []
    assert outgoing.portal.status.posted == []
    assert outgoing.portal.notices == []


async def test_an_unmappable_event_gets_a_failure_status_not_silence(outgoing):
    poll = event(outgoing.portal, {"body": "Lunch?"}, "org.matrix.msc3381.poll.start")
    await outgoing.flow.handle(outgoing.portal, poll)

    assert outgoing.client.sent == []
    assert outgoing.portal.status.posted == [
        Status("failure", poll.event_id, SendFailure.UNSUPPORTED, "polls are not supported")]
    assert messages_counted(outgoing.metrics, "out", "GenericEvent", "unmappable") == 1


async def test_a_file_over_the_limit_fails_as_too_large_before_it_is_fetched(outgoing):
    big = file(outgoing, b"a small stand-in", size=200 * 1024 * 1024)
    await outgoing.flow.handle(outgoing.portal, big)

    assert outgoing.client.sent == []
    [status] = outgoing.portal.status.posted
    assert (status.kind, status.failure) == ("failure", SendFailure.TOO_LARGE)
    assert status.text is not None and "too large" in status.text
    assert await outgoing.hosted_for(stanza_id_for(big.event_id)) == 0


async def test_an_undecryptable_event_of_the_owner_gets_its_failure(outgoing):
    hidden = text(outgoing.portal, "?")
    await outgoing.flow.undecryptable(outgoing.portal, hidden)
    assert outgoing.portal.status.posted == [
        Status("failure", hidden.event_id, SendFailure.UNDECRYPTABLE)]
    assert messages_counted(outgoing.metrics, "out", "MessageEvent", "undecryptable") == 1


async def test_a_held_send_tells_the_owner_what_to_do(outgoing):
    outgoing.client.answer = False  # stored, waiting for Gina's new key to be confirmed
    hello = text(outgoing.portal, "hello")
    await outgoing.flow.handle(outgoing.portal, hello)

    notice = held_message_notice("gina", "!interop")
    assert "!interop trust" in notice
    assert outgoing.portal.status.posted == [Status("pending", hello.event_id),
                                             Status("waiting", hello.event_id, text=notice)]
    assert messages_counted(outgoing.metrics, "out", "MessageEvent", "held") == 1


@pytest.mark.parametrize(("error", "failure", "final"), [
    (ErrorInfo(ErrorCode.NOT_OPTED_IN), SendFailure.NOT_OPTED_IN, True),
    (ErrorInfo(ErrorCode.UNKNOWN_USER), SendFailure.NOT_OPTED_IN, True),
    (None, SendFailure.GATEWAY_UNREACHABLE, False),
])
async def test_no_bundle_for_the_contact(outgoing, error, failure, final):
    outgoing.client.answer = BundleUnavailable(Address(GINA), error)
    document = file(outgoing, b"meeting notes")
    await outgoing.flow.handle(outgoing.portal, document)

    stanza_id = stanza_id_for(document.event_id)
    assert outgoing.portal.status.last == Status("failure", document.event_id, failure)
    # Final: out of the outbox and its media withdrawn; otherwise it is sent once it can be.
    assert outgoing.client.outbox.refused == ([stanza_id] if final else [])
    assert await outgoing.hosted_for(stanza_id) == (0 if final else 1)


@pytest.mark.parametrize(("setup", "failure"), [
    ("permission withdrawn", SendFailure.SENDER_NOT_ALLOWED),
    ("opted out", SendFailure.SENDER_OPTED_OUT),
    ("connection down", SendFailure.GATEWAY_UNREACHABLE),
    ("contact blocked", SendFailure.BLOCKED),
])
async def test_what_stops_a_message_before_it_is_mapped(outgoing, setup, failure):
    if setup == "permission withdrawn":
        outgoing.permissions.clear()
    elif setup in ("opted out", "connection down"):
        del outgoing.clients.clients[USER]
        if setup == "connection down":
            accounts = outgoing.clients.accounts
            await accounts.record_disclosure(USER)
            await accounts.activate(accounts.db, USER, user_visible_id="alice",
                                    internal_id=USER_ID, sealed_noise_key=b"k")
    else:
        outgoing.portal.record.blocked = True
    hello = text(outgoing.portal, "hello")
    await outgoing.flow.handle(outgoing.portal, hello)

    assert outgoing.portal.status.posted == [Status("failure", hello.event_id, failure)]
    assert outgoing.client.sent == []


async def test_an_ack_marks_the_message_sent(outgoing):
    hello = text(outgoing.portal, "hello")
    await outgoing.flow.handle(outgoing.portal, hello)
    await outgoing.flow.report(outgoing.client,
                               SendAcknowledged(stanza_id_for(hello.event_id), None))

    assert outgoing.portal.status.last == Status("success", hello.event_id)
    assert messages_counted(outgoing.metrics, "out", "message", "sent") == 1
    assert messages_counted(outgoing.metrics, "out", "message", "refused") == 0


@pytest.mark.parametrize(("code", "failure"), [
    (ErrorCode.NOT_OPTED_IN, SendFailure.NOT_OPTED_IN),
    (ErrorCode.UNKNOWN_USER, SendFailure.NOT_OPTED_IN),
    (ErrorCode.BLOCKED, SendFailure.BLOCKED),
    (ErrorCode.TOO_LARGE, SendFailure.TOO_LARGE),
    (ErrorCode.BAD_REQUEST, SendFailure.GATEWAY_UNREACHABLE),
])
async def test_a_refusal_shows_its_reason_and_withdraws_the_hosted_media(outgoing, code,
                                                                          failure):
    document = file(outgoing, b"meeting notes")
    await outgoing.flow.handle(outgoing.portal, document)
    stanza_id = stanza_id_for(document.event_id)
    [sent] = outgoing.client.sent
    assert sent == SentStanza(stanza_id, Address(GINA), sent.plaintext)
    assert await outgoing.hosted_for(stanza_id) == 1  # fetchable until refused

    await outgoing.flow.report(outgoing.client,
                               SendAcknowledged(StanzaId(stanza_id), ErrorInfo(code, "")))

    assert outgoing.portal.status.last == Status("failure", document.event_id, failure,
                                                 str(code))
    assert await outgoing.hosted_for(stanza_id) == 0
    assert messages_counted(outgoing.metrics, "out", "message", "refused") == 1


async def test_a_refusal_names_the_gateways_text_when_it_gives_one(outgoing):
    hello = text(outgoing.portal, "hello")
    await outgoing.flow.handle(outgoing.portal, hello)
    await outgoing.flow.report(outgoing.client, SendAcknowledged(
        stanza_id_for(hello.event_id), ErrorInfo(ErrorCode.BLOCKED, "recipient blocked you")))
    assert outgoing.portal.status.last.text == "recipient blocked you"


async def test_a_refusal_of_an_unknown_stanza_still_withdraws_its_media(outgoing):
    await outgoing.hosted.store(USER, b"sealed blob", "Mforgotten")
    await outgoing.flow.report(outgoing.client, SendAcknowledged(
        StanzaId("Mforgotten"), ErrorInfo(ErrorCode.NOT_OPTED_IN)))
    assert await outgoing.hosted_for("Mforgotten") == 0
    assert outgoing.portal.status.posted == []


async def test_a_reaction_is_acknowledged_through_its_own_stanza(outgoing):
    hello = text(outgoing.portal, "hello")
    await outgoing.flow.handle(outgoing.portal, hello)
    thumbs = event(outgoing.portal, {"m.relates_to": {
        "rel_type": "m.annotation", "event_id": hello.event_id, "key": "👍"}}, "m.reaction")
    await outgoing.flow.handle(outgoing.portal, thumbs)

    sent = outgoing.client.sent[-1]
    assert sent.local_id == stanza_id_for(thumbs.event_id)
    reaction = decode_content(sent.plaintext)
    assert isinstance(reaction, Reaction) and reaction.text == "👍"
    assert reaction.target.id == stanza_id_for(hello.event_id)
    # Reactions have no row in the message map; the reaction table knows it.
    assert await outgoing.message_ids.message_by_event(thumbs.event_id) is None
    recorded = await outgoing.message_ids.reaction_by_event(EventID(thumbs.event_id))
    assert recorded is not None and (recorded.sender, recorded.key) == (USER_ID, "👍")

    ack = SendAcknowledged(stanza_id_for(thumbs.event_id), None)
    await outgoing.flow.report(outgoing.client, ack)
    assert outgoing.portal.status.last == Status("success", thumbs.event_id)
    posted = len(outgoing.portal.status.posted)
    await outgoing.flow.report(outgoing.client, ack)  # acked twice: shown once
    assert len(outgoing.portal.status.posted) == posted


async def test_warnings_of_a_sent_message_become_a_reply_notice(outgoing):
    # A reply to a message the other side never had goes without its quote, and says so.
    reply = event(outgoing.portal, {"msgtype": "m.text", "body": "yes", "m.relates_to": {
        "m.in_reply_to": {"event_id": "$never-bridged:example.org"}}})
    await outgoing.flow.handle(outgoing.portal, reply)

    assert decode_content(outgoing.client.sent[0].plaintext) == Text(text="yes")
    [notice] = outgoing.portal.notices
    assert notice.reply_to == reply.event_id
    assert "without the quote" in notice.text
