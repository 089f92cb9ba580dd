"""What the Matrix user is told about each message: SUCCESS once the gateway acknowledged it, a
failure with a reason a person can read when the gatekeeper user has turned third-party chats
off or blocked them, and a failure (never silence) for events the bridge cannot send. Both
engines."""

from __future__ import annotations

import pytest
from nio import RoomMessageNotice, RoomMessageText
from ruamel.yaml import YAML

from bridge.content import Text
from tests.support.stack import running_stack

from . import samples
from .helpers import (
    chat_opened_by,
    gatekeeper_inbox,
    join_invited_room,
    opted_in_person,
    record_everything,
    relates_to,
    send_as_gatekeeper,
    send_event,
    send_status,
    simulated_user,
    upload_encrypted,
    wait_event,
)

pytestmark = pytest.mark.synapse


def text(body: str) -> dict:
    return {"msgtype": "m.text", "body": body}


async def failure_notice(person, room: str, event_id: str) -> str:
    notice = await wait_event(person, room, lambda e: isinstance(e, RoomMessageNotice) and (
        relates_to(e).get("m.in_reply_to") or {}).get("event_id") == event_id,
        what=f"failure notice for {event_id}")
    return notice.body


async def test_send_status_success_opt_out_and_block(db_url, tmp_path):
    async with running_stack(db_url, tmp_path) as stack:
        alice, _, alice_id = await opted_in_person(stack, "alice", tmp_path / "alice")
        record_everything(alice)
        try:
            gina = await simulated_user(stack, "gina")
            await send_as_gatekeeper(stack, "gina", alice_id, Text(text="hi"))
            room = await join_invited_room(alice)
            await wait_event(alice, room, lambda e: isinstance(e, RoomMessageText))

            # Acknowledged by the gateway: PENDING first, then SUCCESS.
            delivered = await send_event(alice, room, "m.room.message", text("one"))
            pending = await send_status(alice, room, delivered, final=False)
            assert pending["status"] in ("PENDING", "SUCCESS")
            assert (await send_status(alice, room, delivered))["status"] == "SUCCESS"
            await gatekeeper_inbox(stack, "gina", 1)

            # Too large for the gateway (declared by the client; refused before downloading):
            # the person is told the size and the limit, not that images are unsupported.
            file = await upload_encrypted(alice, samples.png())
            oversized = await send_event(alice, room, "m.room.message", {
                "msgtype": "m.image", "body": "huge.png", "file": file,
                "info": {"mimetype": "image/png", "size": 17 * 1024 * 1024}})
            failed = await send_status(alice, room, oversized)
            assert failed["status"] == "FAIL_PERMANENT", failed
            assert failed["message"] == ("the image is too large to send (17 MiB, over the "
                                         "16 MiB limit for images)"), failed
            body = await failure_notice(alice, room, oversized)
            assert "17 MiB" in body and "cannot be sent" not in body

            # Gina turns third-party chats off: refused with a reason, not retried forever.
            status, _ = await stack.admin.call("POST", "/gatekeeper-users/gina/opt-out")
            assert status == 200
            refused = await send_event(alice, room, "m.room.message", text("two"))
            failed = await send_status(alice, room, refused)
            assert failed["status"] == "FAIL_PERMANENT", failed
            assert "have not turned on third-party chats" in failed["message"]
            body = await failure_notice(alice, room, refused)
            assert "not delivered" in body and "third-party chats" in body

            # Back on: delivered again.
            status, _ = await stack.admin.call("POST", "/gatekeeper-users/gina/opt-in")
            assert status == 200
            again = await send_event(alice, room, "m.room.message", text("three"))
            assert (await send_status(alice, room, again))["status"] == "SUCCESS"

            # Gina blocks Alice: refused as blocked.
            status, _ = await stack.admin.call("POST", f"/blocks/{gina}", {"address": alice_id})
            assert status == 200
            blocked = await send_event(alice, room, "m.room.message", text("four"))
            failed = await send_status(alice, room, blocked)
            assert failed["status"] == "FAIL_PERMANENT", failed
            assert "blocked" in failed["message"]
            assert "blocked" in await failure_notice(alice, room, blocked)

            # Only the delivered ones reached gina's client.
            texts = [c.text for _, c in await gatekeeper_inbox(stack, "gina", 2)]
            assert texts == ["one", "three"]
        finally:
            await alice.close()


async def test_a_poll_from_matrix_is_refused_visibly(db_url, tmp_path):
    async with running_stack(db_url, tmp_path) as stack:
        alice, _, alice_id = await opted_in_person(stack, "alice", tmp_path / "alice")
        record_everything(alice)
        try:
            room = await chat_opened_by(stack, alice, "gina", alice_id)
            poll = await send_event(alice, room, "org.matrix.msc3381.poll.start", {
                "org.matrix.msc3381.poll.start": {
                    "question": {"org.matrix.msc1767.text": "lunch?"},
                    "kind": "org.matrix.msc3381.poll.disclosed", "max_selections": 1,
                    "answers": [{"id": "a", "org.matrix.msc1767.text": "yes"},
                                {"id": "b", "org.matrix.msc1767.text": "no"}]},
                "org.matrix.msc1767.text": "lunch?\n1. yes\n2. no"})
            failed = await send_status(alice, room, poll, timeout=8)
            assert failed["status"] == "FAIL_PERMANENT"
            assert "polls are not supported" in failed["message"]
            assert "not delivered" in await failure_notice(alice, room, poll)
        finally:
            await alice.close()


async def test_a_user_whose_permission_was_taken_away_is_told_so(db_url, tmp_path):
    """Permissions hold for portal actions too: after the admins take a user's permission away
    (config changed, bridge restarted), that user's portal messages fail visibly."""
    async with running_stack(db_url, tmp_path) as stack:
        alice, _, alice_id = await opted_in_person(stack, "alice", tmp_path / "alice")
        record_everything(alice)
        try:
            room = await chat_opened_by(stack, alice, "gina", alice_id)

            yaml = YAML()
            config = yaml.load(stack.config_path.read_text())
            config["bridge"]["permissions"]["@alice:localhost"] = "none"
            with stack.config_path.open("w") as f:
                yaml.dump(config, f)
            await stack.restart_bridge()

            refused = await send_event(alice, room, "m.room.message", text("still there?"))
            failed = await send_status(alice, room, refused)
            assert failed["status"] == "FAIL_PERMANENT", failed
            assert "no longer let you use it" in failed["message"]
            assert "Ask the bridge's admins" in await failure_notice(alice, room, refused)
            status, inbox = await stack.admin.call("GET", "/gatekeeper-users/gina/inbox")
            assert status == 200
            assert not [e for e in inbox["entries"] if e["class"] == "message"], inbox
        finally:
            await alice.close()
