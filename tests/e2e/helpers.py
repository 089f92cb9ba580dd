"""Driving the whole stack like people do: a Matrix user with an E2EE client who opts in, and
simulated gatekeeper users in the sandbox who run real Signal clients."""

from __future__ import annotations

import asyncio
import base64
import io
import time
from collections.abc import Callable

import aiohttp
from nio import (
    BadEvent,
    Event,
    RoomMessageNotice,
    RoomMessageText,
    RoomRedactResponse,
    RoomSendResponse,
    UnknownEvent,
    UploadResponse,
)
from nio.crypto.attachments import decrypt_attachment

from bridge.content import Text, decode_content, encode_content
from bridge.content.models import MediaKind, MediaRef
from bridge.media import decrypt_media, encrypt_media
from tests.support.matrix_client import PersonClient
from tests.support.stack import Stack

BOT = "@interopbot:localhost"


def notice(text: str):
    return lambda e: isinstance(e, RoomMessageNotice) and text in e.body


async def opted_in_person(stack: Stack, localpart: str, store, *, trusted_dm: bool = False
                          ) -> tuple[PersonClient, str, str]:
    """A Matrix user who opted in through the management room: (client, room, internal id).
    ``trusted_dm``: the management room is made as Element makes direct chats (the bot may set
    state there)."""
    person = await PersonClient.create(stack.synapse, localpart, store)
    room = await person.create_dm(BOT, trusted=trusted_dm)
    await person.wait_for_member(room, BOT)
    await person.send_text(room, "opt-in")
    await person.wait_for(room, notice("Before you turn on"))
    await person.send_text(room, "opt-in confirm")
    await person.wait_for(room, notice("third-party chats are on"))
    account = await stack.bridge.running.partners.accounts.get(person.user_id)
    return person, room, account.internal_id


async def simulated_user(stack: Stack, username: str) -> str:
    status, created = await stack.admin.call("POST", "/gatekeeper-users",
                                             {"username": username, "opted_in": True})
    assert status == 201, created
    status, simulated = await stack.admin.call("POST", f"/gatekeeper-users/{username}/simulate")
    assert status == 200, simulated
    return simulated["address"]


async def send_as_gatekeeper(stack: Stack, username: str, to: str, content, *,
                             stanza_id: str | None = None) -> dict:
    body = {"to": to, "plaintext": base64.b64encode(encode_content(content)).decode()}
    if stanza_id:
        body["id"] = stanza_id
    status, reply = await stack.admin.call("POST", f"/gatekeeper-users/{username}/send", body)
    assert status == 200, reply
    return reply


async def gatekeeper_inbox(stack: Stack, username: str, count: int, timeout: float = 30):
    """The decoded content of the first ``count`` messages the simulated user received."""
    deadline = time.monotonic() + timeout
    while True:
        status, inbox = await stack.admin.call("GET", f"/gatekeeper-users/{username}/inbox")
        assert status == 200, inbox
        messages = [e for e in inbox["entries"] if e["class"] == "message"]
        if len(messages) >= count:
            return [(e, decode_content(base64.b64decode(e["plaintext"])))
                    for e in messages if "plaintext" in e]
        assert time.monotonic() < deadline, inbox
        await asyncio.sleep(0.3)


async def join_invited_room(person: PersonClient, timeout: float = 30) -> str:
    """Join the first room the person is invited to (a new portal) and return its id."""
    deadline = time.monotonic() + timeout
    while not person.client.invited_rooms:
        assert time.monotonic() < deadline, "no invite arrived"
        await person.sync()
        await asyncio.sleep(0.2)
    room_id = next(iter(person.client.invited_rooms))
    await person.client.join(room_id)
    await person.sync()
    return room_id


async def chat_opened_by(stack: Stack, person: PersonClient, contact: str,
                         person_id: str) -> str:
    """The portal a simulated gatekeeper user opens by writing "hi" to ``person``, joined."""
    await simulated_user(stack, contact)
    await send_as_gatekeeper(stack, contact, person_id, Text(text="hi"))
    room = await join_invited_room(person)
    await wait_event(person, room, lambda e: isinstance(e, RoomMessageText))
    return room


