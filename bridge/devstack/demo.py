"""The scripted demo (``python -m bridge.devstack --demo``): a conversation between the demo Matrix
account and the simulated gatekeeper user gina, covering every message type both ways.

The Matrix side is a real end-to-end-encrypting client (matrix-nio, ``matrix_client.py``); gina is
driven through the sandbox's admin API (docs/sandbox.md) and runs a real Signal client inside the
sandbox. Each step prints what one side sent and what the other side saw; a step whose message
did not arrive (within its time) is marked MISSING and makes the demo exit non-zero.
"""

from __future__ import annotations

import asyncio
import base64
import io
import re
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TextIO
from urllib.parse import unquote

import aiohttp
from nio import (
    BadEvent,
    Event,
    ReceiptEvent,
    RedactionEvent,
    RoomRedactResponse,
    RoomSendResponse,
    TypingNoticeEvent,
    UploadResponse,
)
from nio.crypto.attachments import decrypt_attachment

from ..sandbox.admin_cli import call as sandbox_admin
from . import samples
from .matrix_client import PersonClient
from .synapse import LocalSynapse

BOT = "@interopbot:localhost"
CONTACT = "gina"
STEP_TIMEOUT = 45.0
VOICE = "org.matrix.msc3245.voice"


class Missing(Exception):
    """What a side was waiting for did not arrive."""


class Transcript:
    """The readable record of the conversation, printed as it happens."""

    def __init__(self, out: TextIO = sys.stdout) -> None:
        self.out = out
        self.steps = 0
        self.missing: list[str] = []

    def say(self, text: str = "") -> None:
        print(text, file=self.out, flush=True)

    async def step(self, sender: str, receiver: str, what: str,
                   play: Callable[[], Awaitable[str]]) -> None:
        """Run one step: ``play`` sends and waits for the other side, returning what it saw."""
        self.steps += 1
        self.say(f"[{self.steps:02d}] {sender} → {receiver}: {what}")
        try:
            seen = await asyncio.wait_for(play(), STEP_TIMEOUT)
        except (TimeoutError, Missing, AssertionError) as e:
            reason = str(e) or type(e).__name__
            self.missing.append(f"{what}: {reason}")
            self.say(f"     MISSING  {receiver} did not see it ({reason})")
            return
        self.say(f"     ok       {receiver} saw: {seen}")


class MatrixSide:
    """The demo account's client, remembering every event of every room."""

    def __init__(self, person: PersonClient) -> None:
        self.person = person
        self.client = person.client
        self.events: dict[str, list[Event]] = {}
        self.client.add_event_callback(self._record, (Event, BadEvent))

    async def _record(self, room, event) -> None:
        self.events.setdefault(room.room_id, []).append(event)

    async def wait(self, room_id: str, predicate: Callable[[Any], bool], what: str,
                   ephemeral: bool = False) -> Any:
        deadline = time.monotonic() + STEP_TIMEOUT
        while True:
            pool = (self.person.ephemeral if ephemeral else self.events).get(room_id, [])
            for event in pool:
                if predicate(event):
                    return event
            if time.monotonic() > deadline:
                raise Missing(f"no {what}")
            await self.person.sync()
            await asyncio.sleep(0.2)

    async def send(self, room_id: str, content: dict, event_type: str = "m.room.message") -> str:
        await self.person.sync()
        response = await self.client.room_send(room_id, event_type, content,
                                               ignore_unverified_devices=True)
        if not isinstance(response, RoomSendResponse):
            raise Missing(f"the homeserver refused the event: {response}")
        return response.event_id

    async def redact(self, room_id: str, event_id: str) -> str:
        response = await self.client.room_redact(room_id, event_id, reason="demo")
        if not isinstance(response, RoomRedactResponse):
            raise Missing(f"the homeserver refused the redaction: {response}")
        return response.event_id

    async def upload(self, data: bytes) -> dict:
        """Upload encrypted, as an E2EE client does; the event's ``file`` object."""
        response, keys = await self.client.upload(io.BytesIO(data), "application/octet-stream",
                                                  encrypt=True, filesize=len(data))
        if not isinstance(response, UploadResponse):
            raise Missing(f"the upload failed: {response}")
        return {"url": response.content_uri, "key": keys["key"], "iv": keys["iv"],
                "hashes": keys["hashes"], "v": keys["v"]}

    async def download(self, file: dict) -> bytes:
        """Fetch an encrypted attachment (authenticated media) and decrypt it."""
        server, media_id = file["url"].removeprefix("mxc://").split("/", 1)
        url = f"{self.client.homeserver}/_matrix/client/v1/media/download/{server}/{media_id}"
        async with aiohttp.ClientSession() as http, http.get(url, headers={
                "Authorization": f"Bearer {self.client.access_token}"}) as resp:
            if resp.status != 200:
                raise Missing(f"the attachment could not be downloaded (HTTP {resp.status})")
            body = await resp.read()
        return decrypt_attachment(body, file["key"]["k"], file["hashes"]["sha256"], file["iv"])

    async def notice_in(self, room_id: str, text: str) -> str:
        event = await self.wait(room_id, lambda e: text in (getattr(e, "body", "") or ""),
                                f"notice containing {text!r}")
        return event.body


