"""Connection notices and bridge state: a gateway outage forced by the sandbox is announced in
the management room once it lasts, with the bridge state (room state event, the push to
homeserver.status_endpoint, the bridge_state endpoint); a short drop is not; reconnecting says
"connected" again; refused credentials and an un-enlistment are explained (both engines)."""

from __future__ import annotations

import asyncio
import time
from typing import Self

import aiohttp
import pytest
from aiohttp import web
from nio import RoomGetStateEventResponse, RoomMessageNotice

from bridge.devstack.ports import free_port
from bridge.matrix.bridge_state import STATE_KEY
from tests.support.stack import running_stack

from .helpers import notice, opted_in_person

pytestmark = pytest.mark.synapse

LOST = "The connection to the gatekeeper is lost"
AGAIN = "Connected to the gatekeeper again"


class StatusReceiver:
    """What the homeserver's side would run at homeserver.status_endpoint."""

    def __init__(self) -> None:
        self.port = free_port()
        self.pushed: list[tuple[str, dict]] = []
        self.runner: web.AppRunner | None = None

    async def receive(self, request: web.Request) -> web.Response:
        self.pushed.append((request.headers.get("Authorization", ""), await request.json()))
        return web.json_response({})

    async def __aenter__(self) -> Self:
        app = web.Application()
        app.router.add_post("/status", self.receive)
        self.runner = web.AppRunner(app)
        await self.runner.setup()
        await web.TCPSite(self.runner, "127.0.0.1", self.port).start()
        return self

    async def __aexit__(self, *exc) -> None:
        await self.runner.cleanup()

    async def wait_for(self, state_event: str, error: str | None = None,
                       timeout: float = 30) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            for _, body in reversed(self.pushed):
                if body["state_event"] == state_event and (error is None
                                                           or body.get("error") == error):
                    return body
            assert time.monotonic() < deadline, self.pushed
            await asyncio.sleep(0.2)


async def room_bridge_state(person, room: str, state_event: str, timeout: float = 30) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        response = await person.client.room_get_state_event(room, "com.beeper.bridge_state",
                                                            STATE_KEY)
        if isinstance(response, RoomGetStateEventResponse) and \
                response.content.get("state_event") == state_event:
            return response.content
        assert time.monotonic() < deadline, response
        await asyncio.sleep(0.3)


def notices(person, room: str, text: str) -> list[str]:
    return [e.body for e in person.timeline.get(room, [])
            if isinstance(e, RoomMessageNotice) and text in e.body]


async def reconnected(client, count: int, timeout: float = 30) -> None:
    """Wait until the bridge's connection opened ``count`` times in all and is open."""
    deadline = time.monotonic() + timeout
    while client.connection.connect_count < count or client.connection.state.value != "open":
        assert time.monotonic() < deadline, client.connection.state
        await asyncio.sleep(0.1)


async def test_outage_notice_bridge_state_and_recovery(db_url, tmp_path):
    async with StatusReceiver() as receiver, running_stack(db_url, tmp_path, overrides={
            "homeserver.status_endpoint": f"http://127.0.0.1:{receiver.port}/status",
            "bridge.connection_notices.delay": 6,
            "gateway.reconnect_backoff_max": 2}) as stack:
        alice, room, alice_id = await opted_in_person(stack, "alice", tmp_path / "alice",
                                                      trusted_dm=True)
        try:
            # Opting in says "connected" and publishes it.
            await alice.wait_for(room, notice("Connected to the gatekeeper."))
            state = await room_bridge_state(alice, room, "CONNECTED")
            assert (state["user_id"], state["remote_id"]) == (alice.user_id, alice_id)
            auth, pushed = receiver.pushed[-1]
            assert auth == f"Bearer {stack.bridge.config['appservice.as_token']}"
            assert (pushed["state_event"], pushed["remote_name"]) == ("CONNECTED", "alice")
            client = stack.bridge.running.partners.client(alice.user_id)
            client.wake()
            await reconnected(client, 1)

            # A drop that heals at once is not mentioned.
            opened = client.connection.connect_count
            status, _ = await stack.admin.call("POST", f"/partners/{alice_id}/disconnect")
            assert status == 200
            await reconnected(client, opened + 1)

            # An outage that lasts: one notice, and the state says so everywhere.
            await stack.admin.call("PUT", "/faults", {"unavailable": True, "retry_after": 1})
            await stack.admin.call("POST", f"/partners/{alice_id}/disconnect")
            lost = await alice.wait_for(room, notice(LOST))
            assert "503" in lost.body
            assert notices(alice, room, LOST) == [lost.body]  # the short drop said nothing
            state = await room_bridge_state(alice, room, "TRANSIENT_DISCONNECT")
            assert state["error"] == "gateway-unreachable" and LOST in state["message"]
            await receiver.wait_for("TRANSIENT_DISCONNECT", "gateway-unreachable")

            async with aiohttp.ClientSession() as http:
                url = (f"{stack.bridge.config['appservice.address']}"
                       "/_matrix/app/com.beeper.bridge_state")
                token = {"Authorization": f"Bearer {stack.bridge.config['appservice.hs_token']}"}
                async with http.post(url, params={"user_id": alice.user_id},
                                     headers=token) as resp:
                    assert resp.status == 200
                    answer = await resp.json()
                assert answer["bridgeState"]["state_event"] == "RUNNING"
                assert answer["remoteState"][alice_id]["state_event"] == "TRANSIENT_DISCONNECT"
                async with http.post(url, params={"user_id": alice.user_id}) as resp:
                    assert resp.status == 401
                async with http.post(url, params={"user_id": "@nobody:localhost"},
                                     headers=token) as resp:
                    assert resp.status == 404

            # Back: "connected again", once.
            await stack.admin.call("PUT", "/faults", {"unavailable": False})
            await alice.wait_for(room, notice(AGAIN))
            await room_bridge_state(alice, room, "CONNECTED")
            await receiver.wait_for("CONNECTED")
            assert len(notices(alice, room, AGAIN)) == 1

            # Credentials refused: explained at once, bad credentials for dashboards; a
            # reconnect that works says "connected" again.
            await stack.admin.call("POST", f"/partners/{alice_id}/disconnect",
                                   {"code": 401, "text": "credentials refused"})
            await alice.wait_for(room, notice("did not accept this bridge's credentials"))
            state = await room_bridge_state(alice, room, "BAD_CREDENTIALS")
            assert state["error"] == "gateway-credentials-refused"
            await client.close()
            client.wake()
            await alice.wait_for(room, lambda e: len(notices(alice, room, AGAIN)) == 2)
            await room_bridge_state(alice, room, "CONNECTED")

            # Un-enlisted by the gateway: explained, and the account needs a new opt-in.
            status, _ = await stack.admin.call("POST", f"/partners/{alice_id}/unenlist")
            assert status == 200
            await alice.wait_for(room, notice("removed your third-party chats account"))
            state = await room_bridge_state(alice, room, "BAD_CREDENTIALS")
            assert state["error"] == "gateway-unenlisted"
            await receiver.wait_for("BAD_CREDENTIALS", "gateway-unenlisted")
        finally:
            await alice.close()