async def gatekeeper_receipt(stack: Stack, username: str, message_id: str, *, read: bool,
                             timeout: float = 30) -> dict:
    """Wait until the simulated user received a delivery or read receipt for ``message_id``."""
    deadline = time.monotonic() + timeout
    while True:
        status, inbox = await stack.admin.call("GET", f"/gatekeeper-users/{username}/inbox")
        assert status == 200, inbox
        for entry in inbox["entries"]:
            if (entry["class"] == "receipt" and entry["id"] == message_id
                    and (entry.get("type") == "read") == read):
                return entry
        assert time.monotonic() < deadline, inbox
        await asyncio.sleep(0.3)


async def gatekeeper_chat_state(stack: Stack, username: str, sender: str, state: str,
                                timeout: float = 30) -> dict:
    """Wait until the simulated user saw ``sender`` in chat state ``state``."""
    deadline = time.monotonic() + timeout
    while True:
        status, inbox = await stack.admin.call("GET", f"/gatekeeper-users/{username}/inbox")
        assert status == 200, inbox
        for seen in inbox.get("chat_states", []):
            if seen.get("from") == sender and seen.get("state") == state:
                return seen
        assert time.monotonic() < deadline, inbox.get("chat_states")
        await asyncio.sleep(0.3)


# --- every event a person's client sees --------------------------------------------------------
#
# PersonClient records texts and notices; the message-type tests need everything (media,
# reactions, redactions, locations, send statuses), in one list per room in arrival order.

SEND_STATUS = "com.beeper.message_send_status"


def record_everything(person: PersonClient) -> None:
    person.everything = {}

    async def record(room, event) -> None:
        person.everything.setdefault(room.room_id, []).append(event)

    # Events nio cannot model (a sticker with an encrypted `file`) arrive as BadEvent.
    person.client.add_event_callback(record, (Event, BadEvent))


async def wait_event(person: PersonClient, room_id: str, predicate: Callable[[object], bool],
                     timeout: float = 30, what: str = "a matching event"):
    deadline = time.monotonic() + timeout
    while True:
        for event in person.everything.get(room_id, []):
            if predicate(event):
                return event
        if time.monotonic() > deadline:
            seen = [f"{type(e).__name__}:{e.source.get('type')}"
                    for e in person.everything.get(room_id, [])]
            raise AssertionError(f"no {what} in {room_id}; saw {seen}")
        await person.sync()
        await asyncio.sleep(0.2)


def content_of(event) -> dict:
    """The (decrypted) event content as sent: nio keeps it in ``source``."""
    return event.source.get("content", {})


def relates_to(event) -> dict:
    return content_of(event).get("m.relates_to") or {}


async def send_status(person: PersonClient, room_id: str, event_id: str, *,
                      final: bool = True, timeout: float = 30) -> dict:
    """The bridge's ``com.beeper.message_send_status`` for one of the person's events (the first
    one past PENDING when ``final``)."""
    def matches(event) -> bool:
        content = content_of(event)
        return (isinstance(event, UnknownEvent) and event.type == SEND_STATUS
                and (content.get("m.relates_to") or {}).get("event_id") == event_id
                and (not final or content.get("status") != "PENDING"))

    event = await wait_event(person, room_id, matches, timeout, what=f"send status of {event_id}")
    return content_of(event)


async def send_event(person: PersonClient, room_id: str, event_type: str, content: dict) -> str:
    """Send like Element does: encrypted in encrypted rooms, except reactions (nio sends those
    in the clear, as Element does)."""
    await person.sync()
    response = await person.client.room_send(room_id, event_type, content,
                                             ignore_unverified_devices=True)
    assert isinstance(response, RoomSendResponse), response
    return response.event_id


