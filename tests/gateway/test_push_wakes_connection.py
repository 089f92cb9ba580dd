"""End to end on loopback: the gateway pushes, the partner endpoint verifies the gatekeeper's
JWT, wakes exactly that user's idle connection, which drains its mailbox."""

from __future__ import annotations

import aiohttp
from aiohttp import web

from bridge.gateway.connection import ConnectionState
from bridge.gateway.ids import UserVisibleId
from bridge.gateway.jwks_client import JwksCache
from bridge.gateway.partner_routes import PartnerEndpoints, register_routes
from bridge.gateway.tokens import SigningKey, issue_token, jwks_document

from .fake_gateway import GATEWAY_ID, wait_for
from .support import LOGIN, USER, incoming, make_connection

GATEWAY_KEY = SigningKey.generate("ES256")
PARTNER_BASE = "http://partner.test"


async def serve(app: web.Application) -> tuple[web.AppRunner, str]:
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    return runner, f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}"


async def test_push_wakes_the_right_idle_connection(gateway, http) -> None:
    connection, _, recorder = make_connection(gateway, http, idle=0.2)
    other, _, other_recorder = make_connection(gateway, http, idle=0.2, enlist=False)
    connections = {USER: connection, UserVisibleId("bob@matrix.test"): other}

    async def on_push(user: UserVisibleId) -> None:
        # What the partner service does with a push: wake that user's connection.
        connections[user].wake()

    gateway_app = web.Application()

    async def gateway_jwks(_: web.Request) -> web.Response:
        return web.json_response(jwks_document([GATEWAY_KEY]))

    gateway_app.router.add_get("/.well-known/jwks.json", gateway_jwks)
    gateway_runner, gateway_url = await serve(gateway_app)
    partner_app = web.Application()
    register_routes(partner_app, PartnerEndpoints(
        partner_base=PARTNER_BASE, gateway_id=GATEWAY_ID,
        gatekeeper_tokens=JwksCache(http, gateway_url + "/.well-known/jwks.json"),
        own_jwks=lambda: {"keys": []}, on_push=on_push))
    partner_runner, partner_url = await serve(partner_app)
    try:
        # the user was connected once and went idle
        connection.wake()
        await connection.wait_open(3)
        await wait_for(lambda: connection.state is ConnectionState.IDLE)
        await gateway.deliver(LOGIN, incoming("PUSHED"))
        bad = issue_token(SigningKey.generate("ES256"), issuer=GATEWAY_ID, subject=USER,
                          audience=PARTNER_BASE, extra_claims={"purpose": "push"})
        async with aiohttp.ClientSession() as gk:
            async with gk.post(partner_url + "/push", json={"to": USER},
                               headers={"Authorization": f"Bearer {bad}"}) as resp:
                assert resp.status == 401
            assert connection.state is ConnectionState.IDLE
            good = issue_token(GATEWAY_KEY, issuer=GATEWAY_ID, subject=USER,
                               audience=PARTNER_BASE, extra_claims={"purpose": "push"})
            async with gk.post(partner_url + "/push", json={"to": USER},
                               headers={"Authorization": f"Bearer {good}"}) as resp:
                assert resp.status == 204
        await wait_for(lambda: [n.attrs["id"] for n in recorder.stored] == ["PUSHED"])
        assert other.state is ConnectionState.IDLE and other_recorder.stored == []
        assert other.connect_count == 0
    finally:
        for each in connections.values():
            await each.close()
        await partner_runner.cleanup()
        await gateway_runner.cleanup()
