"""Fixtures of the gateway tests: a real in-test gateway on loopback and an HTTP session."""

from __future__ import annotations

import aiohttp
import pytest

from bridge.gateway.tokens import jwks_document

from .fake_gateway import FakeGateway
from .support import PARTNER_BASE, PARTNER_KEY


@pytest.fixture
async def gateway():
    async def partner_jwks(base: str):
        assert base == PARTNER_BASE
        return jwks_document([PARTNER_KEY])

    server = FakeGateway(partner_jwks)
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
async def http():
    async with aiohttp.ClientSession() as session:
        yield session
