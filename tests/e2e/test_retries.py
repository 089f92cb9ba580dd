"""Retry receipts both ways: an undecryptable message is answered with a retry receipt, and a
retry receipt for one of ours makes the bridge encrypt it again and resend it (both engines)."""

from __future__ import annotations

import asyncio
import base64
import json
import time

import aiohttp
import pytest

from bridge.content import Text
from bridge.devstack.ports import free_port
from tests.support.stack import running_stack

from .helpers import (
    chat_opened_by,
    gatekeeper_inbox,
    join_invited_room,
    opted_in_person,
    record_everything,
    send_as_gatekeeper,
    send_status,
    simulated_user,
)

pytestmark = pytest.mark.synapse


async def send_stanza(stack, username: str, stanza: dict) -> None:
    status, reply = await stack.admin.call("POST", f"/gatekeeper-users/{username}/stanzas",
                                           {"stanza": stanza})
    assert status == 200, reply


async def scrape(port: int) -> dict[str, float]:
    async with (
        aiohttp.ClientSession() as http,
        http.get(f"http://127.0.0.1:{port}/metrics") as resp,
    ):
        assert resp.status == 200
        text = await resp.text()
    return {line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1])
            for line in text.splitlines() if line and not line.startswith("#")}


async def test_retry_receipts_both_ways(db_url, tmp_path):
    port = free_port()
    async with running_stack(db_url, tmp_path, overrides={"metrics.enabled": True,
                                                          "metrics.port": port}) as stack:
        alice, _, alice_id = await opted_in_person(stack, "alice", tmp_path / "alice")
        try:
            gina = await simulated_user(stack, "gina")
            await send_as_gatekeeper(stack, "gina", alice_id, Text(text="first, readable"))
            portal_room = await join_invited_room(alice)

            # Garbage in an otherwise valid message: the bridge cannot decrypt it and asks again.
            await send_stanza(stack, "gina", {
                "tag": "message", "attrs": {"id": "BROKEN-1", "to": alice_id, "type": "text"},
                "children": [{"tag": "enc", "attrs": {"v": "2", "type": "msg"},
                              "bytes": base64.b64encode(b"\x33not a signal message").decode()}]})
            deadline = time.monotonic() + 30
            while True:
                status, inbox = await stack.admin.call("GET", "/gatekeeper-users/gina/inbox")
                retries = [e for e in inbox["entries"]
                           if e["class"] == "receipt" and e.get("type") == "retry"]
                if retries:
                    break
                assert time.monotonic() < deadline, inbox
                await asyncio.sleep(0.3)
            assert retries[0]["id"] == "BROKEN-1" and retries[0]["from"] == alice_id

            # Gina says she could not decrypt Alice's message: the bridge sends it again.
            await alice.send_text(portal_room, "please read me")
            [(entry, content)] = await gatekeeper_inbox(stack, "gina", 1)
            assert content.text == "please read me"
            await send_stanza(stack, "gina", {
                "tag": "receipt",
                "attrs": {"id": entry["id"], "to": alice_id, "type": "retry", "t": "1"},
                "children": [{"tag": "retry", "attrs": {"count": "1", "id": entry["id"],
                                                        "t": "1", "v": "1"}},
                             {"tag": "registration", "attrs": {},
                              "bytes": base64.b64encode(b"\x00\x00\x00\x01").decode()}]})
            # Gina already took the first copy, so what waits for her now is the resend.
            deadline = time.monotonic() + 30
            while True:
                status, mailbox = await stack.admin.call("GET", f"/mailbox/{gina}")
                assert status == 200, mailbox
                resent = [e for e in mailbox["entries"] if e.get("id") == entry["id"]]
                if resent:
                    break
                assert time.monotonic() < deadline, mailbox
                await asyncio.sleep(0.3)
            assert '"count": "1"' in json.dumps(resent[0]), resent
            [(_entry_again, content_again)] = await gatekeeper_inbox(stack, "gina", 1)
            assert content_again.text == "please read me"

            metrics = await scrape(port)
            assert metrics['bridge_decrypt_failures_total{layer="signal"}'] == 1
            assert metrics['bridge_retries_total{kind="retry_receipt_sent"}'] == 1
            assert metrics['bridge_retries_total{kind="resent_for_retry_receipt"}'] == 1
        finally:
            await alice.close()


async def test_a_matrix_message_the_bridge_cannot_decrypt_fails_visibly(db_url, tmp_path):
    """Megolm from a session whose key never reaches the bridge (nor does the sender's device
    answer the bridge's key request): the sender sees a failure saying so, nothing goes out,
    and the room keeps working."""
    port = free_port()
    async with running_stack(db_url, tmp_path, overrides={"metrics.enabled": True,
                                                          "metrics.port": port}) as stack:
        alice, _, alice_id = await opted_in_person(stack, "alice", tmp_path / "alice")
        record_everything(alice)
        try:
            room = await chat_opened_by(stack, alice, "gina", alice_id)
            olm = alice.client.olm
            lost = {"algorithm": "m.megolm.v1.aes-sha2",
                    "sender_key": olm.account.identity_keys["curve25519"],
                    "device_id": alice.client.device_id,
                    "session_id": base64.b64encode(b"a session nobody shared").decode(),
                    "ciphertext": base64.b64encode(b"\x03" + bytes(64)).decode()}
            # Around nio, which would encrypt the event once more.
            url = (f"{stack.synapse.address}/_matrix/client/v3/rooms/{room}/send/"
                   f"m.room.encrypted/lost-key-1")
            async with (
                aiohttp.ClientSession() as http,
                http.put(url, json=lost, headers={
                    "Authorization": f"Bearer {alice.client.access_token}"}) as resp,
            ):
                assert resp.status == 200, await resp.text()
                event_id = (await resp.json())["event_id"]

            failed = await send_status(alice, room, event_id, timeout=60)
            assert failed["status"] == "FAIL_PERMANENT", failed
            assert failed["reason"] == "com.beeper.undecryptable_event"
            assert "could not decrypt" in failed["message"]
            assert (await scrape(port))['bridge_decrypt_failures_total{layer="matrix"}'] == 1

            await alice.send_text(room, "this one has its key")
            [(_, content)] = await gatekeeper_inbox(stack, "gina", 1)
            assert content.text == "this one has its key"
        finally:
            await alice.close()
