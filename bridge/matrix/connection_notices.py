"""Connection notices in the management room, and the bridge state that goes with them.

The decisions (what to say, when, how often) are :class:`bridge.partner.connection_watch.
ConnectionWatch`'s; this is its async shell: it feeds each user's watch with their connection's
state changes, runs the delay timers, and posts notices and bridge states in order, one at a
time, from a single worker (so a "lost" notice can never come after the "connected" one).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from mautrix.types import UserID

from ..gateway.connection import ConnectionState
from ..gateway.errors import ErrorInfo
from ..partner.connection_watch import ConnectionWatch, StatusChange
from .bridge_state import BridgeStates

NotifyUser = Callable[[UserID, str], Awaitable[None]]


def _cause(error: ErrorInfo | None) -> str:
    if error is None:
        return ""
    return f"{int(error.code)} {error.text}".strip()


class ConnectionNotices:
    def __init__(self, *, notify_user: NotifyUser, bridge_states: BridgeStates, delay: float,
                 min_interval: float, log: logging.Logger | None = None) -> None:
        self.notify_user = notify_user
        self.bridge_states = bridge_states
        self.delay = delay
        self.min_interval = min_interval
        self.log = log or logging.getLogger("bridge.matrix.connection_notices")
        self._watches: dict[UserID, ConnectionWatch] = {}
        self._timers: dict[UserID, asyncio.TimerHandle] = {}
        self._queue: asyncio.Queue[tuple[UserID, StatusChange]] = asyncio.Queue()
        self._worker: asyncio.Task[None] | None = None

    def watch(self, mxid: UserID) -> ConnectionWatch:
        watch = self._watches.get(mxid)
        if watch is None:
            watch = self._watches[mxid] = ConnectionWatch(delay=self.delay,
                                                          min_interval=self.min_interval)
        return watch

    # --- what happens to connections -------------------------------------------------------

    def connection_changed(self, mxid: UserID, state: ConnectionState,
                           error: ErrorInfo | None, *, at: float) -> None:
        """A user's connection changed state at loop time ``at`` (synchronous, never
        blocks)."""
        now = at
        watch = self.watch(mxid)
        if state is ConnectionState.OPEN:
            self._cancel_timer(mxid)
            self._enqueue(mxid, watch.opened(now))
        elif state is ConnectionState.BACKING_OFF:
            check_at = watch.lost(now, _cause(error))
            if check_at is not None:
                self._cancel_timer(mxid)
                self._timers[mxid] = asyncio.get_running_loop().call_at(
                    check_at, self._check, mxid)
        elif state is ConnectionState.IDLE:
            self._cancel_timer(mxid)
            watch.idle()
        # CONNECTING changes nothing; STOPPED comes with its explanation through stopped().

    def _check(self, mxid: UserID) -> None:
        self._timers.pop(mxid, None)
        self._enqueue(mxid, self.watch(mxid).check(asyncio.get_running_loop().time()))

    def stopped(self, mxid: UserID, explanation: str, error: str, *, removed: bool) -> None:
        self._cancel_timer(mxid)
        self._enqueue(mxid, self.watch(mxid).stopped(explanation, error, removed=removed))

    def opted_in(self, mxid: UserID) -> None:
        self._cancel_timer(mxid)
        self._enqueue(mxid, self.watch(mxid).opted_in())

    def opted_out(self, mxid: UserID) -> None:
        self._cancel_timer(mxid)
        self._enqueue(mxid, self.watch(mxid).opted_out())

    # --- posting, in order -------------------------------------------------------------------

    def _cancel_timer(self, mxid: UserID) -> None:
        timer = self._timers.pop(mxid, None)
        if timer is not None:
            timer.cancel()

    def _enqueue(self, mxid: UserID, change: StatusChange | None) -> None:
        if change is None:
            return
        self._queue.put_nowait((mxid, change))
        if self._worker is None or self._worker.done():
            self._worker = asyncio.create_task(self._post_all(), name="connection-notices")

    async def _post_all(self) -> None:
        while not self._queue.empty():
            mxid, change = self._queue.get_nowait()
            try:
                if change.notify:
                    await self.notify_user(mxid, change.text)
                await self.bridge_states.publish(mxid, change)
            except Exception:
                self.log.exception("Could not post the connection status of %s", mxid)

    async def stop(self, timeout: float = 5.0) -> None:
        """Cancel pending checks and let what is queued go out (briefly)."""
        for mxid in list(self._timers):
            self._cancel_timer(mxid)
        worker = self._worker
        if worker is not None and not worker.done():
            done, _ = await asyncio.wait({worker}, timeout=timeout)
            if not done:
                worker.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await worker
