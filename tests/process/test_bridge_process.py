"""The bridge process against a real Synapse homeserver on loopback, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import signal
import time

import aiohttp
import pytest

from bridge.devstack.bridge_config import write_bridge_config
from bridge.devstack.ports import free_port
from bridge.devstack.synapse import LocalSynapse
from tests.support.bridge_process import BridgeProcess

pytestmark = pytest.mark.synapse


@pytest.fixture
async def stack(db_url, tmp_path):
    synapse_port = free_port()
    config_path, registration_path = write_bridge_config(
        tmp_path / "bridge", homeserver=f"http://127.0.0.1:{synapse_port}", domain="localhost",
        port=free_port(), database=db_url,
    )
    synapse = LocalSynapse(tmp_path / "synapse", port=synapse_port,
                           registrations=[registration_path])
    processes: list[BridgeProcess] = []

    def start_bridge(env: dict[str, str] | None = None) -> BridgeProcess:
        process = BridgeProcess(config_path, env)
        processes.append(process)
        return process

    try:
        yield synapse, start_bridge
    finally:
        for process in processes:
            process.kill()
        synapse.stop()


async def client_request(synapse: LocalSynapse, method: str, path: str, token: str,
                         body: dict | None = None) -> dict:
    async with (
        aiohttp.ClientSession(headers={"Authorization": f"Bearer {token}"}) as http,
        http.request(method, f"{synapse.address}/_matrix/client/v3{path}", json=body) as resp,
    ):
        data = await resp.json()
        assert resp.status == 200, data
        return data


async def test_bridge_waits_for_the_homeserver_registers_its_bot_and_stops_cleanly(stack):
    synapse, start_bridge = stack
    synapse.configure()
    bridge = start_bridge()
    # No homeserver yet: the bridge says so and keeps trying with growing delays.
    await bridge.wait_for_log("is not reachable yet")
    await bridge.wait_for_log("retrying in 2 s")
    await synapse.start()
    await bridge.wait_for_log("the bridge is ready")

    person = await synapse.register_user("alice", "alice-password")
    token = person["access_token"]
    profile = await client_request(synapse, "GET", "/profile/@interopbot:localhost", token)
    assert profile["displayname"] == "Third-party chats bridge"

    # A transaction travels Synapse -> durable inbox -> handler: the bot accepts the invite.
    room = await client_request(synapse, "POST", "/createRoom", token,
                                {"invite": ["@interopbot:localhost"], "is_direct": True})
    room_id = room["room_id"]
    deadline = time.monotonic() + 30
    while True:
        members = await client_request(synapse, "GET", f"/rooms/{room_id}/joined_members", token)
        if "@interopbot:localhost" in members["joined"]:
            break
        assert time.monotonic() < deadline, bridge.log
        await asyncio.sleep(0.2)

    bridge.process.send_signal(signal.SIGTERM)
    assert await bridge.wait_exit() == 0
    assert "Stopped" in bridge.log
    assert "Traceback" not in bridge.log, bridge.log


async def test_invites_from_users_without_permission_are_refused(stack):
    synapse, start_bridge = stack
    await synapse.start()
    bridge = start_bridge({"INTEROP_BRIDGE__BRIDGE__PERMISSIONS__LOCALHOST": "none"})
    await bridge.wait_for_log("the bridge is ready")
    person = await synapse.register_user("mallory", "mallory-password")
    room = await client_request(synapse, "POST", "/createRoom", person["access_token"],
                                {"invite": ["@interopbot:localhost"]})
    await bridge.wait_for_log("Refusing invite from @mallory:localhost")
    members = await client_request(synapse, "GET", f"/rooms/{room['room_id']}/joined_members",
                                   person["access_token"])
    assert "@interopbot:localhost" not in members["joined"]
    bridge.process.send_signal(signal.SIGTERM)
    assert await bridge.wait_exit() == 0


async def test_wrong_as_token_stops_with_an_explanation(stack):
    synapse, start_bridge = stack
    await synapse.start()
    bridge = start_bridge({"INTEROP_BRIDGE__APPSERVICE__AS_TOKEN": "not-the-registered-token"})
    assert await bridge.wait_exit() == 1
    assert "does not know this bridge's as_token" in bridge.log
    assert "app_service_config_files" in bridge.log


async def test_sigterm_during_start_up_exits_promptly(stack):
    _, start_bridge = stack
    bridge = start_bridge()
    await bridge.wait_for_log("is not reachable yet")
    bridge.process.send_signal(signal.SIGTERM)
    assert await bridge.wait_exit(timeout=15) == 0
    assert "Stop requested during start-up" in bridge.log
