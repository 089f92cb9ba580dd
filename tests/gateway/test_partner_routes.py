"""Partner-server endpoints on a real loopback server: JWKS, push, hosted media; the gateway's
JWKS is served by a second real server."""

from __future__ import annotations

import aiohttp
import pytest
from aiohttp import web

from bridge.gateway.ids import StorageReference, UserVisibleId
from bridge.gateway.jwks_client import JwksCache
from bridge.gateway.partner_routes import PartnerEndpoints, register_routes
from bridge.gateway.tokens import SigningKey, issue_token, jwks_document, verify_token

GATEWAY_KEY = SigningKey.generate("ES256")
PARTNER_KEY = SigningKey.generate("RS256")
GATEWAY_ID = "http://gateway.test"


async def serve(app: web.Application) -> tuple[web.AppRunner, str]:
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    return runner, f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}"


class Media:
    async def read_encrypted(self, reference: StorageReference) -> bytes | None:
        return b"encrypted-blob" if reference == "REF123" else None


PARTNER_BASE = "http://partner.test/interop"  # what the gatekeeper knows us as (token aud)


@pytest.fixture
async def partner():
    """Yields (url prefix actually listening, woken users, client session)."""
    gateway_app = web.Application()

    async def gateway_jwks(_: web.Request) -> web.Response:
        return web.json_response(jwks_document([GATEWAY_KEY]))

    gateway_app.router.add_get("/.well-known/jwks.json", gateway_jwks)
    gateway_runner, gateway_url = await serve(gateway_app)
    woken: list[UserVisibleId] = []

    async def on_push(user: UserVisibleId) -> None:
        woken.append(user)

    session = aiohttp.ClientSession()
    app = web.Application()
    register_routes(app, PartnerEndpoints(
        partner_base=PARTNER_BASE, gateway_id=GATEWAY_ID,
        gatekeeper_tokens=JwksCache(session, gateway_url + "/.well-known/jwks.json"),
        own_jwks=lambda: jwks_document([PARTNER_KEY]), on_push=on_push, media=Media(),
    ), prefix="/interop")
    runner, url = await serve(app)
    yield url + "/interop", woken, session
    await session.close()
    await runner.cleanup()
    await gateway_runner.cleanup()


def gatekeeper_token(subject: str, purpose: str, key: SigningKey = GATEWAY_KEY,
                     audience: str = PARTNER_BASE) -> str:
    return issue_token(key, issuer=GATEWAY_ID, subject=subject, audience=audience,
                       lifetime_seconds=300, extra_claims={"purpose": purpose})


async def test_jwks_endpoint_publishes_identity_keys(partner) -> None:
    base, _, session = partner
    async with session.get(base + "/.well-known/oauth/openid/jwks") as resp:
        assert resp.status == 200
        jwks = await resp.json()
    token = issue_token(PARTNER_KEY, issuer=PARTNER_BASE, subject="alice", audience=GATEWAY_ID)
    assert verify_token(token, jwks, issuer=PARTNER_BASE, audience=GATEWAY_ID)["sub"] == "alice"


async def test_push_with_good_token_wakes_that_user(partner) -> None:
    base, woken, session = partner
    headers = {"Authorization": "Bearer " + gatekeeper_token("alice", "push")}
    async with session.post(base + "/push", json={"to": "alice"}, headers=headers) as resp:
        assert resp.status == 204
    assert woken == ["alice"]


@pytest.mark.parametrize("case", ["missing", "foreign-key", "wrong-purpose", "other-user",
                                  "wrong-audience"])
async def test_push_refuses_bad_tokens(partner, case) -> None:
    base, woken, session = partner
    token = {
        "missing": None,
        "foreign-key": gatekeeper_token("alice", "push", SigningKey.generate("ES256")),
        "wrong-purpose": gatekeeper_token("alice", "media"),
        "other-user": gatekeeper_token("mallory", "push"),
        "wrong-audience": gatekeeper_token("alice", "push", audience="http://elsewhere"),
    }[case]
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with session.post(base + "/push", json={"to": "alice"}, headers=headers) as resp:
        assert resp.status == 401
    assert woken == []


async def test_media_served_only_to_gatekeeper_for_that_reference(partner) -> None:
    base, _, session = partner
    good = {"Authorization": "Bearer " + gatekeeper_token("REF123", "media")}
    async with session.get(base + "/media/REF123", headers=good) as resp:
        assert resp.status == 200 and await resp.read() == b"encrypted-blob"
    async with session.get(base + "/media/REF123") as resp:
        assert resp.status == 401
    other_ref = {"Authorization": "Bearer " + gatekeeper_token("REF999", "media")}
    async with session.get(base + "/media/REF123", headers=other_ref) as resp:
        assert resp.status == 401
    async with session.get(base + "/media/REF999", headers=other_ref) as resp:
        assert resp.status == 404
    push_token = {"Authorization": "Bearer " + gatekeeper_token("REF123", "push")}
    async with session.get(base + "/media/REF123", headers=push_token) as resp:
        assert resp.status == 401
