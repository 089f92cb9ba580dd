"""One ordered queue of partner events per user, consumed by one worker per user.

Order matters within a user (a read receipt comes after the message it is for, a "connected"
notice after the "lost" one), never across users, so one slow portal cannot hold up the others.

Two ways in: :meth:`UserEventQueues.post` returns at once (a stored message: it is durable, so the
connection may acknowledge it already); :meth:`UserEventQueues.publish` returns once the event is
handled and raises what the handler raised (a receipt or notification is acknowledged to the
gateway only after that, so a failure gets it redelivered).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Protocol

from mautrix.types import UserID

from .events import AccountChanged, ClientEvent

if TYPE_CHECKING:
    from .client import PartnerClient

log = logging.getLogger("bridge.partner.events")


class PartnerEventHandler(Protocol):
    """The consumer of every user's queue (the chat flows)."""

    async def client_event(self, client: PartnerClient, event: ClientEvent) -> None: ...

    async def account_event(self, event: AccountChanged) -> None: ...


_Item = tuple[Callable[[], Awaitable[None]], "asyncio.Future[None] | None"]


class _UserQueue:
    def __init__(self, user: UserID) -> None:
        self.items: asyncio.Queue[_Item] = asyncio.Queue()
        self.worker: asyncio.Task[None] | None = None
        self.log = log.getChild(user)


class UserEventQueues:
    """Built before its consumer exists (the consumer needs the partner clients, which need the
    queues); consumption begins with :meth:`start`. Events published earlier wait."""

    def __init__(self) -> None:
        self._queues: dict[UserID, _UserQueue] = {}
        self._handler: PartnerEventHandler | None = None
        self._stopping = False

    def start(self, handler: PartnerEventHandler) -> None:
        self._handler = handler
        for user in self._queues:
            self._ensure_worker(user)

    # --- publishing ----------------------------------------------------------------------------

    def post(self, client: PartnerClient, event: ClientEvent) -> None:
        self._put(client.user_id, self._client_work(client, event), None)

    async def publish(self, client: PartnerClient, event: ClientEvent) -> None:
        await self._publish(client.user_id, self._client_work(client, event))

    async def publish_account(self, event: AccountChanged) -> None:
        async def work() -> None:
            assert self._handler is not None
            await self._handler.account_event(event)
        await self._publish(event.user, work)

    def _client_work(self, client: PartnerClient, event: ClientEvent
                     ) -> Callable[[], Awaitable[None]]:
        async def work() -> None:
            assert self._handler is not None
            await self._handler.client_event(client, event)
        return work

    async def _publish(self, user: UserID, work: Callable[[], Awaitable[None]]) -> None:
        queue = self._queues.get(user)
        if queue is not None and queue.worker is asyncio.current_task():
            # Published while handling one of the same user's events: waiting for the queue
            # would wait for ourselves.
            await work()
            return
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._put(user, work, done)
        await done

    def _put(self, user: UserID, work: Callable[[], Awaitable[None]],
             done: asyncio.Future[None] | None) -> None:
        queue = self._queues.get(user)
        if queue is None:
            queue = self._queues[user] = _UserQueue(user)
        queue.items.put_nowait((work, done))
        self._ensure_worker(user)

    # --- consuming -----------------------------------------------------------------------------

    def _ensure_worker(self, user: UserID) -> None:
        queue = self._queues[user]
        if (self._handler is None or self._stopping
                or (queue.worker is not None and not queue.worker.done())):
            return
        queue.worker = asyncio.create_task(self._consume(queue), name=f"partner-events:{user}")

    async def _consume(self, queue: _UserQueue) -> None:
        while not queue.items.empty():
            work, done = queue.items.get_nowait()
            if done is not None and done.cancelled():
                continue  # the publisher gave up (its connection closed): nothing to report
            try:
                await work()
            except Exception as e:
                if done is not None:
                    done.set_exception(e)
                else:
                    queue.log.exception("Handling a partner event failed")
            else:
                if done is not None and not done.done():
                    done.set_result(None)

    def workers(self) -> list[asyncio.Task[None]]:
        """The consuming tasks running now (one per user with events in hand)."""
        return [queue.worker for queue in self._queues.values()
                if queue.worker is not None and not queue.worker.done()]

    async def close(self, user: UserID) -> None:
        """Let the event in progress finish and drop the rest: a stored message is handed on
        by the next start (it stays stored), and publishers waiting for their event are told
        it was not handled."""
        queue = self._queues.pop(user, None)
        if queue is None:
            return
        pending: list[_Item] = []
        while not queue.items.empty():
            pending.append(queue.items.get_nowait())
        if queue.worker is not None:
            await asyncio.gather(queue.worker, return_exceptions=True)
        for _, done in pending:
            if done is not None and not done.done():
                done.set_exception(QueueClosed(user))

    async def stop(self) -> None:
        self._stopping = True
        for user in list(self._queues):
            await self.close(user)


class QueueClosed(Exception):
    def __init__(self, user: UserID) -> None:
        super().__init__(f"the event queue of {user} closed before the event was handled")
