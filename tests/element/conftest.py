"""Fixtures for the Element (matrix-js-sdk) test client: a loopback Synapse and clients on it."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from bridge.devstack.ports import free_port
from bridge.devstack.synapse import LocalSynapse

from .client import ElementClient, ensure_installed, node_available, register_user


@pytest.fixture(scope="session")
def element_node_modules() -> None:
    """Runs ``npm ci`` in tests/element/node once when node_modules is missing."""
    # A client test that quietly skips proves nothing: without Node the suite fails here.
    assert node_available(), "node and npm are needed for the Element client tests"
    ensure_installed()


@pytest.fixture(scope="module")
async def synapse(tmp_path_factory, element_node_modules) -> AsyncIterator[LocalSynapse]:
    server = LocalSynapse(tmp_path_factory.mktemp("element-synapse"), port=free_port(),
                          registrations=[])
    await server.start()
    try:
        yield server
    finally:
        server.stop()


MakeClient = Callable[..., Awaitable[ElementClient]]


@pytest.fixture
async def make_client(synapse, tmp_path) -> AsyncIterator[MakeClient]:
    """``await make_client("alice", cross_sign=True, exclude_insecure_devices=True)``: a new
    account with one device running the Element client; its log is in tmp_path/<name>.log."""
    started: list[ElementClient] = []

    async def make(name: str, *, cross_sign: bool = True,
                   exclude_insecure_devices: bool = True) -> ElementClient:
        password = f"pw-{secrets.token_hex(8)}"
        user_id, token, device_id = await register_user(
            synapse.address, f"{name}-{secrets.token_hex(4)}", password)
        client = await ElementClient.start(
            synapse.address, user_id=user_id, access_token=token, device_id=device_id,
            password=password, exclude_insecure_devices=exclude_insecure_devices,
            log_path=tmp_path / f"{name}.log")
        started.append(client)
        if cross_sign:
            client.info["cross_signing"] = await client.bootstrap_cross_signing()
        return client

    yield make
    for client in started:
        await client.stop()
