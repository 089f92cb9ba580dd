"""One partner client's connection to the gateway (async shell around :class:`ClientChannel`).

Lifecycle (docs/gateway-protocol.md §9, §13): opened when there is work (``send``, ``request``)
or the user is active/pushed (``wake``); closed after ``idle_timeout`` without traffic; reconnects
with backoff after transient failures; stops on errors that need the user (401 twice, 406, 440).

Nothing is lost: a delivered message/receipt/notification is acked only after its handler
returned (the handler stores durably); if the handler raises, the connection is dropped unacked
and the gateway redelivers on the next one. Outgoing stanzas come from the caller's outbox and
are resent after every (re)connect until the gateway acks them.

The rules are pure machines tested without sockets: :mod:`.stanza_session` (acks, requests,
in-flight set, resends, idle and keep-alive deadlines) and :mod:`.reconnect` (backoff, when to
give up). This module and :mod:`.session` only carry out what they decide.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import aiohttp

from .backoff import Backoff
from .codec import Node, StanzaCodec, WireError
from .connection_types import (
    FAILED,
    ChannelEnd,
    ConnectionSettings,
    ConnectionState,
    EndKind,
    Handlers,
    Outbox,
)
from .errors import ErrorInfo, GatewayError
from .ids import InternalId
from .noise_channel import (
    ChannelOpened,
    ChannelRefused,
    ClientChannel,
    ClientHello,
    StanzaReceived,
    StreamClosed,
)
from .reconnect import GiveUp, GoIdle, ReconnectNow, ReconnectPolicy
from .session import ChannelSession, SessionEnded

log = logging.getLogger("bridge.gateway.connection")


class ConnectionUnavailable(Exception):
    """A request could not be sent or answered because no channel was open."""


class GatewayConnection:
    def __init__(
        self,
        *,
        session: aiohttp.ClientSession,
        settings: ConnectionSettings,
        login: InternalId,
        noise_static_private: bytes,
        token_provider: Callable[[], Awaitable[str]],
        outbox: Outbox,
        token_rejected: Callable[[], None] | None = None,
        handlers: Handlers,
        backoff: Backoff | None = None,
        codec: StanzaCodec | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._http = session
        self.settings = settings
        self.login = login
        self._static_private = noise_static_private
        self._token_provider = token_provider
        self._token_rejected = token_rejected
        self._outbox = outbox
        self._handlers = handlers
        self.backoff = backoff or Backoff()
        self._policy = ReconnectPolicy(self.backoff)
        self._codec = codec
        self._clock = clock
        self._log = log.getChild(login)
        self.state = ConnectionState.IDLE
        self.stop_error: ErrorInfo | None = None
        self._task: asyncio.Task[None] | None = None
        self._channel_session: ChannelSession | None = None
        self._opened = asyncio.Event()
        # Set once a new channel has resent the outbox: a send() meanwhile waits for it, or it
        # could overtake an older stanza of the same chat on its way out again.
        self._outbox_resent = asyncio.Event()
        self._closing = asyncio.Event()
        self.connect_count = 0
        #: Delays actually waited between attempts (for observability and tests).
        self.backoff_history: list[float] = []

    # -- public API -----------------------------------------------------------------------

    def wake(self) -> None:
        """There is work or the user is active (or a push came): be connected."""
        if self._channel_session is not None:
            self._channel_session.touch()
        if self._task is None or self._task.done():
            self._closing.clear()
            self.stop_error = None
            self._task = asyncio.create_task(self._run(), name=f"gateway:{self.login}")

    async def send(self, node: Node) -> None:
        """Send a stanza the caller has already stored in its outbox (sent later if offline)."""
        if self._channel_session is not None and self.state is ConnectionState.OPEN:
            await self._outbox_resent.wait()
        current = self._channel_session
        if current is not None and self.state is ConnectionState.OPEN:
            try:
                await current.send_tracked(node)
                return
            except SessionEnded:
                pass  # the resend after reconnecting covers it
        self.wake()

    async def send_untracked(self, node: Node) -> None:
        """Best-effort stanzas (chat states): sent only if a channel is open now."""
        current = self._channel_session
        if current is not None and self.state is ConnectionState.OPEN:
            with contextlib.suppress(SessionEnded):
                await current.send(node)

    async def request(self, node: Node, timeout: float | None = None) -> Node:
        """Send an ``iq`` and return its result; :class:`GatewayError` for an error answer."""
        timeout = self.settings.request_timeout if timeout is None else timeout
        self.wake()
        try:
            await asyncio.wait_for(self._opened.wait(), timeout)
        except TimeoutError as exc:
            raise ConnectionUnavailable("no open channel to the gateway") from exc
        current = self._channel_session
        if current is None:
            raise ConnectionUnavailable("channel closed")
        return await current.request(node, timeout)

    async def wait_open(self, timeout: float) -> None:
        await asyncio.wait_for(self._opened.wait(), timeout)

    async def close(self) -> None:
        """Close the channel and stop reconnecting (``wake`` starts again)."""
        self._closing.set()
        task = self._task
        if task is not None and not task.done():
            # The run loop notices ``_closing`` at once when open or backing off; mid-handshake
            # it would wait for the connect timeout, so cut that short.
            done, _ = await asyncio.wait({task}, timeout=1.0)
            if not done:
                task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        self._set_state(ConnectionState.IDLE)

    # -- run loop -------------------------------------------------------------------------

    async def _run(self) -> None:
        self._policy.run_started()
        while not self._closing.is_set():
            self._set_state(ConnectionState.CONNECTING)
            started = self._clock()
            result = await self._one_connection()
            decision = self._policy.connection_ended(
                result.end, opened=result.opened, lasted=self._clock() - started,
                stop_requested=self._closing.is_set())
            if isinstance(decision, GoIdle):
                self._set_state(ConnectionState.IDLE)
                return
            if isinstance(decision, GiveUp):
                await self._stop(decision.error)
                return
            if isinstance(decision, ReconnectNow):  # a fresh token on the next attempt, at once
                if self._token_rejected is not None:
                    self._token_rejected()
                continue
            error = decision.error
            self.backoff_history.append(decision.delay)
            self._set_state(ConnectionState.BACKING_OFF, error)
            self._log.info("reconnecting in %.1fs (%s)", decision.delay,
                           f"{int(error.code)} {error.text}" if error else result.end.kind.value)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._closing.wait(), decision.delay)
        self._set_state(ConnectionState.IDLE)

    def _set_state(self, state: ConnectionState, error: ErrorInfo | None = None) -> None:
        if state is self.state:
            return
        self.state = state
        if self._handlers.on_state is not None:
            try:
                self._handlers.on_state(state, error)
            except Exception:  # noqa: BLE001 - an observer's bug must not stop the connection
                # Logged with its traceback; the connection goes on.
                self._log.exception("connection state listener failed")

    async def _stop(self, error: ErrorInfo) -> None:
        self.stop_error = error
        self._set_state(ConnectionState.STOPPED, error)
        self._log.warning("stopped: %d %s", int(error.code), error.text)
        if self._handlers.on_stopped is not None:
            await self._handlers.on_stopped(error)

    async def _one_connection(self) -> _Result:
        try:
            token = await self._token_provider()
        except Exception:  # noqa: BLE001 - logged; the run loop backs off and tries again
            self._log.exception("identity token unavailable")
            return _Result(FAILED, opened=False)
        try:
            ws = await self._http.ws_connect(
                self.settings.chat_url, timeout=aiohttp.ClientWSTimeout(ws_close=5.0),
                autoping=True, max_msg_size=1 << 20,
            )
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            self._log.info("cannot connect: %s", exc)
            return _Result(FAILED, opened=False)
        self.connect_count += 1
        channel = ClientChannel(
            static_private=self._static_private,
            server_static_public=self.settings.gateway_static_public,
            hello=ClientHello(self.settings.protocol_version, self.login, token,
                              self.settings.client_ip),
            codec=self._codec,
        )
        current = ChannelSession(ws, channel, self._handlers, self.settings, self._clock,
                                 self._log, self._outbox)
        opened = False
        try:
            await ws.send_bytes(channel.start())
            async with asyncio.timeout(self.settings.connect_timeout):
                event = await current.handshake()
            if isinstance(event, ChannelRefused):
                return _Result(ChannelEnd(EndKind.REFUSED, event.error), opened=False)
            assert isinstance(event, ChannelOpened)
            opened = True
            self._outbox_resent.clear()
            self._channel_session = current
            self._set_state(ConnectionState.OPEN)
            self._opened.set()
            # OPEN before reading the outbox: anything stored from now on is sent by send()
            # (which waits until this resend is done, so order is kept), anything stored before
            # is in this listing (sent twice at most; the gateway de-duplicates).
            for node in await self._outbox.unacknowledged():
                await current.send_tracked(node)
            self._outbox_resent.set()
            end = await self._serve_until_closing(current)
        except (TimeoutError, WireError, SessionEnded, aiohttp.ClientError) as exc:
            self._log.info("channel ended: %s", type(exc).__name__)
            end = current.end or FAILED
        except Exception:  # noqa: BLE001 - logged with its traceback
            # Whatever went wrong, the run loop must survive it and reconnect with backoff.
            self._log.exception("unexpected failure on the channel")
            end = current.end or FAILED
        finally:
            self._opened.clear()
            self._channel_session = None
            self._outbox_resent.set()  # a send() still waiting finds no channel and wakes one
            await current.close()
        return _Result(end, opened)

    async def _serve_until_closing(self, current: ChannelSession) -> ChannelEnd:
        serving = asyncio.create_task(current.serve())
        closing = asyncio.create_task(self._closing.wait())
        try:
            await asyncio.wait({serving, closing}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            closing.cancel()
        if serving.done():
            return serving.result()
        await current.close()  # close() was called while the channel was open
        serving.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await serving
        return ChannelEnd(EndKind.IDLE)


@dataclass(frozen=True, slots=True)
class _Result:
    end: ChannelEnd
    opened: bool


__all__ = [
    "ChannelOpened", "ChannelRefused", "ConnectionSettings", "ConnectionState",
    "ConnectionUnavailable", "GatewayConnection", "GatewayError", "Handlers", "Outbox",
    "StanzaReceived", "StreamClosed",
]
