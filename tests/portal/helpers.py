"""A real Synapse with the bridge in-process, where the bridge can be restarted (same config,
same database), and small helpers for looking at portal rooms from a person's client."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from nio import RoomGetStateResponse

from bridge.app import Bridge
from bridge.config import load_config
from bridge.devstack.bridge_config import write_bridge_config
from bridge.devstack.ports import free_port
from bridge.devstack.synapse import LocalSynapse
from tests.support.matrix_client import PersonClient

BOT = "@interopbot:localhost"
CONTACT = "1-10853634039893@interop"
CONTACT_NAME = "Bob Example"
# bridge.username_template "interop_{internal_id}" over the escaped internal ID
GHOST = "@interop_1-10853634039893=40interop:localhost"


class Stack:
    def __init__(self, synapse: LocalSynapse, config_path: Path) -> None:
        self.synapse = synapse
        self.config_path = config_path
        self.bridge: Bridge | None = None

    async def start_bridge(self) -> Bridge:
        self.bridge = Bridge(load_config(self.config_path, environ={}))
        await self.bridge.start()
        return self.bridge

    async def stop_bridge(self) -> None:
        if self.bridge:
            await self.bridge.stop()
            self.bridge = None

    async def restart_bridge(self) -> Bridge:
        await self.stop_bridge()
        return await self.start_bridge()


@asynccontextmanager
async def restartable_stack(db_url: str, directory: Path, *,
                            overrides: Mapping[str, Any] = ()) -> AsyncIterator[Stack]:
    synapse_port = free_port()
    config_path, registration_path = write_bridge_config(
        directory / "bridge", homeserver=f"http://127.0.0.1:{synapse_port}", domain="localhost",
        port=free_port(), database=db_url,
        # These tests count the rooms portals make; the inbox space has its own tests.
        overrides={"bridge.inbox_default": "main", **dict(overrides)},
    )
    synapse = LocalSynapse(directory / "synapse", port=synapse_port,
                           registrations=[registration_path])
    await synapse.start()
    stack = Stack(synapse, config_path)
    try:
        await stack.start_bridge()
        yield stack
    finally:
        await stack.stop_bridge()
        synapse.stop()


async def room_state(person: PersonClient, room_id: str) -> dict[tuple[str, str], dict]:
    """The room's full state as {(type, state_key): event}, read by a member."""
    response = await person.client.room_get_state(room_id)
    assert isinstance(response, RoomGetStateResponse), response
    return {(e["type"], e.get("state_key", "")): e for e in response.events}


async def join(person: PersonClient, room_id: str) -> None:
    await person.sync()
    response = await person.client.join(room_id)
    assert getattr(response, "room_id", None) == room_id, response
    await person.sync()
