"""Retry receipts both ways: an undecryptable message is answered with a retry receipt, and a
retry receipt for one of ours makes the bridge encrypt it again and resend it (both engines)."""

from __future__ import annotations

import asyncio
import base64
import json
import time

import pytest

from bridge.content import Text
from tests.support.stack import running_stack

from .helpers import (gatekeeper_inbox, join_invited_room, opted_in_person, send_as_gatekeeper,
                      simulated_user)

pytestmark = pytest.mark.synapse


async def send_stanza(stack, username: str, stanza: dict) -> None:
    status, reply = await stack.admin.call("POST", f"/gatekeeper-users/{username}/stanzas",
                                           {"stanza": stanza})
    assert status == 200, reply


async def test_retry_receipts_both_ways(db_url, tmp_path):
    async with running_stack(db_url, tmp_path) as stack:
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
            [(entry_again, content_again)] = await gatekeeper_inbox(stack, "gina", 1)
            assert content_again.text == "please read me"
        finally:
            await alice.close()
