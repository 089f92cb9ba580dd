"""Identity tokens in both directions.

* Partner → gatekeeper: the user identity JWT, checked against the partner's JWKS (fetched over HTTP,
  cached, refetched when an unknown ``kid`` shows up so key rotation works without a restart).
* Gatekeeper → partner: the sandbox's own signing key, published at ``/.well-known/jwks.json`` and
  used for the push calls' ``Authorization: Bearer`` JWT.
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
from dataclasses import dataclass

import aiohttp
import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from .clock import Clock
from .enlistment import EnlistmentRefused, Reason

log = logging.getLogger("bridge.sandbox.tokens")

IDENTITY_TOKEN_ALGORITHMS = ["RS256", "ES256"]
# Allowed clock difference between the partner server and the gateway.
LEEWAY_SECONDS = 60


@dataclass(frozen=True)
class IdentityClaims:
    issuer: str
    subject: str
    issued_at: int
    expires_at: int


class PartnerKeySource:
    """The partner's JWKS, fetched lazily and cached for ``max_age`` seconds."""

    def __init__(self, url: str, session: aiohttp.ClientSession, *, max_age: float = 300,
                 min_refetch_interval: float = 10) -> None:
        self.url = url
        self.session = session
        self.max_age = max_age
        self.min_refetch_interval = min_refetch_interval
        self._keys: jwt.PyJWKSet | None = None
        self._fetched_at = float("-inf")
        self._lock = asyncio.Lock()

    async def _refresh(self, loop_time: float) -> None:
        async with self.session.get(self.url, timeout=aiohttp.ClientTimeout(total=10)) as resp:
            resp.raise_for_status()
            self._keys = jwt.PyJWKSet.from_dict(await resp.json(content_type=None))
        self._fetched_at = loop_time

    async def key_for(self, kid: str | None) -> jwt.PyJWK:
        """The key to verify with; raises :class:`EnlistmentRefused` when none fits."""
        loop_time = asyncio.get_running_loop().time()
        async with self._lock:
            stale = loop_time - self._fetched_at > self.max_age
            missing = self._keys is None or self._find(kid) is None
            if stale or (missing and loop_time - self._fetched_at > self.min_refetch_interval):
                try:
                    await self._refresh(loop_time)
                except (aiohttp.ClientError, asyncio.TimeoutError, ValueError,
                        jwt.PyJWKSetError) as e:
                    log.warning("Could not fetch partner JWKS from %s: %s", self.url, e)
                    if self._keys is None:
                        raise EnlistmentRefused(Reason.BAD_TOKEN,
                                                "partner keys unavailable") from e
            key = self._find(kid)
        if key is None:
            raise EnlistmentRefused(Reason.BAD_TOKEN, "no partner key matches the token")
        return key

    def _find(self, kid: str | None) -> jwt.PyJWK | None:
        if self._keys is None:
            return None
        keys = self._keys.keys
        if kid is None:
            return keys[0] if len(keys) == 1 else None
        return next((k for k in keys if k.key_id == kid), None)


def verify_identity_token(token: str, key: jwt.PyJWK, *, issuer: str, audience: str,
                          now: float) -> IdentityClaims:
    """Check signature, issuer, audience and lifetime against the injected clock."""
    try:
        claims = jwt.decode(
            token, key, algorithms=IDENTITY_TOKEN_ALGORITHMS, audience=audience, issuer=issuer,
            # Lifetime is checked below against the sandbox clock (which tests move forward).
            options={"require": ["iss", "sub", "aud", "iat", "exp"], "verify_exp": False,
                     "verify_iat": False, "verify_nbf": False},
        )
    except jwt.InvalidTokenError as e:
        raise EnlistmentRefused(Reason.BAD_TOKEN, type(e).__name__) from None
    try:
        exp, iat = int(claims["exp"]), int(claims["iat"])
    except (TypeError, ValueError):
        raise EnlistmentRefused(Reason.BAD_TOKEN, "iat/exp are not numbers") from None
    if exp + LEEWAY_SECONDS < now:
        raise EnlistmentRefused(Reason.TOKEN_EXPIRED, "token expired")
    if iat - LEEWAY_SECONDS > now:
        raise EnlistmentRefused(Reason.TOKEN_EXPIRED, "token issued in the future")
    subject = claims["sub"]
    if not isinstance(subject, str) or not subject:
        raise EnlistmentRefused(Reason.BAD_TOKEN, "sub must be a non-empty string")
    return IdentityClaims(claims["iss"], subject, iat, exp)


def token_kid(token: str) -> str | None:
    try:
        return jwt.get_unverified_header(token).get("kid")
    except jwt.InvalidTokenError:
        raise EnlistmentRefused(Reason.BAD_TOKEN, "not a JWT") from None


class GatekeeperSigningKey:
    """The sandbox gatekeeper's ES256 key (persisted in the state database by the caller)."""

    def __init__(self, private_key: ec.EllipticCurvePrivateKey, kid: str) -> None:
        self._private_key = private_key
        self.kid = kid

    @classmethod
    def generate(cls) -> GatekeeperSigningKey:
        return cls(ec.generate_private_key(ec.SECP256R1()), secrets.token_hex(8))

    def serialize(self) -> str:
        pem = self._private_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode()
        return json.dumps({"kid": self.kid, "pem": pem})

    @classmethod
    def deserialize(cls, stored: str) -> GatekeeperSigningKey:
        data = json.loads(stored)
        key = serialization.load_pem_private_key(data["pem"].encode(), password=None)
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise ValueError("stored gatekeeper key is not an EC key")
        return cls(key, data["kid"])

    def jwks(self) -> dict:
        public = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(self._private_key.public_key()))
        public.update({"kid": self.kid, "use": "sig", "alg": "ES256"})
        return {"keys": [public]}

    def sign(self, claims: dict) -> str:
        return jwt.encode(claims, self._private_key, algorithm="ES256",
                          headers={"kid": self.kid})

    def push_token(self, *, issuer: str, audience: str, recipient: str, clock: Clock,
                   lifetime: int = 300) -> str:
        now = int(clock.now())
        return self.sign({"iss": issuer, "aud": audience, "sub": recipient, "iat": now,
                          "exp": now + lifetime, "jti": secrets.token_hex(8)})
