"""Every provisioning call's refusals, call by call, against the real stack (both engines): no
or a wrong secret, a user ID that is not one, a user of a homeserver the bridge does not serve,
missing or bad arguments, not opted in, an unknown gatekeeper user. The happy paths are in
test_provisioning.py."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest

from bridge.devstack.ports import free_port
from tests.support.stack import running_stack

from .helpers import simulated_user

pytestmark = pytest.mark.synapse

SECRET = "provisioning-secret-for-tests"
ALICE = "@alice:localhost"  # opts in below
BOB = "@bob:localhost"  # never opts in
EVE = "@eve:elsewhere.example"  # another homeserver: not served by default


def request_for(call: str, user: Any, **extra: Any) -> tuple[str, str, dict, dict]:
    """(method, path, json body, query) for ``call`` made on behalf of ``user``."""
    method, path = call.split(" ", 1)
    if method in ("GET", "DELETE"):
        return method, path, {}, {"user_id": user} if user is not None else {}
    body = {"user_id": user} if user is not None else {}
    body.update(extra)
    return method, path, body, {}


CALLS = ["GET /status", "POST /opt-in", "POST /opt-out", "POST /start-chat", "PUT /inbox",
         "GET /blocklist", "POST /blocklist", "DELETE /blocklist/carol"]

#: (call, user, extra body fields, expected status, expected errcode)
SPECIFIC_REFUSALS = [
    ("POST /opt-in", BOB, {}, 400, "IO_DISCLOSURE_REQUIRED"),
    ("POST /opt-in", BOB, {"disclosure_acknowledged": "yes"}, 400, "IO_DISCLOSURE_REQUIRED"),
    ("POST /opt-out", BOB, {}, 409, "IO_NOT_OPTED_IN"),
    ("POST /start-chat", BOB, {"username": "carol"}, 409, "IO_NOT_OPTED_IN"),
    ("POST /start-chat", ALICE, {}, 400, "M_INVALID_PARAM"),
    ("POST /start-chat", ALICE, {"username": 7}, 400, "M_INVALID_PARAM"),
    ("POST /start-chat", ALICE, {"username": "nobody"}, 404, "IO_UNKNOWN_USER"),
    ("POST /start-chat", ALICE, {"username": "dora"}, 409, "IO_CONTACT_NOT_OPTED_IN"),
    ("PUT /inbox", ALICE, {}, 400, "M_INVALID_PARAM"),
    ("PUT /inbox", ALICE, {"inbox": "sideways"}, 400, "M_INVALID_PARAM"),
    ("GET /blocklist", BOB, {}, 409, "IO_NOT_OPTED_IN"),
    ("POST /blocklist", BOB, {"username": "carol"}, 409, "IO_NOT_OPTED_IN"),
    ("POST /blocklist", ALICE, {}, 400, "M_INVALID_PARAM"),
    ("POST /blocklist", ALICE, {"username": "nobody"}, 404, "IO_UNKNOWN_USER"),
    ("DELETE /blocklist/carol", BOB, {}, 409, "IO_NOT_OPTED_IN"),
    ("DELETE /blocklist/nobody", ALICE, {}, 404, "IO_UNKNOWN_USER"),
]


async def test_every_provisioning_call_refuses_clearly(db_url, tmp_path):
    port = free_port()
    overrides = {"provisioning.enabled": True, "provisioning.port": port,
                 "provisioning.shared_secret": SECRET,
                 "bridge.permissions": {"localhost": "user"}}
    async with running_stack(db_url, tmp_path, overrides=overrides) as stack:
        await simulated_user(stack, "carol")
        status, _ = await stack.admin.call("POST", "/gatekeeper-users",
                                           {"username": "dora", "opted_in": False})
        assert status == 201
        base = f"http://127.0.0.1:{port}/_interop/provision/v1"
        good = {"Authorization": f"Bearer {SECRET}"}
        async with aiohttp.ClientSession() as http:
            async def call(name: str, user: Any, headers: dict[str, str] = good,
                           **extra: Any) -> tuple[int, dict]:
                method, path, body, query = request_for(name, user, **extra)
                async with http.request(method, base + path, params=query,
                                        json=body if method not in ("GET", "DELETE") else None,
                                        headers=headers) as resp:
                    return resp.status, await resp.json()

            wrong = []
            for name in CALLS:
                for headers, expected in (({}, (401, "M_UNKNOWN_TOKEN")),
                                          ({"Authorization": "Bearer not-it"},
                                           (401, "M_UNKNOWN_TOKEN"))):
                    status, error = await call(name, BOB, headers=headers)
                    if (status, error.get("errcode")) != expected:
                        wrong.append((name, "secret", status, error))
                for user, expected in ((None, (400, "M_INVALID_PARAM")),
                                       ("alice", (400, "M_INVALID_PARAM")),
                                       (EVE, (403, "M_FORBIDDEN"))):
                    status, error = await call(name, user, disclosure_acknowledged=True,
                                               username="carol", inbox="main")
                    if (status, error.get("errcode")) != expected:
                        wrong.append((name, user, status, error))

            status, body = await call("POST /opt-in", ALICE, disclosure_acknowledged=True)
            assert status == 200 and body["state"] == "active", body
            for name, user, extra, *expected in SPECIFIC_REFUSALS:
                status, error = await call(name, user, **extra)
                if [status, error.get("errcode")] != expected:
                    wrong.append((name, user, extra, status, error))
            assert not wrong, wrong

            # None of it changed anything: Bob is still out, Alice blocks nobody.
            assert (await call("GET /status", BOB))[1]["state"] == "not_opted_in"
            assert (await call("GET /blocklist", ALICE))[1] == {"blocked": []}
