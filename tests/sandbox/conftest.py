"""Fixtures: a real partner server and sandbox gateways on free loopback ports."""

from __future__ import annotations

import pytest

from bridge.sandbox.clock import AdjustableClock
from bridge.sandbox.config import SandboxConfig
from bridge.sandbox.server import SandboxGateway

from .helpers import GATEWAY_ID, PartnerServer

ADMIN_SECRET = "s3cret-admin-token"


@pytest.fixture
async def partner():
    server = PartnerServer()
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


@pytest.fixture
async def sandbox_factory(tmp_path, partner):
    """``await make()`` starts a sandbox on a free port; the same ``db`` path survives restarts."""
    started: list[SandboxGateway] = []

    async def make(*, clock: AdjustableClock | None = None, db_name: str = "sandbox.db",
                   **overrides) -> SandboxGateway:
        settings = {
            "integrator_id": "7", "host": "127.0.0.1", "port": 0,
            "database_url": f"sqlite:{tmp_path / db_name}",
            "partner_base_url": partner.base_url, "admin_secret": ADMIN_SECRET,
            "gateway_id": GATEWAY_ID, "test_clock": True, "sweep_interval": 3600,
        }
        settings.update(overrides)
        config = SandboxConfig(**settings)
        gateway = SandboxGateway(config, clock=clock or AdjustableClock())
        await gateway.start()
        started.append(gateway)
        return gateway

    try:
        yield make
    finally:
        for gateway in started:
            await gateway.stop()


@pytest.fixture
async def sandbox(sandbox_factory):
    return await sandbox_factory()