def content(event: Any) -> dict:
    return event.source.get("content", {})


def relation(event: Any) -> dict:
    return content(event).get("m.relates_to") or {}


class GatekeeperSide:
    """gina, a simulated gatekeeper user, through the sandbox's admin API."""

    def __init__(self, sandbox_url: str, secret: str, username: str = CONTACT) -> None:
        self.url, self.secret, self.username = sandbox_url, secret, username
        self.seen_seq = 0

    async def call(self, method: str, path: str, body: Any = None) -> Any:
        status, answer = await sandbox_admin(self.url, self.secret, method,
                                             f"/gatekeeper-users/{self.username}{path}", body)
        if status >= 300 or (isinstance(answer, dict) and answer.get("error")):
            raise Missing(f"the sandbox refused {path}: {answer}")
        return answer

    async def send(self, kind: str, body: dict) -> str:
        """Send as gina; the stanza id."""
        return (await self.call("POST", f"/send/{kind}", body))["id"]

    async def inbox(self) -> dict:
        return await self.call("GET", "/inbox")

    async def next_entry(self, predicate: Callable[[dict], bool], what: str) -> dict:
        """The next new inbox entry that matches (entries are oldest first)."""
        deadline = time.monotonic() + STEP_TIMEOUT
        while True:
            for entry in (await self.inbox())["entries"]:
                if entry["seq"] > self.seen_seq and predicate(entry):
                    self.seen_seq = entry["seq"]
                    return entry
            if time.monotonic() > deadline:
                raise Missing(f"no {what}")
            await asyncio.sleep(0.3)

    async def next_message(self, kind: str) -> dict:
        entry = await self.next_entry(lambda e: e["class"] == "message", f"{kind} message")
        got = (entry.get("content") or {}).get("kind")
        if got != kind:
            raise Missing(f"expected a {kind}, got {got or entry.get('error')}")
        return entry["content"] | {"_id": entry["id"], "_download": entry.get("download")}

    async def chat_state(self, state: str) -> dict:
        deadline = time.monotonic() + STEP_TIMEOUT
        while True:
            for seen in (await self.inbox()).get("chat_states", []):
                if seen.get("state") == state:
                    return seen
            if time.monotonic() > deadline:
                raise Missing(f"no chat state {state}")
            await asyncio.sleep(0.3)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _downloaded(entry: dict) -> str:
    download = entry.get("_download") or {}
    if not download.get("verified"):
        raise Missing(f"gina's app could not fetch the file: {download}")
    return f"fetched, verified and decrypted ({download['size']} bytes)"


async def set_up(matrix: MatrixSide, transcript: Transcript) -> tuple[str, str]:
    """Opt the demo account in (if needed) and open the chat with gina: (management, portal)."""
    person = matrix.person
    management = await person.create_dm(BOT)
    await person.wait_for_member(management, BOT)
    await person.send_text(management, "opt-in")
    answer = await matrix.wait(management, lambda e: any(
        text in (getattr(e, "body", "") or "")
        for text in ("Before you turn on", "already opted in")), "answer to opt-in")
    if "Before you turn on" in answer.body:
        await person.send_text(management, "opt-in confirm")
        await matrix.notice_in(management, "third-party chats are on")
        transcript.say("     the demo account opted in to third-party chats")
    else:
        transcript.say("     the demo account was opted in already")
    await person.send_text(management, f"start-chat {CONTACT}")
    reply = await matrix.notice_in(management, "Your chat with")
    link = re.search(r"matrix\.to/#/(![^)]+)\)", reply)
    if link is None:
        raise Missing(f"no room link in the bridge's reply {reply!r}")
    room = link.group(1)
    await matrix.client.join(room)
    await person.sync()
    transcript.say(f"     the chat with {CONTACT} is room {room}")
    return management, room