async def redact(person: PersonClient, room_id: str, event_id: str) -> str:
    """Redactions are never encrypted."""
    response = await person.client.room_redact(room_id, event_id, reason="test")
    assert isinstance(response, RoomRedactResponse), response
    return response.event_id


# --- media on the Matrix side --------------------------------------------------------------------


async def upload_plain(person: PersonClient, data: bytes, mime_type: str) -> str:
    """An unencrypted upload (some clients and bots send plain ``url`` media in any room)."""
    response, _ = await person.client.upload(io.BytesIO(data), mime_type, filesize=len(data))
    assert isinstance(response, UploadResponse), response
    return response.content_uri


async def upload_encrypted(person: PersonClient, data: bytes) -> dict:
    """Upload an attachment as an E2EE client does; returns the ``file`` object of the event."""
    response, keys = await person.client.upload(io.BytesIO(data), "application/octet-stream",
                                                encrypt=True, filesize=len(data))
    assert isinstance(response, UploadResponse), response
    return {"url": response.content_uri, "key": keys["key"], "iv": keys["iv"],
            "hashes": keys["hashes"], "v": keys["v"]}


async def download_decrypted(person: PersonClient, file: dict) -> bytes:
    """Fetch an encrypted attachment (authenticated media) and decrypt it as a client does."""
    server, media_id = file["url"].removeprefix("mxc://").split("/", 1)
    url = f"{person.client.homeserver}/_matrix/client/v1/media/download/{server}/{media_id}"
    async with aiohttp.ClientSession() as http, http.get(url, headers={
            "Authorization": f"Bearer {person.client.access_token}"}) as resp:
        assert resp.status == 200, await resp.text()
        ciphertext = await resp.read()
    return decrypt_attachment(ciphertext, file["key"]["k"], file["hashes"]["sha256"],
                              file["iv"])


# --- media on the gatekeeper side ----------------------------------------------------------------


def _sandbox_base(stack: Stack) -> str:
    return stack.admin.base_url.rstrip("/")


async def gatekeeper_media(stack: Stack, kind: MediaKind, data: bytes, mime_type: str, *,
                           thumbnail: bytes = b"") -> MediaRef:
    """What a gatekeeper user's app does before sending a file: encrypt it with the gateway's
    media encryption, upload the blob to the media server, describe it in a `MediaRef`."""
    encrypted = encrypt_media(kind, data)
    async with (
        aiohttp.ClientSession(
            headers={"Authorization": f"Bearer {stack.admin.secret}"}) as http,
        http.post(_sandbox_base(stack) + "/_sandbox/admin/v1/media", data=encrypted.blob,
                  headers={"Content-Type": "application/octet-stream"}) as resp,
    ):
        assert resp.status == 201, await resp.text()
        uploaded = await resp.json()
    return MediaRef(path=uploaded["path"], media_key=encrypted.media_key,
                    sha256_plain=encrypted.sha256_plain, sha256_enc=encrypted.sha256_enc,
                    length=encrypted.length, mime_type=mime_type, thumbnail=thumbnail)


async def fetch_as_gatekeeper(stack: Stack, kind: MediaKind, ref: MediaRef) -> bytes:
    """What a gatekeeper user's app does with a partner-hosted `MediaRef`: fetch the blob
    through the gateway's media proxy and verify and decrypt it."""
    async with aiohttp.ClientSession() as http, http.get(_sandbox_base(stack) + ref.path) as resp:
        assert resp.status == 200, await resp.text()
        blob = await resp.read()
    return decrypt_media(kind, blob, ref.media_key, ref.sha256_enc, ref.sha256_plain)


async def send_raw_as_gatekeeper(stack: Stack, username: str, to: str, plaintext: bytes, *,
                                 padded: bool = False) -> dict:
    """Hand-made plaintext; unless ``padded``, the sandbox adds the padding, so that only the
    content decoding can fail."""
    status, reply = await stack.admin.call("POST", f"/gatekeeper-users/{username}/send", {
        "to": to, "plaintext": base64.b64encode(plaintext).decode(), "pad": not padded})
    assert status == 200, reply
    return reply
