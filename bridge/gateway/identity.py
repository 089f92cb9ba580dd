"""The partner server's identity tokens for its users, cached until shortly before expiry."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

from .ids import UserVisibleId
from .tokens import SigningKey, issue_identity_token


class IdentityTokenIssuer:
    """Issues each user's identity JWT (docs §3) and reuses it while it has > ``min_remaining``
    seconds left, so reconnect storms do not mean a signature per attempt."""

    def __init__(self, key: SigningKey, *, partner_base: str, gateway_audience: str,
                 lifetime_seconds: int = 3600, min_remaining: int = 300,
                 clock: Callable[[], float] = time.time) -> None:
        self._key = key
        self._partner_base = partner_base
        self._audience = gateway_audience
        self._lifetime = lifetime_seconds
        self._min_remaining = min_remaining
        self._clock = clock
        self._cache: dict[UserVisibleId, tuple[str, float]] = {}

    def token_for(self, user: UserVisibleId, *, fresh: bool = False) -> str:
        now = self._clock()
        cached = self._cache.get(user)
        if cached is not None and not fresh and cached[1] - now > self._min_remaining:
            return cached[0]
        token = issue_identity_token(self._key, partner_base=self._partner_base,
                                     user_visible_id=user, gateway_audience=self._audience,
                                     lifetime_seconds=self._lifetime, now=now)
        self._cache[user] = (token, now + self._lifetime)
        return token

    def invalidate(self, user: UserVisibleId) -> None:
        """Forget the cached token (the gateway refused it): the next one is freshly signed."""
        self._cache.pop(user, None)

    def provider(self, user: UserVisibleId) -> Callable[[], Awaitable[str]]:
        """A ``token_provider`` for :class:`GatewayConnection`."""

        async def provide() -> str:
            return self.token_for(user)

        return provide
