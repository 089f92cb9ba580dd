"""Fault injection: maintenance (503), admission rate (429), dropped and ended connections."""

from __future__ import annotations

import aiohttp

from .conftest import ADMIN_SECRET
from .helpers import Admin, ChatClient, ClientKeys, connect_user, enlist_user, eventually


async def test_unavailable_gateway_refuses_enlistment_and_admission(sandbox, partner):
    admin = Admin(sandbox, ADMIN_SECRET)
    keys, login = await enlist_user(sandbox, partner, "alice")
    status, faults = await admin.call("PUT", "/faults", {"unavailable": True, "retry_after": 7})
    assert status == 200 and faults["unavailable"] is True
    async with aiohttp.ClientSession() as http:
        form = ClientKeys().enlistment_form(partner.identity_token("bob"))
        async with http.post(f"{sandbox.config.base_url}/3p/interop_reg", data=form) as resp:
            assert resp.status == 503 and resp.headers["Retry-After"] == "7"
            assert await resp.json() == {"status": "fail", "reason": "unavailable"}
    client = ChatClient(sandbox, keys, login, partner.identity_token("alice"))
    try:
        await client.connect()
        assert client.refused is not None
        assert int(client.refused.error.code) == 503 and client.refused.error.retry_after == 7
    finally:
        await client.close()
    await admin.call("PUT", "/faults", {"unavailable": False})
    client = await connect_user(sandbox, partner, "alice", keys, login)
    assert client.opened is not None
    await client.close()


async def test_too_many_admissions_are_rate_limited(sandbox, partner):
    admin = Admin(sandbox, ADMIN_SECRET)
    await admin.call("PUT", "/faults", {"max_admissions": 2, "window": 60})
    keys, login = await enlist_user(sandbox, partner, "alice")
    for _ in range(2):
        client = await connect_user(sandbox, partner, "alice", keys, login)
        assert client.opened is not None
        await client.close()
    client = ChatClient(sandbox, keys, login, partner.identity_token("alice"))
    try:
        await client.connect()
        assert int(client.refused.error.code) == 429
        assert 1 <= client.refused.error.retry_after <= 60
    finally:
        await client.close()


async def test_admin_can_drop_or_end_a_connection(sandbox, partner):
    admin = Admin(sandbox, ADMIN_SECRET)
    keys, login = await enlist_user(sandbox, partner, "alice")
    client = await connect_user(sandbox, partner, "alice", keys, login)
    status, _ = await admin.call("POST", f"/partners/{login}/disconnect")
    assert status == 200
    await client.wait_closed()
    assert client.closed_with is None  # no stream error: the socket just went away
    await eventually(lambda: not sandbox.is_connected(login))
    await client.close()

    client = await connect_user(sandbox, partner, "alice", keys, login)
    await admin.call("POST", f"/partners/{login}/disconnect", {"code": 503, "text": "maint"})
    await client.wait_closed()
    assert (int(client.closed_with.error.code), client.closed_with.error.text) == (503, "maint")
    await client.close()
    status, _ = await admin.call("POST", f"/partners/{login}/disconnect")
    assert status == 404
