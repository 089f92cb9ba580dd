"""Identity tokens in both directions, on top of the protocol's token module.

* Partner → gatekeeper: the user identity JWT, checked against the partner's JWKS. The JWKS is
  fetched over HTTP, cached, and refetched when a token names an unknown ``kid`` (so the partner can
  rotate keys without restarting the sandbox), at most once per ``min_refetch_interval``.
* Gatekeeper → partner: the sandbox's own signing key (``bridge.gateway.tokens.SigningKey``),
  published at ``/.well-known/jwks.json`` and used for the push calls' bearer JWT.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any

import aiohttp
import jwt

from bridge.gateway.tokens import SigningKey, TokenError, issue_token, verify_token

from .clock import Clock
from .enlistment import EnlistmentRefused, Reason

log = logging.getLogger("bridge.sandbox.tokens")

PUSH_TOKEN_PURPOSE = "push"
PUSH_TOKEN_LIFETIME = 300


@dataclass(frozen=True)
class IdentityClaims:
    issuer: str
    subject: str


class PartnerKeysUnavailable(Exception):
    pass


class PartnerKeySource:
    """The partner's JWKS document, fetched lazily and cached for ``max_age`` seconds."""

    def __init__(self, url: str, session: aiohttp.ClientSession, *, max_age: float = 300,
                 min_refetch_interval: float = 5) -> None:
        self.url = url
        self.session = session
        self.max_age = max_age
        self.min_refetch_interval = min_refetch_interval
        self._jwks: dict[str, Any] | None = None
        self._fetched_at = float("-inf")
        self._lock = asyncio.Lock()

    def _has_kid(self, kid: str | None) -> bool:
        return bool(self._jwks) and any(
            isinstance(k, dict) and k.get("kid") == kid for k in self._jwks.get("keys", []))

    async def jwks(self, kid: str | None = None) -> dict[str, Any]:
        loop_time = asyncio.get_running_loop().time()
        async with self._lock:
            age = loop_time - self._fetched_at
            if age > self.max_age or (not self._has_kid(kid) and age > self.min_refetch_interval):
                try:
                    async with self.session.get(
                            self.url, timeout=aiohttp.ClientTimeout(total=10)) as resp:
                        resp.raise_for_status()
                        document = await resp.json(content_type=None)
                    if not isinstance(document, dict):
                        raise ValueError("JWKS is not a JSON object")
                    self._jwks, self._fetched_at = document, loop_time
                except (aiohttp.ClientError, asyncio.TimeoutError, ValueError) as e:
                    log.warning("Could not fetch partner JWKS from %s: %s", self.url, e)
                    if self._jwks is None:
                        raise PartnerKeysUnavailable(str(e)) from e
            return self._jwks or {"keys": []}


def unverified_issuer(token: str) -> str | None:
    """The ``iss`` a token claims, read before verification to find its partner (protocol §4)."""
    try:
        issuer = jwt.decode(token, options={"verify_signature": False}).get("iss")
    except jwt.PyJWTError:
        raise EnlistmentRefused(Reason.BAD_TOKEN, "not a JWT") from None
    return issuer if isinstance(issuer, str) else None


async def verify_identity_token(token: str, keys: PartnerKeySource, *, issuer: str,
                                audience: str, now: float) -> IdentityClaims:
    """Check an enlistment token; refusals carry the documented enlistment reasons."""
    try:
        kid = jwt.get_unverified_header(token).get("kid")
    except jwt.PyJWTError:
        raise EnlistmentRefused(Reason.BAD_TOKEN, "not a JWT") from None
    try:
        claims = verify_token(token, await keys.jwks(kid), issuer=issuer, audience=audience,
                              now=now)
    except PartnerKeysUnavailable:
        raise EnlistmentRefused(Reason.BAD_TOKEN, "partner keys unavailable") from None
    except TokenError as e:
        raise EnlistmentRefused(Reason.BAD_TOKEN, str(e)) from None
    subject = claims.get("sub")
    if not isinstance(subject, str) or not subject:
        raise EnlistmentRefused(Reason.BAD_TOKEN, "sub must be a non-empty string")
    return IdentityClaims(claims["iss"], subject)


def push_token(key: SigningKey, *, issuer: str, audience: str, recipient: str,
               clock: Clock) -> str:
    """The bearer token of a push call: gatekeeper-signed, short-lived, purpose ``push``."""
    return issue_token(key, issuer=issuer, subject=recipient, audience=audience,
                       lifetime_seconds=PUSH_TOKEN_LIFETIME, now=clock.now(),
                       extra_claims={"purpose": PUSH_TOKEN_PURPOSE})
