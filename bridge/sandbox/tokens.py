"""Identity tokens in both directions, on top of the protocol's token module.

* Partner → gatekeeper: the user identity JWT, checked against the partner's JWKS (fetched and
  cached by ``bridge.gateway.jwks_client.JwksCache``; refetched early for an unknown ``kid``) and
  against the sandbox clock, so tests can move time.
* Gatekeeper → partner: the sandbox's own signing key (``bridge.gateway.tokens.SigningKey``),
  published at ``/.well-known/jwks.json`` and used for the push calls' bearer JWT.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import jwt

from bridge.gateway.jwks_client import JwksCache
from bridge.gateway.tokens import SigningKey, TokenError, find_key, issue_token, verify_token

from .clock import Clock
from .enlistment import EnlistmentRefused, Reason

log = logging.getLogger("bridge.sandbox.tokens")

PUSH_TOKEN_PURPOSE = "push"
MEDIA_TOKEN_PURPOSE = "media"
PUSH_TOKEN_LIFETIME = 300


@dataclass(frozen=True)
class IdentityClaims:
    issuer: str
    subject: str


def unverified_issuer(token: str) -> str | None:
    """The ``iss`` a token claims, read before verification to find its partner (protocol §4)."""
    try:
        issuer = jwt.decode(token, options={"verify_signature": False}).get("iss")
    except jwt.PyJWTError:
        raise EnlistmentRefused(Reason.BAD_TOKEN, "not a JWT") from None
    return issuer if isinstance(issuer, str) else None


async def partner_jwks_for(token: str, keys: JwksCache) -> dict[str, Any]:
    """The partner key set, refetched early when the token names a ``kid`` not in the cache."""
    try:
        kid = jwt.get_unverified_header(token).get("kid")
    except jwt.PyJWTError:
        raise TokenError("malformed token") from None
    jwks = await keys.get()
    if find_key(jwks, kid) is None:
        jwks = await keys.get(force=True)
    return jwks


async def verify_identity_token(token: str, keys: JwksCache, *, issuer: str,
                                audience: str, now: float) -> IdentityClaims:
    """Check an enlistment token against the sandbox clock; refusals carry enlistment reasons."""
    try:
        claims = verify_token(token, await partner_jwks_for(token, keys), issuer=issuer,
                              audience=audience, now=now)
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


def media_token(key: SigningKey, *, issuer: str, audience: str, storage_reference: str,
                clock: Clock) -> str:
    """The bearer token of a media proxy fetch: ``sub`` is the storage reference (protocol §11)."""
    return issue_token(key, issuer=issuer, subject=storage_reference, audience=audience,
                       lifetime_seconds=PUSH_TOKEN_LIFETIME, now=clock.now(),
                       extra_claims={"purpose": MEDIA_TOKEN_PURPOSE})
