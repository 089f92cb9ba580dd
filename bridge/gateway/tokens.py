"""Signed tokens of the protocol: signing keys, JWKS documents, issuing and verifying JWTs.

Used both ways round: the partner server signs users' identity tokens and publishes its JWKS;
the gatekeeper signs push and media-fetch tokens and publishes its own JWKS. Only RS256 and
ES256 are accepted, never ``none`` or shared-secret algorithms.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

Algorithm = Literal["RS256", "ES256"]
ALLOWED_ALGORITHMS: tuple[Algorithm, ...] = ("RS256", "ES256")
#: Clock skew tolerated when checking iat/exp.
DEFAULT_LEEWAY_SECONDS = 60
#: Verifiers refuse tokens that claim to live longer than this.
MAX_TOKEN_LIFETIME_SECONDS = 24 * 3600


class TokenError(Exception):
    """A token is malformed, badly signed, expired, or not meant for us."""


def _b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def jwk_thumbprint(public_jwk: dict[str, Any]) -> str:
    """RFC 7638 thumbprint: SHA-256 of the required members in lexicographic order."""
    if public_jwk["kty"] == "RSA":
        members = {"e": public_jwk["e"], "kty": "RSA", "n": public_jwk["n"]}
    elif public_jwk["kty"] == "EC":
        members = {"crv": public_jwk["crv"], "kty": "EC", "x": public_jwk["x"],
                   "y": public_jwk["y"]}
    else:
        raise ValueError(f"unsupported key type {public_jwk['kty']}")
    canonical = json.dumps(members, separators=(",", ":"), sort_keys=True).encode()
    return _b64url(hashlib.sha256(canonical).digest())


@dataclass(frozen=True)
class SigningKey:
    """A private signing key with its algorithm and key id (the JWK thumbprint)."""

    private_key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey
    algorithm: Algorithm

    @classmethod
    def generate(cls, algorithm: Algorithm = "RS256") -> SigningKey:
        if algorithm == "RS256":
            return cls(rsa.generate_private_key(public_exponent=65537, key_size=2048), algorithm)
        if algorithm == "ES256":
            return cls(ec.generate_private_key(ec.SECP256R1()), algorithm)
        raise ValueError(f"unsupported algorithm {algorithm}")

    @classmethod
    def from_pem(cls, pem: bytes) -> SigningKey:
        key = serialization.load_pem_private_key(pem, password=None)
        if isinstance(key, rsa.RSAPrivateKey):
            return cls(key, "RS256")
        if isinstance(key, ec.EllipticCurvePrivateKey) and isinstance(key.curve, ec.SECP256R1):
            return cls(key, "ES256")
        raise ValueError("signing key must be RSA or EC P-256")

    @classmethod
    def load_or_create(cls, path: str | os.PathLike[str], algorithm: Algorithm = "RS256"
                       ) -> SigningKey:
        """Load the PEM key at ``path``; on first run create it there (mode 0600)."""
        key_path = Path(path)
        if key_path.exists():
            return cls.from_pem(key_path.read_bytes())
        key = cls.generate(algorithm)
        key_path.parent.mkdir(parents=True, exist_ok=True)
        # O_EXCL: never overwrite a key another process just created.
        fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(key.to_pem())
        return key

    def to_pem(self) -> bytes:
        return self.private_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )

    def public_jwk(self) -> dict[str, Any]:
        public = self.private_key.public_key()
        jwk: dict[str, Any]
        if isinstance(public, rsa.RSAPublicKey):
            jwk = RSAAlgorithm.to_jwk(public, as_dict=True)
        else:
            jwk = ECAlgorithm.to_jwk(public, as_dict=True)
        jwk = {k: v for k, v in jwk.items() if k not in ("key_ops", "kid")}
        jwk.update(kid=jwk_thumbprint(jwk), use="sig", alg=self.algorithm)
        return jwk

    @property
    def key_id(self) -> str:
        return str(self.public_jwk()["kid"])


def jwks_document(keys: list[SigningKey]) -> dict[str, Any]:
    """The JSON Web Key Set publishing the public halves (list old keys too while rotating)."""
    return {"keys": [key.public_jwk() for key in keys]}


def issue_token(
    key: SigningKey,
    *,
    issuer: str,
    subject: str,
    audience: str,
    lifetime_seconds: int = 3600,
    now: float | None = None,
    extra_claims: dict[str, Any] | None = None,
) -> str:
    issued_at = int(time.time() if now is None else now)
    claims: dict[str, Any] = {
        **(extra_claims or {}),
        "iss": issuer, "sub": subject, "aud": audience,
        "iat": issued_at, "exp": issued_at + lifetime_seconds,
    }
    return jwt.encode(claims, key.private_key, algorithm=key.algorithm,
                      headers={"kid": key.key_id, "typ": "JWT"})


def issue_identity_token(key: SigningKey, *, partner_base: str, user_visible_id: str,
                         gateway_audience: str, lifetime_seconds: int = 3600,
                         now: float | None = None) -> str:
    """The partner server's assertion of a user's visible id, for enlistment and hello."""
    return issue_token(key, issuer=partner_base, subject=user_visible_id,
                       audience=gateway_audience, lifetime_seconds=lifetime_seconds, now=now)


def verify_token(
    token: str,
    jwks: dict[str, Any],
    *,
    issuer: str,
    audience: str,
    purpose: str | None = None,
    leeway_seconds: int = DEFAULT_LEEWAY_SECONDS,
    now: float | None = None,
) -> dict[str, Any]:
    """Check signature (key chosen by ``kid`` from ``jwks``), iss, aud, iat, exp and, if given,
    the ``purpose`` claim. Returns the claims or raises :class:`TokenError`."""
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError as exc:
        raise TokenError("malformed token") from exc
    algorithm = header.get("alg")
    if algorithm not in ALLOWED_ALGORITHMS:
        raise TokenError(f"algorithm {algorithm!r} not allowed")
    key = find_key(jwks, header.get("kid"))
    if key is None:
        raise TokenError("no key with this kid")
    if key.algorithm_name != algorithm:
        raise TokenError("token algorithm does not match its key")
    current = time.time() if now is None else now
    try:
        claims = jwt.decode(
            token, key.key, algorithms=[algorithm], audience=audience, issuer=issuer,
            leeway=leeway_seconds,
            options={"require": ["iss", "sub", "aud", "iat", "exp"], "verify_exp": False,
                     "verify_iat": False, "verify_nbf": False},
        )
    except jwt.PyJWTError as exc:
        raise TokenError(f"token refused: {exc}") from exc
    # Time checks done here so that tests (and the sandbox's clock) can inject ``now``.
    issued_at, expires_at = claims["iat"], claims["exp"]
    if not isinstance(issued_at, int | float) or not isinstance(expires_at, int | float):
        raise TokenError("iat/exp must be numbers")
    if expires_at + leeway_seconds < current:
        raise TokenError("token expired")
    if issued_at - leeway_seconds > current:
        raise TokenError("token issued in the future")
    if expires_at - issued_at > MAX_TOKEN_LIFETIME_SECONDS:
        raise TokenError("token lifetime too long")
    if purpose is not None and claims.get("purpose") != purpose:
        raise TokenError("token not issued for this purpose")
    return claims


def find_key(jwks: dict[str, Any], kid: str | None) -> jwt.PyJWK | None:
    if not kid:
        return None
    for entry in jwks.get("keys", []):
        if isinstance(entry, dict) and entry.get("kid") == kid:
            try:
                return jwt.PyJWK(entry)
            except jwt.PyJWTError:
                return None
    return None