async def play(synapse: LocalSynapse, sandbox_url: str, sandbox_secret: str, *, user: str,
               password: str, out: TextIO = sys.stdout) -> int:
    """Play the whole conversation and print its transcript; 0 when everything arrived."""
    transcript = Transcript(out)
    gina = GatekeeperSide(sandbox_url, sandbox_secret)
    with tempfile.TemporaryDirectory(prefix="interop-demo-") as store:
        person = await PersonClient.login(synapse, user, password, Path(store))
        matrix = MatrixSide(person)
        try:
            transcript.say(f"Scripted demo: @{user}:localhost (Matrix, end-to-end encrypted) "
                           f"and {CONTACT} (simulated gatekeeper user)")
            transcript.say("")
            _, room = await set_up(matrix, transcript)
            gina.seen_seq = max((e["seq"] for e in (await gina.inbox())["entries"]),
                                default=0)
            transcript.say("")
            await _conversation(matrix, gina, room, user, transcript)
        finally:
            await person.close()
    transcript.say("")
    if transcript.missing:
        transcript.say(f"{len(transcript.missing)} of {transcript.steps} steps did not arrive:")
        for line in transcript.missing:
            transcript.say(f"  - {line}")
        return 1
    transcript.say(f"All {transcript.steps} steps arrived on the other side.")
    return 0


