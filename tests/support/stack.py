"""Synapse on loopback, the sandbox gateway, and the bridge running inside the test's event loop
(``running_stack``) or as a separate process (``process_stack``)."""

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
from tests.support.bridge_process import BridgeProcess

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


def _configure(db_url: str, directory: Path, overrides: Mapping[str, Any]
               ) -> tuple[LocalSynapse, SandboxGateway, SandboxAdmin, Path]:
    """Synapse, the sandbox and the bridge's config, wired to each other on free loopback ports
    (nothing started yet)."""
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
    return synapse, sandbox, SandboxAdmin(sandbox_url), config_path


@asynccontextmanager
async def running_stack(db_url: str, directory: Path, *,
                        overrides: Mapping[str, Any] = ()) -> AsyncIterator[Stack]:
    synapse, sandbox, admin, config_path = _configure(db_url, directory, overrides)
    await sandbox.start()
    await synapse.start()
    stack = Stack(synapse, sandbox, admin, Bridge(load_config(config_path, environ={})),
                  config_path)
    try:
        await stack.bridge.start()
        yield stack
    finally:
        await stack.bridge.stop()
        synapse.stop()
        await sandbox.stop()


@dataclass
class ProcessStack:
    """Synapse and the sandbox keep running; the bridge is a separate process that can be
    killed and started again on the same config and database."""

    synapse: LocalSynapse
    sandbox: SandboxGateway
    admin: SandboxAdmin
    config_path: Path
    bridge: BridgeProcess | None = None

    async def start_bridge(self) -> BridgeProcess:
        assert self.bridge is None or self.bridge.process.poll() is not None
        self.bridge = BridgeProcess(self.config_path)
        await self.bridge.wait_ready()
        return self.bridge

    def kill_bridge(self) -> None:
        assert self.bridge is not None
        self.bridge.kill()


@asynccontextmanager
async def process_stack(db_url: str, directory: Path, *,
                        overrides: Mapping[str, Any] = ()) -> AsyncIterator[ProcessStack]:
    synapse, sandbox, admin, config_path = _configure(db_url, directory, overrides)
    await sandbox.start()
    stack = ProcessStack(synapse, sandbox, admin, config_path)
    try:
        await synapse.start()
        await stack.start_bridge()
        yield stack
    finally:
        if stack.bridge is not None:
            stack.bridge.kill()
        synapse.stop()
        await sandbox.stop()
