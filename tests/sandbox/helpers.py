"""Test helpers: a real partner server (JWKS, push, hosted media) and real enlistment keys."""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import time
from dataclasses import dataclass, field

import jwt
import xeddsa
from aiohttp import web
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from bridge.sandbox.enlistment import b64url_encode

GATEWAY_ID = "interop-sandbox-test"
JWKS_PATH = "/.well-known/oauth/openid/jwks"


class PartnerServer:
    """The partner server as the gatekeeper sees it, running on a free loopback port."""

    def __init__(self) -> None:
        self.private_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.kid = secrets.token_hex(4)
        self.pushes: list[tuple[dict, str]] = []
        self.push_event = asyncio.Event()
        self.media: dict[str, bytes] = {}
        self.runner: web.AppRunner | None = None
        self.base_url = ""

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get(JWKS_PATH, self._jwks)
        app.router.add_post("/push", self._push)
        app.router.add_get("/{ref}", self._media)
        self.runner = web.AppRunner(app, access_log=None)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        port = self.runner.addresses[0][1]
        self.base_url = f"http://127.0.0.1:{port}"

    async def stop(self) -> None:
        if self.runner:
            await self.runner.cleanup()

    async def _jwks(self, request: web.Request) -> web.Response:
        jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self.private_key.public_key()))
        jwk.update(kid=self.kid, use="sig", alg="RS256")
        return web.json_response({"keys": [jwk]})

    async def _push(self, request: web.Request) -> web.Response:
        token = request.headers.get("Authorization", "").removeprefix("Bearer ")
        self.pushes.append((await request.json(), token))
        self.push_event.set()
        return web.Response(status=204)

    async def _media(self, request: web.Request) -> web.Response:
        body = self.media.get(request.match_info["ref"])
        if body is None:
            raise web.HTTPNotFound()
        return web.Response(body=body, content_type="application/octet-stream")

    def identity_token(self, sub: str, *, now: float | None = None, lifetime: int = 3600,
                       audience: str = GATEWAY_ID, issuer: str | None = None,
                       key=None, kid: str | None = None) -> str:
        now = time.time() if now is None else now
        claims = {"iss": issuer or self.base_url, "sub": sub, "aud": audience,
                  "iat": int(now), "exp": int(now) + lifetime}
        return jwt.encode(claims, key or self.private_key, algorithm="RS256",
                          headers={"kid": kid or self.kid})


@dataclass
class ClientKeys:
    """A partner client's enlistment keys (real Curve25519 / XEdDSA)."""

    noise_private: bytes = field(default_factory=lambda: X25519PrivateKey.generate().private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw,
        serialization.NoEncryption()))
    identity_private: bytes = field(default_factory=lambda: xeddsa.seed_to_priv(os.urandom(32)))
    signed_prekey_id: int = 1
    signed_prekey_private: bytes = field(default_factory=lambda: os.urandom(32))
    registration_id: int = field(default_factory=lambda: secrets.randbelow(16380) + 1)

    @property
    def noise_public(self) -> bytes:
        return X25519PrivateKey.from_private_bytes(self.noise_private).public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw)

    @property
    def identity_public(self) -> bytes:
        return xeddsa.priv_to_curve25519_pub(self.identity_private)

    @property
    def signed_prekey_public(self) -> bytes:
        return X25519PrivateKey.from_private_bytes(self.signed_prekey_private).public_key() \
            .public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)

    def signed_prekey_signature(self) -> bytes:
        return xeddsa.ed25519_priv_sign(xeddsa.priv_force_sign(self.identity_private, False),
                                        b"\x05" + self.signed_prekey_public)

    def enlistment_form(self, identity_token: str, /, **overrides: bytes | str) -> dict[str, str]:
        form = {
            "authkey": b64url_encode(self.noise_public),
            "e_keytype": b64url_encode(b"\x05"),
            "e_regid": b64url_encode(self.registration_id.to_bytes(4, "big")),
            "e_ident": b64url_encode(self.identity_public),
            "e_skey_id": b64url_encode(self.signed_prekey_id.to_bytes(3, "big")),
            "e_skey_val": b64url_encode(self.signed_prekey_public),
            "e_skey_sig": b64url_encode(self.signed_prekey_signature()),
            "token": identity_token,
        }
        for name, value in overrides.items():
            form[name] = b64url_encode(value) if isinstance(value, bytes) else value
        return form
