"""Push calls to the partner server (protocol §10).

``POST {partner}/push`` with ``{"to": "<user-visible id>"}`` and a gatekeeper-signed bearer JWT
(``purpose=push``). A push only wakes the partner client; the content stays in the mailbox. At most
one push per login per ``min_interval`` seconds, and no retries: the next mailbox entry pushes
again, so a lost push costs latency, never a message.
"""

from __future__ import annotations

import asyncio
import logging

import aiohttp

from bridge.gateway.tokens import SigningKey

from .clock import Clock
from .tokens import push_token

log = logging.getLogger("bridge.sandbox.push")


class PushNotifier:
    def __init__(self, url: str | None, session: aiohttp.ClientSession,
                 signing_key: SigningKey, *, issuer: str, audience: str, clock: Clock,
                 min_interval: float = 10.0) -> None:
        self.url = url
        self.session = session
        self.signing_key = signing_key
        self.issuer = issuer
        self.audience = audience
        self.clock = clock
        self.min_interval = min_interval
        self._last_push: dict[str, float] = {}
        self._tasks: set[asyncio.Task] = set()
        self.sent = 0
        self.failed = 0

    def notify(self, login: str, visible_id: str) -> None:
        if not self.url:
            return
        loop_time = asyncio.get_running_loop().time()
        if loop_time - self._last_push.get(login, float("-inf")) < self.min_interval:
            return
        self._last_push[login] = loop_time
        task = asyncio.create_task(self._push(login, visible_id), name=f"push:{login}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _push(self, login: str, visible_id: str) -> None:
        assert self.url
        token = push_token(self.signing_key, issuer=self.issuer, audience=self.audience,
                           recipient=visible_id, clock=self.clock)
        try:
            async with self.session.post(
                self.url, json={"to": visible_id}, headers={"Authorization": f"Bearer {token}"},
                timeout=aiohttp.ClientTimeout(total=10),
            ) as resp:
                if resp.status < 300:
                    self.sent += 1
                    return
                log.getChild(login).warning("Push answered HTTP %d", resp.status)
        except (TimeoutError, aiohttp.ClientError) as e:
            log.getChild(login).warning("Push failed: %s", type(e).__name__)
        self.failed += 1

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
