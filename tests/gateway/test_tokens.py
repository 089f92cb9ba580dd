"""Signing keys, JWKS publication, token issuance and verification, and the JWKS cache."""

from __future__ import annotations

import json
import os
import stat

import aiohttp
import jwt
import pytest
from aiohttp import web

from bridge.gateway.jwks_client import JwksCache
from bridge.gateway.tokens import (
    SigningKey,
    TokenError,
    issue_identity_token,
    issue_token,
    jwks_document,
    verify_token,
)

RSA_KEY = SigningKey.generate("RS256")
EC_KEY = SigningKey.generate("ES256")
NOW = 1_800_000_000


@pytest.mark.parametrize("key", [RSA_KEY, EC_KEY], ids=["RS256", "ES256"])
def test_identity_token_verifies_against_published_jwks(key: SigningKey) -> None:
    token = issue_identity_token(key, partner_base="https://p.example", user_visible_id="alice",
                                 gateway_audience="gw", now=NOW)
    jwks = json.loads(json.dumps(jwks_document([key])))  # as it travels over HTTP
    claims = verify_token(token, jwks, issuer="https://p.example", audience="gw", now=NOW + 10)
    assert claims["sub"] == "alice"
    public = jwks["keys"][0]
    assert public["kid"] == key.key_id and "d" not in public and "p" not in public


@pytest.mark.parametrize("change,expected", [
    ({"issuer": "https://evil.example"}, "iss"),
    ({"audience": "other"}, "aud"),
    ({"now": NOW + 3600 + 61}, "expired"),
    ({"now": NOW - 120}, "future"),
    ({"purpose": "push"}, "purpose"),
])
def test_verification_refuses(change: dict, expected: str) -> None:
    token = issue_identity_token(RSA_KEY, partner_base="https://p.example",
                                 user_visible_id="alice", gateway_audience="gw", now=NOW)
    args = {"issuer": "https://p.example", "audience": "gw", "now": NOW, **change}
    with pytest.raises(TokenError):
        verify_token(token, jwks_document([RSA_KEY]), **args)


def test_leeway_accepts_slightly_expired() -> None:
    token = issue_token(EC_KEY, issuer="i", subject="s", audience="a", lifetime_seconds=60,
                        now=NOW)
    verify_token(token, jwks_document([EC_KEY]), issuer="i", audience="a", now=NOW + 100)


def test_forged_and_foreign_tokens_refused() -> None:
    jwks = jwks_document([RSA_KEY])
    other = SigningKey.generate("RS256")
    forged = issue_token(other, issuer="i", subject="s", audience="a", now=NOW)
    with pytest.raises(TokenError, match="kid"):
        verify_token(forged, jwks, issuer="i", audience="a", now=NOW)
    # same kid, wrong key: signature check fails
    header = jwt.get_unverified_header(forged)
    assert header["kid"] != RSA_KEY.key_id
    resigned = jwt.encode({"iss": "i", "sub": "s", "aud": "a", "iat": NOW, "exp": NOW + 60},
                          other.private_key, algorithm="RS256", headers={"kid": RSA_KEY.key_id})
    with pytest.raises(TokenError):
        verify_token(resigned, jwks, issuer="i", audience="a", now=NOW)
    unsigned = jwt.encode({"iss": "i", "sub": "s", "aud": "a", "iat": NOW, "exp": NOW + 60},
                          None, algorithm="none", headers={"kid": RSA_KEY.key_id})
    with pytest.raises(TokenError, match="not allowed"):
        verify_token(unsigned, jwks, issuer="i", audience="a", now=NOW)
    hmac_token = jwt.encode({"iss": "i"}, "secret-key-long-enough-for-hs256-xx", algorithm="HS256")
    with pytest.raises(TokenError):
        verify_token(hmac_token, jwks, issuer="i", audience="a", now=NOW)
    with pytest.raises(TokenError):
        verify_token("garbage", jwks, issuer="i", audience="a", now=NOW)


def test_overlong_lifetime_refused() -> None:
    token = issue_token(RSA_KEY, issuer="i", subject="s", audience="a",
                        lifetime_seconds=48 * 3600, now=NOW)
    with pytest.raises(TokenError, match="lifetime"):
        verify_token(token, jwks_document([RSA_KEY]), issuer="i", audience="a", now=NOW)


def test_load_or_create_persists_key_with_private_mode(tmp_path) -> None:
    path = tmp_path / "keys" / "partner-jwt.pem"
    created = SigningKey.load_or_create(path, "ES256")
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    loaded = SigningKey.load_or_create(path, "RS256")  # algorithm comes from the stored key
    assert loaded.key_id == created.key_id and loaded.algorithm == "ES256"
    assert SigningKey.from_pem(created.to_pem()).key_id == created.key_id


async def test_jwks_cache_fetches_once_and_refetches_for_rotated_key() -> None:
    served = {"keys": [RSA_KEY]}
    hits = []

    async def handler(_: web.Request) -> web.Response:
        hits.append(1)
        return web.json_response(jwks_document(served["keys"]))

    app = web.Application()
    app.router.add_get("/.well-known/jwks.json", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    clock = [0.0]
    try:
        async with aiohttp.ClientSession() as session:
            cache = JwksCache(session, f"http://127.0.0.1:{port}/.well-known/jwks.json",
                              clock=lambda: clock[0])
            token = issue_token(RSA_KEY, issuer="gw", subject="u", audience="p")
            for _ in range(3):
                await cache.verify(token, issuer="gw", audience="p")
            assert len(hits) == 1
            # rotation: a token with a new kid triggers one refetch (after the minimum interval)
            served["keys"] = [RSA_KEY, EC_KEY]
            rotated = issue_token(EC_KEY, issuer="gw", subject="u", audience="p")
            clock[0] = 31.0
            await cache.verify(rotated, issuer="gw", audience="p")
            assert len(hits) == 2
            # unknown kids within the interval do not hammer the key server
            stranger = issue_token(SigningKey.generate("ES256"), issuer="gw", subject="u",
                                   audience="p")
            for _ in range(3):
                with pytest.raises(TokenError):
                    await cache.verify(stranger, issuer="gw", audience="p")
            assert len(hits) == 2
            clock[0] = 400.0  # max age passed
            await cache.verify(token, issuer="gw", audience="p")
            assert len(hits) == 3
    finally:
        await runner.cleanup()
