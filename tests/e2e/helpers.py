"""Driving the whole stack like people do: a Matrix user with an E2EE client who opts in, and
simulated gatekeeper users in the sandbox who run real Signal clients."""

from __future__ import annotations

import asyncio
import base64
import time

from nio import RoomMessageNotice

from bridge.content import decode_content, encode_content
from tests.support.matrix_client import PersonClient
from tests.support.stack import Stack

BOT = "@interopbot:localhost"


def notice(text: str):
    return lambda e: isinstance(e, RoomMessageNotice) and text in e.body


async def opted_in_person(stack: Stack, localpart: str, store) -> tuple[PersonClient, str, str]:
    """A Matrix user who opted in through the management room: (client, room, internal id)."""
    person = await PersonClient.create(stack.synapse, localpart, store)
    room = await person.create_dm(BOT)
    await person.wait_for_member(room, BOT)
    await person.send_text(room, "opt-in")
    await person.wait_for(room, notice("Before you turn on"))
    await person.send_text(room, "opt-in confirm")
    await person.wait_for(room, notice("third-party chats are on"))
    account = await stack.bridge.partners.accounts.get(person.user_id)
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
