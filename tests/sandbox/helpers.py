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

from bridge.gateway.codec import Node
from bridge.gateway.noise_channel import (
    ChannelOpened,
    ChannelRefused,
    ClientChannel,
    ClientHello,
    StanzaReceived,
    StreamClosed,
)
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
        self.media_tokens: list[str] = []
        self.runner: web.AppRunner | None = None
        self.base_url = ""

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get(JWKS_PATH, self._jwks)
        app.router.add_post("/push", self._push)
        app.router.add_get("/media/{ref}", self._media)
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
        self.media_tokens.append(request.headers.get("Authorization", "").removeprefix("Bearer "))
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


# --- a real chat client: the protocol's ClientChannel over an aiohttp WebSocket ------------------

class ChatClient:
    """Connects, handshakes and exchanges stanzas; collects what arrives in ``inbox``."""

    def __init__(self, sandbox, keys: ClientKeys, login: str, token: str) -> None:
        self.sandbox = sandbox
        self.keys = keys
        self.login = login
        self.token = token
        self.inbox: asyncio.Queue = asyncio.Queue()
        self.opened: ChannelOpened | None = None
        self.refused: ChannelRefused | None = None
        self.closed_with: StreamClosed | None = None
        self.session = None
        self.ws = None
        self._reader = None
        self._ready = asyncio.Event()

    async def connect(self, *, hello_version: int = 1) -> ChatClient:
        import aiohttp

        self.channel = ClientChannel(
            static_private=self.keys.noise_private,
            server_static_public=self.sandbox.noise_public,
            hello=ClientHello(hello_version, self.login, self.token))
        self.session = aiohttp.ClientSession()
        self.ws = await self.session.ws_connect(f"{self.sandbox.config.base_url}/chat")
        await self.ws.send_bytes(self.channel.start())
        self._reader = asyncio.create_task(self._read())
        await asyncio.wait_for(self._ready.wait(), 10)
        return self

    async def _read(self) -> None:
        import aiohttp

        try:
            async for message in self.ws:
                if message.type != aiohttp.WSMsgType.BINARY:
                    break
                outgoing, events = self.channel.receive(message.data)
                if outgoing:
                    await self.ws.send_bytes(outgoing)
                for event in events:
                    if isinstance(event, ChannelOpened):
                        self.opened = event
                        self._ready.set()
                    elif isinstance(event, ChannelRefused):
                        self.refused = event
                        self._ready.set()
                    elif isinstance(event, StreamClosed):
                        self.closed_with = event
                    elif isinstance(event, StanzaReceived):
                        await self.inbox.put(event.node)
        finally:
            self._ready.set()
            await self.inbox.put(None)  # marks the end of the connection

    async def send(self, node: Node) -> None:
        await self.ws.send_bytes(self.channel.send_stanza(node))

    async def receive(self, timeout: float = 5) -> Node | None:
        return await asyncio.wait_for(self.inbox.get(), timeout)

    async def receive_until(self, predicate, timeout: float = 5) -> Node:
        """Skip stanzas until one matches (``None`` = connection ended raises)."""
        while True:
            node = await self.receive(timeout)
            if node is None:
                raise ConnectionError("connection ended")
            if predicate(node):
                return node

    async def request(self, node: Node, timeout: float = 5) -> Node:
        await self.send(node)
        return await self.receive_until(
            lambda n: n.tag in ("iq", "ack") and n.attrs.get("id") == node.attrs.get("id"),
            timeout)

    async def wait_closed(self, timeout: float = 5) -> None:
        await asyncio.wait_for(asyncio.shield(self._reader), timeout)

    async def close(self) -> None:
        if self.ws is not None:
            await self.ws.close()
        if self._reader is not None:
            await asyncio.gather(self._reader, return_exceptions=True)
        if self.session is not None:
            await self.session.close()


async def enlist_user(sandbox, partner, visible_id: str, keys: ClientKeys | None = None
                      ) -> tuple[ClientKeys, str]:
    import aiohttp

    keys = keys or ClientKeys()
    async with (
        aiohttp.ClientSession() as http,
        http.post(f"{sandbox.config.base_url}/3p/interop_reg",
                  data=keys.enlistment_form(partner.identity_token(
                      visible_id, now=sandbox.clock.now()))) as resp,
    ):
        body = await resp.json()
    assert body["status"] == "ok", body
    return keys, body["login"]


async def connect_user(sandbox, partner, visible_id: str, keys: ClientKeys, login: str
                       ) -> ChatClient:
    # Tokens are dated by the sandbox's clock, which tests move forward.
    token = partner.identity_token(visible_id, now=sandbox.clock.now())
    return await ChatClient(sandbox, keys, login, token).connect()


class Admin:
    """The admin API over real HTTP."""

    def __init__(self, sandbox, secret: str) -> None:
        self.base = f"{sandbox.config.base_url}/_sandbox/admin/v1"
        self.secret = secret

    async def call(self, method: str, path: str, json_body=None, *, secret: str | None = None,
                   data: bytes | None = None) -> tuple[int, dict]:
        import aiohttp

        headers = {"Authorization": f"Bearer {self.secret if secret is None else secret}"}
        async with (
            aiohttp.ClientSession() as http,
            http.request(method, self.base + path, json=json_body, data=data,
                         headers=headers) as resp,
        ):
            return resp.status, await resp.json(content_type=None)


async def eventually(condition, timeout: float = 5) -> None:
    """Wait until ``condition()`` (sync or async) is true: server-side cleanup runs after the
    client already saw the close."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        result = condition()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return
        if loop.time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.02)
