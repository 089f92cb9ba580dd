"""Media from Matrix is hosted, encrypted, for the gatekeeper to fetch. When the message carrying
it fails for good (the recipient is not opted in, blocked them), the blob is withdrawn: the
gateway's media proxy gets 404 for it, while media of delivered messages stays fetchable. Both
engines."""

from __future__ import annotations

import aiohttp
import pytest
from nio import RoomMessageText

from bridge.chats.to_gateway import stanza_id_for
from bridge.content import Text
from tests.support.stack import running_stack

from . import samples
from .helpers import (
    gatekeeper_inbox,
    join_invited_room,
    opted_in_person,
    record_everything,
    send_as_gatekeeper,
    send_event,
    send_status,
    simulated_user,
    upload_encrypted,
    wait_event,
)

pytestmark = pytest.mark.synapse


def hosted_paths(stack) -> list[str]:
    """Every download path the bridge hands out, recorded on the way (the real store runs)."""
    hosted = stack.bridge.running.hosted_media
    paths: list[str] = []
    store = hosted.store

    async def recording_store(owner, blob, message_id=None):
        path = await store(owner, blob, message_id)
        paths.append(path)
        return path

    hosted.store = recording_store
    return paths


async def proxy_status(stack, path: str) -> int:
    """What the gatekeeper's apps get from the gateway's media proxy for a partner-hosted path."""
    async with aiohttp.ClientSession() as http, \
            http.get(stack.admin.base_url.rstrip("/") + path) as resp:
        await resp.read()
        return resp.status


async def rows_for(stack, event_id: str) -> int:
    return await stack.bridge.running.db.fetchval(
        "SELECT COUNT(*) FROM hosted_media WHERE message_id=$1", stanza_id_for(event_id))


async def send_image(person, room: str, name: str) -> str:
    file = await upload_encrypted(person, samples.png())
    return await send_event(person, room, "m.room.message", {
        "msgtype": "m.image", "body": name, "file": file,
        "info": {"mimetype": "image/png", "size": len(samples.png())}})


async def test_media_of_a_failed_send_is_withdrawn(db_url, tmp_path):
    async with running_stack(db_url, tmp_path) as stack:
        alice, _, alice_id = await opted_in_person(stack, "alice", tmp_path / "alice")
        record_everything(alice)
        paths = hosted_paths(stack)
        try:
            gina = await simulated_user(stack, "gina")
            await send_as_gatekeeper(stack, "gina", alice_id, Text(text="hi"))
            room = await join_invited_room(alice)
            await wait_event(alice, room, lambda e: isinstance(e, RoomMessageText))

            # Delivered: gina's app fetched it, and it stays fetchable.
            delivered = await send_image(alice, room, "kept.png")
            assert (await send_status(alice, room, delivered))["status"] == "SUCCESS"
            [(entry, _)] = await gatekeeper_inbox(stack, "gina", 1)
            assert entry["download"]["verified"] is True, entry
            [kept] = paths
            assert entry["content"]["media"]["path"] == kept

            # Gina turned third-party chats off: refused by the gateway, blob withdrawn.
            status, _ = await stack.admin.call("POST", "/gatekeeper-users/gina/opt-out")
            assert status == 200
            not_opted_in = await send_image(alice, room, "refused.png")
            failed = await send_status(alice, room, not_opted_in)
            assert failed["status"] == "FAIL_PERMANENT", failed
            refused_path = paths[-1]
            assert refused_path != kept
            assert await rows_for(stack, not_opted_in) == 0
            assert await proxy_status(stack, refused_path) == 404

            # Gina blocked Alice: refused as blocked, blob withdrawn.
            status, _ = await stack.admin.call("POST", "/gatekeeper-users/gina/opt-in")
            assert status == 200
            status, _ = await stack.admin.call("POST", f"/blocks/{gina}", {"address": alice_id})
            assert status == 200
            blocked = await send_image(alice, room, "blocked.png")
            failed = await send_status(alice, room, blocked)
            assert failed["status"] == "FAIL_PERMANENT" and "blocked" in failed["message"]
            blocked_path = paths[-1]
            assert blocked_path not in (kept, refused_path)
            assert await rows_for(stack, blocked) == 0
            assert await proxy_status(stack, blocked_path) == 404

            # Withdrawing is per message: the delivered image is still there.
            assert await rows_for(stack, delivered) == 1
            assert await proxy_status(stack, kept) == 200
        finally:
            await alice.close()
