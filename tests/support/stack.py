"""Synapse on loopback, the sandbox gateway, and the bridge running inside the test's event loop."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bridge.app import Bridge
from bridge.config import load_config
from bridge.devstack.bridge_config import write_bridge_config
from bridge.devstack.ports import free_port
from bridge.devstack.synapse import LocalSynapse
from bridge.sandbox.admin_cli import call as admin_call
from bridge.sandbox.config import SandboxConfig
from bridge.sandbox.server import SandboxGateway

ADMIN_SECRET = "sandbox-admin-secret-for-tests"


class SandboxAdmin:
    """The sandbox's admin API, as tests and operators use it."""

    def __init__(self, base_url: str, secret: str = ADMIN_SECRET) -> None:
        self.base_url = base_url
        self.secret = secret

    async def call(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        return await admin_call(self.base_url, self.secret, method, path, body)


@dataclass
class Stack:
    synapse: LocalSynapse
    sandbox: SandboxGateway
    admin: SandboxAdmin
    bridge: Bridge
    config_path: Path

    async def restart_bridge(self) -> None:
        await self.bridge.stop()
        self.bridge = Bridge(load_config(self.config_path, environ={}))
        await self.bridge.start()


@asynccontextmanager
async def running_stack(db_url: str, directory: Path, *,
                        overrides: Mapping[str, Any] = ()) -> AsyncIterator[Stack]:
    synapse_port, bridge_port, sandbox_port = free_port(), free_port(), free_port()
    sandbox_url = f"http://127.0.0.1:{sandbox_port}"
    config_path, registration_path = write_bridge_config(
        directory / "bridge", homeserver=f"http://127.0.0.1:{synapse_port}", domain="localhost",
        port=bridge_port, database=db_url, overrides={
            "gateway.base_url": sandbox_url,
            "gateway.jwks_url": f"{sandbox_url}/.well-known/jwks.json",
            # Message requests hold first contacts; tests of other features switch them off.
            "bridge.message_requests": False,
            **dict(overrides),
        },
    )
    synapse = LocalSynapse(directory / "synapse", port=synapse_port,
                           registrations=[registration_path])
    sandbox = SandboxGateway(SandboxConfig(
        host="127.0.0.1", port=sandbox_port,
        database_url=f"sqlite:{directory / 'sandbox.db'}",
        simulated_users_key_file=str(directory / "simulated-users.key"),
        partner_base_url=f"http://127.0.0.1:{bridge_port}/_interop",
        admin_secret=ADMIN_SECRET, test_clock=True,
    ))
    await sandbox.start()
    await synapse.start()
    stack = Stack(synapse, sandbox, SandboxAdmin(sandbox_url), Bridge(
        load_config(config_path, environ={})), config_path)
    try:
        await stack.bridge.start()
        yield stack
    finally:
        await stack.bridge.stop()
        synapse.stop()
        await sandbox.stop()
