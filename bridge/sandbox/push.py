"""Push calls to the partner server: ``POST {partner}/push`` with ``{"to": "<user-visible id>"}``.

A push only wakes the partner client; the content stays in the mailbox. Pushes for the same user
that pile up while one is in flight collapse into that one, and a failed push is retried a few times
with backoff (the mailbox keeps the message either way, so giving up loses nothing but latency).
"""

from __future__ import annotations

import asyncio
import logging

import aiohttp

from .clock import Clock
from bridge.gateway.tokens import SigningKey

from .tokens import push_token

log = logging.getLogger("bridge.sandbox.push")


class PushNotifier:
    def __init__(self, url: str | None, session: aiohttp.ClientSession,
                 signing_key: SigningKey, *, issuer: str, audience: str, clock: Clock,
                 attempts: int = 4, first_backoff: float = 0.5) -> None:
        self.url = url
        self.session = session
        self.signing_key = signing_key
        self.issuer = issuer
        self.audience = audience
        self.clock = clock
        self.attempts = attempts
        self.first_backoff = first_backoff
        self._in_flight: dict[str, asyncio.Task] = {}
        self.sent = 0
        self.failed = 0

    def notify(self, visible_id: str) -> None:
        if not self.url or visible_id in self._in_flight:
            return
        task = asyncio.create_task(self._push(visible_id), name=f"push:{visible_id}")
        self._in_flight[visible_id] = task
        task.add_done_callback(lambda _t: self._in_flight.pop(visible_id, None))

    async def _push(self, visible_id: str) -> None:
        assert self.url
        backoff = self.first_backoff
        for attempt in range(1, self.attempts + 1):
            token = push_token(self.signing_key, issuer=self.issuer, audience=self.audience,
                               recipient=visible_id, clock=self.clock)
            try:
                async with self.session.post(
                    self.url, json={"to": visible_id},
                    headers={"Authorization": f"Bearer {token}"},
                    timeout=aiohttp.ClientTimeout(total=10),
                ) as resp:
                    if resp.status < 300:
                        self.sent += 1
                        return
                    log.warning("Push attempt %d answered HTTP %d", attempt, resp.status)
            except (aiohttp.ClientError, asyncio.TimeoutError) as e:
                log.warning("Push attempt %d failed: %s", attempt, e)
            if attempt < self.attempts:
                await asyncio.sleep(backoff)
                backoff *= 2
        self.failed += 1

    async def close(self) -> None:
        tasks = list(self._in_flight.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
