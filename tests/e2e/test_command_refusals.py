"""Every bot command's refusals, against the real homeserver and the sandbox gateway (both
engines): missing permission, bad arguments, an unknown user, not opted in. Each command's happy
path is shown by the test of the feature it belongs to (opt-in, chats, blocking, admin, ...)."""

from __future__ import annotations

import asyncio
import time

import pytest
from nio import RoomMessageNotice

from tests.support.matrix_client import PersonClient
from tests.support.stack import running_stack

from .helpers import BOT, notice, opted_in_person, simulated_user

pytestmark = pytest.mark.synapse

PERMISSIONS = {"localhost": "user", "@admin:localhost": "admin", "@mallory:localhost": "none"}

#: (command, words the answer must contain) for a user who has not opted in
NOT_OPTED_IN = [
    ("opt-out", "You are not opted in"),
    ("opt-out confirm", "You are not opted in"),
    ("start-chat carol", "Send `opt-in` first"),
    ("resolve carol", "Send `opt-in` first"),
    ("invite carol", "Send `opt-in` first"),
    ("block carol", "Send `opt-in` first"),
    ("unblock carol", "Send `opt-in` first"),
    ("blocklist", "Send `opt-in` first"),
    ("accept carol", "Send `opt-in` first"),
    ("trust carol", "Send `opt-in` first"),
    ("report carol --last 1", "Send `opt-in` first"),
    ("opt-in confirm", "Send `opt-in` first"),
    ("status", "not opted in"),
    ("contacts", "no third-party chats yet"),
]

#: the same for a user who is opted in, with bad arguments or unknown people
BAD_ARGUMENTS = [
    ("frobnicate", "Unknown command `frobnicate`"),
    ("opt-in", "already opted in"),
    ("start-chat", "Usage: `start-chat <username>`"),
    ("start-chat carol extra", "Usage: `start-chat <username>`"),
    ("start-chat nobody", "nobody called **nobody**"),
    ("resolve", "Usage: `resolve <username>`"),
    ("resolve nobody", "nobody called **nobody**"),
    ("invite", "Usage: `invite <username>`"),
    ("invite nobody", "nobody called **nobody**"),
    ("invite carol", "already has third-party chats on"),
    ("accept", "Usage: `accept <username>`"),
    ("accept carol", "no message request from **carol**"),
    ("block", "Name the person"),
    ("trust", "Name the person"),
    ("trust carol extra", "Usage: `trust <username>`"),
    ("trust nobody", "no chat with **nobody**"),
    ("block nobody", "nobody called **nobody**"),
    ("unblock nobody", "nobody called **nobody**"),
    ("inbox", "Usage: `inbox separate`"),
    ("inbox sideways", "Usage: `inbox separate`"),
    ("report", "Usage: `report <username>"),
    ("report carol --last x", "`--last` needs a number"),
    ("report carol --everything", "Unknown option `--everything`"),
    ("report nobody", "nobody called **nobody**"),
    ("report carol", "no chat with **carol**"),
    ("opt-out", "confirm"),  # asks first; nothing happens without `confirm`
]

ADMIN_ONLY = ["users", "force-opt-out @alice:localhost", "reconnect @alice:localhost", "stats",
              "broadcast hello"]

ADMIN_BAD_ARGUMENTS = [
    ("force-opt-out", "Give one Matrix user ID"),
    ("force-opt-out alice", "Give one Matrix user ID"),
    ("force-opt-out @nobody:localhost", "You are not opted in"),
    ("reconnect", "Give one Matrix user ID"),
    ("reconnect @a:localhost @b:localhost", "Give one Matrix user ID"),
    ("reconnect @nobody:localhost", "@nobody:localhost is not opted in"),
    ("broadcast", "Usage: `broadcast <message>`"),
]


async def ask(person: PersonClient, room: str, command: str, timeout: float = 30) -> str:
    """Send a command and return the bot's next notice in that room."""
    await person.sync()
    seen = len(person.timeline.get(room, []))
    await person.send_text(room, command)
    deadline = time.monotonic() + timeout
    while True:
        for event in person.timeline.get(room, [])[seen:]:
            if isinstance(event, RoomMessageNotice) and event.sender == BOT:
                return event.body
        assert time.monotonic() < deadline, f"no answer to {command!r}"
        await person.sync()
        await asyncio.sleep(0.1)


async def expect_answers(person: PersonClient, room: str,
                         cases: list[tuple[str, str]]) -> None:
    wrong = []
    for command, expected in cases:
        answer = await ask(person, room, command)
        if expected not in answer:
            wrong.append((command, expected, answer))
    assert not wrong, wrong


async def test_every_command_refuses_clearly(db_url, tmp_path):
    async with running_stack(db_url, tmp_path,
                             overrides={"bridge.permissions": PERMISSIONS}) as stack:
        await simulated_user(stack, "carol")
        bob = await PersonClient.create(stack.synapse, "bob", tmp_path / "bob")
        mallory = await PersonClient.create(stack.synapse, "mallory", tmp_path / "mallory")
        admin = await PersonClient.create(stack.synapse, "admin", tmp_path / "admin")
        alice, alice_room, _ = await opted_in_person(stack, "alice", tmp_path / "alice")
        try:
            bob_room = await bob.create_dm(BOT)
            await bob.wait_for_member(bob_room, BOT)
            await bob.wait_for(bob_room, notice("management room"))
            await expect_answers(bob, bob_room, NOT_OPTED_IN)
            await expect_answers(bob, bob_room, [(c, "for bridge admins only")
                                                 for c in ADMIN_ONLY])
            help_text = await ask(bob, bob_room, "help")
            assert "`opt-in" in help_text and "`users`" not in help_text

            await expect_answers(alice, alice_room, BAD_ARGUMENTS)
            account = await stack.bridge.running.partners.accounts.get("@alice:localhost")
            assert account.state.value == "active"  # `opt-out` without `confirm` changed nothing

            admin_room = await admin.create_dm(BOT)
            await admin.wait_for_member(admin_room, BOT)
            await admin.wait_for(admin_room, notice("management room"))
            await expect_answers(admin, admin_room, ADMIN_BAD_ARGUMENTS)

            # Someone the config shuts out: the bot will not be their management room ...
            mallory_dm = await mallory.create_dm(BOT, encrypted=False)
            await _wait_until_left(mallory, mallory_dm, BOT)
            # ... and in a room they share with the bot, every command is refused.
            shared = await alice.client.room_create(invite=[BOT, mallory.user_id])
            await alice.wait_for_member(shared.room_id, BOT)
            await mallory.client.join(shared.room_id)
            await mallory.wait_for_member(shared.room_id, mallory.user_id)
            for command in ("!interop help", "!interop start-chat carol", "!interop users",
                            "!interop report carol"):
                assert "not allowed to use this bridge" in await ask(mallory, shared.room_id,
                                                                     command)
        finally:
            for person in (alice, bob, mallory, admin):
                await person.close()


async def _wait_until_left(person: PersonClient, room: str, user_id: str,
                           timeout: float = 30) -> None:
    """Until ``user_id`` has turned the invite down (its membership is ``leave``)."""
    deadline = time.monotonic() + timeout
    while True:
        state = await person.client.room_get_state_event(room, "m.room.member", user_id)
        if getattr(state, "content", {}).get("membership") == "leave":
            return
        assert time.monotonic() < deadline, f"{user_id} did not turn down {room}: {state}"
        await asyncio.sleep(0.2)
