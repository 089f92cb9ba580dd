"""Synapse on loopback plus the bridge running inside the test's event loop."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from bridge.app import Bridge
from bridge.config import load_config
from bridge.devstack.bridge_config import write_bridge_config
from bridge.devstack.ports import free_port
from bridge.devstack.synapse import LocalSynapse


@asynccontextmanager
async def running_stack(db_url: str, directory: Path, *,
                        overrides: Mapping[str, Any] = ()) -> AsyncIterator[tuple[LocalSynapse, Bridge]]:
    synapse_port = free_port()
    config_path, registration_path = write_bridge_config(
        directory / "bridge", homeserver=f"http://127.0.0.1:{synapse_port}", domain="localhost",
        port=free_port(), database=db_url, overrides=overrides,
    )
    synapse = LocalSynapse(directory / "synapse", port=synapse_port,
                           registrations=[registration_path])
    await synapse.start()
    bridge = Bridge(load_config(config_path, environ={}))
    try:
        await bridge.start()
        yield synapse, bridge
    finally:
        await bridge.stop()
        synapse.stop()
