"""The provisioning API: each call's happy path and its refusals (bad secret, bad arguments,
unknown user, not opted in, no permission), against the real stack (both engines)."""

from __future__ import annotations

import aiohttp
import pytest

from bridge.devstack.ports import free_port
from tests.support.matrix_client import PersonClient
from tests.support.stack import running_stack

from .helpers import simulated_user

pytestmark = pytest.mark.synapse

SECRET = "provisioning-secret-for-tests"


async def test_provisioning_api(db_url, tmp_path):
    port = free_port()
    overrides = {"provisioning.enabled": True, "provisioning.port": port,
                 "provisioning.shared_secret": SECRET,
                 "bridge.permissions": {"localhost": "user", "elsewhere.example": "none"}}
    async with running_stack(db_url, tmp_path, overrides=overrides) as stack:
        alice = await PersonClient.create(stack.synapse, "alice", tmp_path / "alice")
        base = f"http://127.0.0.1:{port}/_interop/provision/v1"
        auth = {"Authorization": f"Bearer {SECRET}"}
        try:
            async with aiohttp.ClientSession() as http:
                async def call(method, path, *, body=None, params=None, headers=auth):
                    async with http.request(method, base + path, json=body, params=params,
                                            headers=headers) as resp:
                        return resp.status, await resp.json()

                # Refusals that come before anything else.
                status, error = await call("GET", "/status", params={"user_id": alice.user_id},
                                           headers={})
                assert (status, error["errcode"]) == (401, "M_UNKNOWN_TOKEN")
                status, error = await call("GET", "/status", params={"user_id": alice.user_id},
                                           headers={"Authorization": "Bearer wrong"})
                assert status == 401
                status, error = await call("GET", "/status", params={"user_id": "alice"})
                assert (status, error["errcode"]) == (400, "M_INVALID_PARAM")
                status, error = await call("GET", "/status",
                                           params={"user_id": "@eve:elsewhere.example"})
                assert (status, error["errcode"]) == (403, "M_FORBIDDEN")

                status, body = await call("GET", "/status", params={"user_id": alice.user_id})
                assert status == 200 and body["state"] == "not_opted_in"
                status, error = await call("GET", "/blocklist",
                                           params={"user_id": alice.user_id})
                assert (status, error["errcode"]) == (409, "IO_NOT_OPTED_IN")
                status, error = await call("POST", "/opt-in", body={"user_id": alice.user_id})
                assert (status, error["errcode"]) == (400, "IO_DISCLOSURE_REQUIRED")

                status, body = await call("POST", "/opt-in", body={
                    "user_id": alice.user_id, "disclosure_acknowledged": True})
                assert status == 200 and body["state"] == "active"
                assert body["user_visible_id"] == "alice"

                hugo = await simulated_user(stack, "hugo")
                status, error = await call("POST", "/start-chat",
                                           body={"user_id": alice.user_id,
                                                 "username": "nobody"})
                assert (status, error["errcode"]) == (404, "IO_UNKNOWN_USER")
                status, body = await call("POST", "/start-chat", body={
                    "user_id": alice.user_id, "username": "hugo"})
                assert status == 200 and body["room_id"].startswith("!")

                status, error = await call("PUT", "/inbox", body={"user_id": alice.user_id,
                                                                  "inbox": "attic"})
                assert status == 400
                status, body = await call("PUT", "/inbox", body={"user_id": alice.user_id,
                                                                 "inbox": "main"})
                assert status == 200 and body == {"inbox": "main", "moved": 1}

                status, body = await call("POST", "/blocklist", body={
                    "user_id": alice.user_id, "username": "hugo"})
                assert status == 200 and body["blocked"] == hugo
                status, body = await call("GET", "/blocklist", params={"user_id": alice.user_id})
                assert body["blocked"] == [hugo]
                status, body = await call("DELETE", "/blocklist/hugo",
                                          params={"user_id": alice.user_id})
                assert status == 200
                status, body = await call("GET", "/blocklist", params={"user_id": alice.user_id})
                assert body["blocked"] == []

                status, body = await call("POST", "/opt-out", body={"user_id": alice.user_id})
                assert status == 200
                status, error = await call("POST", "/opt-out", body={"user_id": alice.user_id})
                assert (status, error["errcode"]) == (409, "IO_NOT_OPTED_IN")
                async with http.post(base + "/opt-out", data=b"{", headers=auth) as resp:
                    assert resp.status == 400 and (await resp.json())["errcode"] == "M_NOT_JSON"
        finally:
            await alice.close()
