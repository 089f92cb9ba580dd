"""Account lifecycle: idle un-enlistment, deletion (opt-out), and the admin API's guard."""

from __future__ import annotations

import aiohttp
import pytest

from bridge.gateway.codec import Node

from .conftest import ADMIN_SECRET
from .helpers import Admin, ChatClient, connect_user, enlist_user, eventually
from .test_mailbox import drain, make_gatekeeper_user, send_as_gatekeeper


async def test_unenlisted_after_30_idle_days(sandbox, partner):
    admin = Admin(sandbox, ADMIN_SECRET)
    idle_keys, idle = await enlist_user(sandbox, partner, "idle")
    active_keys, active = await enlist_user(sandbox, partner, "active")
    await admin.call("POST", "/clock/advance", {"days": 20})
    # Connecting counts as activity.
    client = await connect_user(sandbox, partner, "active", active_keys, active)
    await client.close()
    await eventually(lambda: not sandbox.is_connected(active))
    status, body = await admin.call("POST", "/clock/advance", {"days": 10, "seconds": 60})
    assert status == 200
    assert body["housekeeping"]["unenlisted"] == [idle]
    assert await sandbox.partners.get(idle) is None
    assert await sandbox.partners.get(active) is not None
    status, body = await admin.call("GET", f"/partners/{idle}")
    assert status == 404 and "idle" in body["message"]

    # The un-enlisted client is refused with 401 and must enlist again: it gets a new login.
    refused = ChatClient(sandbox, idle_keys, idle,
                         partner.identity_token("idle", now=sandbox.clock.now()))
    try:
        await refused.connect()
        assert refused.opened is None and int(refused.refused.error.code) == 401
    finally:
        await refused.close()
    _, new_login = await enlist_user(sandbox, partner, "idle", idle_keys)
    assert new_login != idle


async def test_a_connected_user_is_not_unenlisted(sandbox, partner):
    keys, login = await enlist_user(sandbox, partner, "alice")
    client = await connect_user(sandbox, partner, "alice", keys, login)
    try:
        sandbox.clock.advance(40 * 86400)
        assert (await sandbox.housekeeping())["unenlisted"] == []
    finally:
        await client.close()


async def test_deletion_request_removes_the_user_and_tells_contacts(sandbox, partner):
    admin = Admin(sandbox, ADMIN_SECRET)
    alice_keys, alice = await enlist_user(sandbox, partner, "alice")
    bob_keys, bob = await enlist_user(sandbox, partner, "bob")
    await make_gatekeeper_user(admin, "gina")
    await send_as_gatekeeper(admin, "gina", alice, "G1")   # gina is alice's contact
    alice_client = await connect_user(sandbox, partner, "alice", alice_keys, alice)
    bob_client = await connect_user(sandbox, partner, "bob", bob_keys, bob)
    try:
        await drain(alice_client)
        await drain(bob_client)
        # bob fetched alice's bundle: he is a contact too.
        await bob_client.request(Node("iq", {"id": "k", "type": "get", "xmlns": "encrypt"},
                                          [Node("key", {}, [Node("user", {"jid": alice})])]))
        reply = await alice_client.request(Node("iq", {"id": "del", "type": "set",
                                                       "xmlns": "deletion"}, [Node("delete")]))
        assert reply.attrs["type"] == "result"
        await alice_client.wait_closed()
        assert alice_client.closed_with is not None
        assert (int(alice_client.closed_with.error.code), alice_client.closed_with.error.text) == (
            401, "deleted")
        assert await sandbox.partners.get(alice) is None
        assert await sandbox.mailbox.count(alice) == 0
        note = await bob_client.receive_until(lambda n: n.tag == "notification")
        assert note.attrs["type"] == "opt-out" and note.attrs["from"] == alice
        _, received = await admin.call("GET", "/gatekeeper-users/gina/received")
        assert [(e["class"], e["stanza"]["attrs"]["type"]) for e in received["entries"]] == [
            ("notification", "opt-out")]
        # Messages to the deleted user are refused as unknown.
        ack = await send_as_gatekeeper(admin, "gina", alice, "G2")
        assert ack["children"][0]["attrs"]["code"] == "404"
    finally:
        await alice_client.close()
        await bob_client.close()


@pytest.mark.parametrize("method, path", [
    ("GET", "/partners"), ("POST", "/gatekeeper-users"), ("GET", "/mailbox/x"),
    ("POST", "/clock/advance"), ("POST", "/blocks/x"), ("GET", "/stats"),
    ("POST", "/gatekeeper-users/x/messages"), ("GET", "/nonexistent"),
])
async def test_admin_api_refuses_requests_without_its_secret(sandbox, method, path):
    admin = Admin(sandbox, ADMIN_SECRET)
    for secret in ("", "wrong", ADMIN_SECRET + "x", ADMIN_SECRET[:-1]):
        status, body = await admin.call(method, path, {"username": "u"}, secret=secret)
        assert status == 401, (secret, body)
        assert body["error"] == "unauthorized"
    # no Authorization header at all
    async with aiohttp.ClientSession() as http, http.request(method, admin.base + path) as resp:
        assert resp.status == 401
        assert (await resp.json())["error"] == "unauthorized"


async def test_admin_api_works_with_its_secret(sandbox, partner):
    admin = Admin(sandbox, ADMIN_SECRET)
    _, login = await enlist_user(sandbox, partner, "alice")
    status, body = await admin.call("GET", "/partners")
    assert status == 200
    assert [p["internal_id"] for p in body["partners"]] == [login]
    assert body["partners"][0]["visible_id"] == "alice"
    status, body = await admin.call("POST", "/gatekeeper-users", {"username": "gina"})
    assert status == 201 and body["opted_in"] is True and body["address"].endswith("@gk")
    assert (await admin.call("POST", "/gatekeeper-users", {"username": "gina"}))[0] == 409
    assert (await admin.call("POST", "/gatekeeper-users/gina/opt-out"))[1]["opted_in"] is False
    assert (await admin.call("GET", "/gatekeeper-users/gina"))[1]["opted_in"] is False
    assert (await admin.call("POST", f"/blocks/{body['address']}", {"address": login}))[1][
        "blocked"] == [login]
    assert (await admin.call("DELETE", f"/blocks/{body['address']}/{login}"))[1]["blocked"] == []


async def test_admin_api_is_off_without_a_configured_secret(sandbox_factory):
    sandbox = await sandbox_factory(admin_secret="", db_name="nosecret.db")
    status, _ = await Admin(sandbox, "").call("GET", "/partners")
    assert status == 401


async def test_clock_cannot_move_without_test_clock(sandbox_factory):
    from bridge.sandbox.clock import SystemClock

    sandbox = await sandbox_factory(test_clock=False, db_name="realclock.db")
    sandbox.clock = SystemClock()
    status, _ = await Admin(sandbox, ADMIN_SECRET).call("POST", "/clock/advance", {"days": 1})
    assert status == 403


async def test_admin_api_answers_in_json_when_a_request_is_bad_or_fails(sandbox):
    admin = Admin(sandbox, ADMIN_SECRET)
    async with (
        aiohttp.ClientSession() as http,
        http.post(admin.base + "/gatekeeper-users", data=b"{not json",
                  headers={"Authorization": f"Bearer {ADMIN_SECRET}"}) as resp,
    ):
        assert resp.status == 400
        assert (await resp.json())["error"] == "bad_request"
    # The sandbox's database gone from under it: a failure, still answered in JSON.
    await sandbox.db.stop()
    status, body = await admin.call("GET", "/gatekeeper-users")
    assert status == 500 and body["error"] == "internal_error", body
