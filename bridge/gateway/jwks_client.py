"""Fetching and caching a remote JWKS, and verifying tokens against it (async I/O shell)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any, Protocol

import aiohttp

from .tokens import TokenError, find_key, verify_token

log = logging.getLogger("bridge.gateway.jwks")


class TokenVerifier(Protocol):
    async def verify(self, token: str, *, issuer: str, audience: str,
                     purpose: str | None = None) -> dict[str, Any]: ...


class JwksCache:
    """One remote key set: cached ``max_age`` seconds, refetched early (at most every
    ``min_refetch_interval`` s) when a token names a ``kid`` we do not know, so key rotation
    works without letting garbage tokens hammer the key server."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        url: str,
        *,
        max_age: float = 300.0,
        min_refetch_interval: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._session = session
        self.url = url
        self._max_age = max_age
        self._min_refetch_interval = min_refetch_interval
        self._clock = clock
        self._jwks: dict[str, Any] | None = None
        self._fetched_at = float("-inf")
        self._lock = asyncio.Lock()
        self.fetch_count = 0
        self._log = log.getChild(url)

    async def get(self, *, force: bool = False) -> dict[str, Any]:
        async with self._lock:
            age = self._clock() - self._fetched_at
            stale = self._jwks is None or age >= self._max_age
            if stale or (force and age >= self._min_refetch_interval):
                await self._fetch()
            assert self._jwks is not None
            return self._jwks

    async def _fetch(self) -> None:
        try:
            timeout = aiohttp.ClientTimeout(total=10)
            async with self._session.get(self.url, timeout=timeout) as resp:
                resp.raise_for_status()
                document = await resp.json(content_type=None)
        except (TimeoutError, aiohttp.ClientError, ValueError) as exc:
            if self._jwks is None:
                raise TokenError(f"cannot fetch key set: {exc}") from exc
            self._log.warning("key set refetch failed, keeping cached keys: %s", exc)
            return
        if not isinstance(document, dict) or not isinstance(document.get("keys"), list):
            raise TokenError("key set document is not a JWKS")
        self._jwks = document
        self._fetched_at = self._clock()
        self.fetch_count += 1

    async def verify(self, token: str, *, issuer: str, audience: str,
                     purpose: str | None = None) -> dict[str, Any]:
        jwks = await self.get()
        try:
            import jwt

            kid = jwt.get_unverified_header(token).get("kid")
        except Exception as exc:
            raise TokenError("malformed token") from exc
        if find_key(jwks, kid) is None:
            jwks = await self.get(force=True)
        return verify_token(token, jwks, issuer=issuer, audience=audience, purpose=purpose)
