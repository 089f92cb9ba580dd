"""Refusals between a partner and a simulated gatekeeper user (protocol §7.1, §8)."""

from __future__ import annotations

from bridge.content import Text

from .simulated_support import PartnerSide, simulated_gina


def error_code(ack) -> int | None:
    error = ack.child("error")
    return int(error.attrs["code"]) if error is not None else None


async def test_messages_to_a_user_who_has_not_opted_in_are_refused_with_403(sandbox, partner):
    admin, gina = await simulated_gina(sandbox)
    alice = await PartnerSide.enlist(sandbox, partner)
    try:
        await admin.call("POST", "/gatekeeper-users/gina/send/text", {"to": "alice", "text": "hi"})
        await alice.receive_content(gina)
        assert error_code(await alice.send_content(gina, Text(text="one"))) is None

        assert (await admin.call("POST", "/gatekeeper-users/gina/opt-out"))[0] == 200
        ack = await alice.send_content(gina, Text(text="two"), stanza_id="A2")
        assert error_code(ack) == 403 and ack.child("error").attrs["text"] == "not opted in"
        # Nor can gina send while opted out.
        status, answer = await admin.call("POST", "/gatekeeper-users/gina/send/text",
                                          {"to": "alice", "text": "x"})
        assert status == 403 and answer["error"] == "not_opted_in"

        await admin.call("POST", "/gatekeeper-users/gina/opt-in")
        assert error_code(await alice.send_content(gina, Text(text="three"))) is None
        _, inbox = await admin.call("GET", "/gatekeeper-users/gina/inbox")
        assert [e["content"]["text"] for e in inbox["entries"]] == ["one", "three"]
    finally:
        await alice.client.close()


async def test_blocked_senders_are_refused_with_409_both_ways(sandbox, partner):
    admin, gina = await simulated_gina(sandbox)
    alice = await PartnerSide.enlist(sandbox, partner)
    try:
        await admin.call("POST", "/gatekeeper-users/gina/send/text", {"to": "alice", "text": "hi"})
        await alice.receive_content(gina)

        # Gina blocks alice: alice's messages are refused, and so are gina's to her.
        await admin.call("POST", f"/blocks/{gina}", {"address": alice.login})
        ack = await alice.send_content(gina, Text(text="let me in"), stanza_id="A1")
        assert error_code(ack) == 409
        status, answer = await admin.call("POST", "/gatekeeper-users/gina/send/text",
                                          {"to": "alice", "text": "x"})
        assert status == 200 and answer["error"]["code"] == 409

        await admin.call("DELETE", f"/blocks/{gina}/{alice.login}")
        assert error_code(await alice.send_content(gina, Text(text="thanks"))) is None
        _, inbox = await admin.call("GET", "/gatekeeper-users/gina/inbox")
        assert [e["content"]["text"] for e in inbox["entries"]] == ["thanks"]
    finally:
        await alice.client.close()