async def _conversation(matrix: MatrixSide, gina: GatekeeperSide, room: str, user: str,
                        t: Transcript) -> None:
    me = f"@{user}:localhost"
    ids: dict[str, str] = {}      # gina's stanza ids by name
    events: dict[str, str] = {}   # Matrix event ids by name

    def from_ghost(predicate: Callable[[Any], bool]) -> Callable[[Any], bool]:
        return lambda e: getattr(e, "sender", me) != me and predicate(e)

    # --- gina → Matrix ---------------------------------------------------------------------

    async def greeting() -> str:
        ids["greeting"] = await gina.send("text", {
            "to": user, "text": f"*Hello* _there_ @{user}, ~nice~ to meet you",
            "mentions": [user]})
        event = await matrix.wait(room, from_ghost(lambda e: content(e).get("msgtype")
                                                   == "m.text"), "text")
        events["greeting"] = event.event_id
        html = content(event).get("formatted_body", "")
        for part in ("<strong>Hello</strong>", "<em>there</em>", f"matrix.to/#/{me}"):
            if part not in unquote(html):
                raise Missing(f"the formatting or the mention is lost: {html!r}")
        return f"text with bold, italic, strike-through and a mention pill: {html}"

    await t.step(CONTACT, "Matrix", "text with formatting and a mention", greeting)

    async def gina_media(name: str, body: dict, msgtype: str, check=None) -> str:
        ids[name] = await gina.send("media", {"to": user, **body})
        event = await matrix.wait(room, from_ghost(
            lambda e: content(e).get("msgtype") == msgtype and (check is None or check(e))),
            msgtype)
        events[name] = event.event_id
        data = await matrix.download(content(event)["file"])
        expected = base64.b64decode(body["data"])
        if data != expected:
            raise Missing(f"the file differs ({len(data)} bytes, sent {len(expected)})")
        return (f"{msgtype} \"{content(event).get('body')}\", decrypted {len(data)} bytes"
                + (" (voice message)" if VOICE in content(event) else ""))

    await t.step(CONTACT, "Matrix", "an image", lambda: gina_media("image", {
        "kind": "image", "data": _b64(samples.png()), "mime_type": "image/png",
        "caption": "a red picture", "width": 16, "height": 12}, "m.image"))
    await t.step(CONTACT, "Matrix", "a video", lambda: gina_media("video", {
        "kind": "video", "data": _b64(samples.mp4()), "mime_type": "video/mp4",
        "duration_seconds": 1}, "m.video"))
    await t.step(CONTACT, "Matrix", "a voice note", lambda: gina_media("voice", {
        "kind": "audio", "data": _b64(samples.ogg_opus()), "voice_note": True,
        "duration_seconds": 2}, "m.audio", lambda e: VOICE in content(e)))
    await t.step(CONTACT, "Matrix", "an audio file", lambda: gina_media("audio", {
        "kind": "audio", "data": _b64(samples.mp3()), "mime_type": "audio/mpeg",
        "duration_seconds": 2}, "m.audio", lambda e: VOICE not in content(e)))
    await t.step(CONTACT, "Matrix", "a file", lambda: gina_media("file", {
        "kind": "document", "data": _b64(samples.document()), "mime_type": "text/plain",
        "file_name": "minutes.txt"}, "m.file"))

    async def gina_location() -> str:
        ids["location"] = await gina.send("location", {
            "to": user, "latitude": 52.5163, "longitude": 13.3777, "name": "Brandenburger Tor"})
        event = await matrix.wait(room, from_ghost(
            lambda e: content(e).get("msgtype") == "m.location"), "location")
        return f"m.location {content(event).get('geo_uri')} \"{content(event).get('body')}\""

    await t.step(CONTACT, "Matrix", "a location", gina_location)

    # --- Matrix → gina ----------------------------------------------------------------------

    ghost = next(e.sender for e in matrix.events[room] if e.event_id == events["greeting"])

    async def demo_text() -> str:
        events["text"] = await matrix.send(room, {
            "msgtype": "m.text", "body": "Hi gina, how are you?",
            "format": "org.matrix.custom.html",
            "formatted_body": f'<b>Hi</b> <a href="https://matrix.to/#/{ghost}">gina</a>, '
                              "<i>how</i> are <del>you</del>?"})
        got = await gina.next_message("text")
        ids["text"] = got["_id"]
        if not got.get("mentions"):
            raise Missing(f"the mention is lost: {got}")
        return f"text \"{got['text']}\" mentioning {', '.join(got['mentions'])}"

    await t.step(user, CONTACT, "text with formatting and a mention", demo_text)

    async def demo_media(msgtype: str, data: bytes, body: str, info: dict, kind: str,
                         **extra) -> str:
        file = await matrix.upload(data)
        events[body] = await matrix.send(room, {"msgtype": msgtype, "body": body, "file": file,
                                                "info": {"size": len(data), **info}, **extra})
        got = await gina.next_message(kind)
        ids[body] = got["_id"]
        voice = " (voice note)" if got.get("voice_note") else ""
        return f"{kind}{voice}, {_downloaded(got)}"

    await t.step(user, CONTACT, "an image", lambda: demo_media(
        "m.image", samples.png(), "red.png", {"mimetype": "image/png", "w": 16, "h": 12},
        "image"))
    await t.step(user, CONTACT, "a video", lambda: demo_media(
        "m.video", samples.mp4(), "clip.mp4", {"mimetype": "video/mp4", "duration": 1000},
        "video"))
    await t.step(user, CONTACT, "a voice note", lambda: demo_media(
        "m.audio", samples.ogg_opus(), "Voice message",
        {"mimetype": "audio/ogg", "duration": 2000}, "audio",
        **{"org.matrix.msc1767.audio": {"duration": 2000, "waveform": [0, 512, 1024] * 10},
           VOICE: {}}))
    await t.step(user, CONTACT, "an audio file", lambda: demo_media(
        "m.audio", samples.mp3(), "tone.mp3", {"mimetype": "audio/mpeg", "duration": 2000},
        "audio"))
    await t.step(user, CONTACT, "a file", lambda: demo_media(
        "m.file", samples.document(), "minutes.txt", {"mimetype": "text/plain"}, "document",
        filename="minutes.txt"))

    async def demo_location() -> str:
        await matrix.send(room, {"msgtype": "m.location", "body": "Alexanderplatz",
                                 "geo_uri": "geo:52.5219,13.4132"})
        got = await gina.next_message("location")
        return f"location {got['latitude']}, {got['longitude']} \"{got.get('name')}\""

    await t.step(user, CONTACT, "a location", demo_location)

    # --- relations, both ways ----------------------------------------------------------------

    async def demo_reply() -> str:
        await matrix.send(room, {"msgtype": "m.text", "body": "Replying to your hello",
                                 "m.relates_to": {"m.in_reply_to":
                                                  {"event_id": events["greeting"]}}})
        got = await gina.next_message("text")
        target = (got.get("reply_to") or {}).get("stanza_id")
        if target != ids["greeting"]:
            raise Missing(f"the reply lost its target: {got.get('reply_to')}")
        return f"text \"{got['text']}\" in reply to her message {target}"

    await t.step(user, CONTACT, "a reply", demo_reply)

    async def demo_edit() -> str:
        await matrix.send(room, {
            "msgtype": "m.text", "body": "* Hi gina, how was your day?",
            "m.new_content": {"msgtype": "m.text", "body": "Hi gina, how was your day?"},
            "m.relates_to": {"rel_type": "m.replace", "event_id": events["text"]}})
        got = await gina.next_message("edit")
        new_text = (got.get("new_content") or {}).get("text")
        return f"edit of {got['target']['id']}: \"{new_text}\""

    await t.step(user, CONTACT, "an edit", demo_edit)

    async def demo_reaction() -> str:
        reaction = await matrix.send(room, {"m.relates_to": {
            "rel_type": "m.annotation", "event_id": events["greeting"], "key": "👍"}},
            event_type="m.reaction")
        got = await gina.next_message("reaction")
        await matrix.redact(room, reaction)
        removed = await gina.next_message("reaction_revoke")
        return (f"reaction {got['text']} to {got['target']['id']}, then its removal "
                f"(target {removed['target']['id']})")

    await t.step(user, CONTACT, "a reaction and its removal", demo_reaction)

    async def demo_delete() -> str:
        await matrix.redact(room, events["red.png"])
        got = await gina.next_message("revoke")
        return f"deletion for everyone of {got['target']['id']}"

    await t.step(user, CONTACT, "a deletion", demo_delete)

    async def gina_reply() -> str:
        await gina.send("reply", {"to": user, "text": "Fine, thanks!",
                                  "reply_to": {"id": ids["text"]}})
        event = await matrix.wait(room, from_ghost(
            lambda e: (relation(e).get("m.in_reply_to") or {}).get("event_id")
            == events["text"]), "reply")
        return f"\"{content(event).get('body')}\" in reply to the demo's first message"

    await t.step(CONTACT, "Matrix", "a reply", gina_reply)

    async def gina_edit() -> str:
        await gina.send("edit", {"to": user, "target": ids["greeting"],
                                 "text": "*Hello* again, edited"})
        event = await matrix.wait(room, from_ghost(
            lambda e: relation(e).get("rel_type") == "m.replace"
            and relation(e).get("event_id") == events["greeting"]), "edit")
        return f"m.replace of her hello: \"{content(event)['m.new_content']['body']}\""

    await t.step(CONTACT, "Matrix", "an edit", gina_edit)

    async def gina_reaction() -> str:
        await gina.send("reaction", {"to": user, "target": ids["text"], "emoji": "❤️"})
        reaction = await matrix.wait(room, from_ghost(
            lambda e: relation(e).get("rel_type") == "m.annotation"), "reaction")
        await gina.send("reaction", {"to": user, "target": ids["text"]})
        await matrix.wait(room, lambda e: isinstance(e, RedactionEvent)
                          and e.redacts == reaction.event_id, "reaction removal")
        return f"reaction {relation(reaction).get('key')}, then its redaction"

    await t.step(CONTACT, "Matrix", "a reaction and its removal", gina_reaction)

    async def gina_delete() -> str:
        await gina.send("revoke", {"to": user, "target": ids["video"]})
        await matrix.wait(room, lambda e: isinstance(e, RedactionEvent)
                          and e.redacts == events["video"], "redaction")
        return "the video is redacted"

    await t.step(CONTACT, "Matrix", "a deletion", gina_delete)

    # --- receipts and typing, both ways ---------------------------------------------------

    async def gina_delivery() -> str:
        entry = await gina.next_entry(lambda e: e["class"] == "receipt"
                                      and e["id"] == ids["greeting"]
                                      and (e.get("receipt") or {}).get("type") == "delivery",
                                      "delivery receipt")
        return f"delivery receipt for her message {entry['id']}"

    gina.seen_seq = 0  # receipts may have come in between the messages
    await t.step(user, CONTACT, "a delivery receipt (automatic)", gina_delivery)

    async def demo_read() -> str:
        await matrix.client.room_read_markers(room, fully_read_event=events["greeting"],
                                              read_event=events["greeting"])
        gina.seen_seq = 0
        entry = await gina.next_entry(lambda e: e["class"] == "receipt"
                                      and (e.get("receipt") or {}).get("type") == "read"
                                      and ids["greeting"] in e["receipt"]["ids"],
                                      "read receipt")
        return f"read receipt for her message {entry['id']}"

    await t.step(user, CONTACT, "a read receipt", demo_read)

    async def gina_read() -> str:
        await gina.call("POST", "/read", {"to": user, "id": ids["text"]})
        await matrix.wait(room, lambda e: isinstance(e, ReceiptEvent) and any(
            r.event_id == events["text"] and r.user_id == ghost for r in e.receipts),
            "read receipt", ephemeral=True)
        return f"{ghost} read the demo's first message"

    await t.step(CONTACT, "Matrix", "a read receipt", gina_read)

    async def demo_typing() -> str:
        await matrix.client.room_typing(room, typing_state=True, timeout=10_000)
        seen = await gina.chat_state("composing")
        await matrix.client.room_typing(room, typing_state=False)
        return f"the demo account is typing (chat state {seen['state']})"

    await t.step(user, CONTACT, "typing", demo_typing)

    async def gina_typing() -> str:
        await gina.call("POST", "/typing", {"to": user, "state": "composing"})
        await matrix.wait(room, lambda e: isinstance(e, TypingNoticeEvent)
                          and ghost in e.users, "typing notice", ephemeral=True)
        return f"{ghost} is typing"

    await t.step(CONTACT, "Matrix", "typing", gina_typing)
