"""Prometheus metrics on their own listener (loopback by default).

One registry per bridge instance (no process-global collectors), so several bridges can run in
one process (tests) and nothing registers itself by being imported. Values that live in the
database (queue depths) are read when Prometheus scrapes, not on every change.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Literal

from aiohttp import web
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.context_managers import Timer
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest

log = logging.getLogger("bridge.metrics")

#: Where a message goes: the one name for a direction in modules (``chats/to_matrix.py``,
#: ``mapping/to_gateway.py``, …), metrics and docs.
Direction = Literal["to_matrix", "to_gateway"]
#: Where a handled event came from: a Matrix event from the appservice inbox, or a message a
#: partner client stored from the gateway.
Source = Literal["matrix", "gateway"]


class BridgeMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.messages = Counter(
            "bridge_messages", "Messages bridged, by direction, content type and result",
            ["direction", "type", "result"], registry=self.registry)
        self.decrypt_failures = Counter(
            "bridge_decrypt_failures", "Messages that could not be decrypted",
            ["layer"], registry=self.registry)
        self.retries = Counter(
            "bridge_retries", "Retries: resent messages, retry receipts, re-handled events",
            ["kind"], registry=self.registry)
        self.queue_depth = Gauge(
            "bridge_queue_depth", "Work stored but not yet handled", ["queue"],
            registry=self.registry)
        self.connections = Gauge(
            "bridge_gateway_connections", "Partner clients' gateway connections by state",
            ["state"], registry=self.registry)
        self.handling_seconds = Histogram(
            "bridge_handling_seconds", "Time to handle one Matrix event or one gateway message",
            ["source"], registry=self.registry,
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30))

    def count_message(self, direction: Direction, kind: str, result: str) -> None:
        self.messages.labels(direction, kind, result).inc()

    def handling(self, source: Source) -> Timer:
        return self.handling_seconds.labels(source).time()

    def observe_partner(self, what: str, count: int) -> None:
        """What the partner clients count: decrypt failures, retries and resends."""
        if what == "signal_decrypt_failed":
            self.decrypt_failures.labels("signal").inc(count)
        else:
            self.retries.labels(what).inc(count)


Refresh = Callable[[BridgeMetrics], Awaitable[None]]


class MetricsServer:
    def __init__(self, metrics: BridgeMetrics, refresh: Refresh) -> None:
        self.metrics = metrics
        self.refresh = refresh
        self._runner: web.AppRunner | None = None

    async def _scrape(self, _: web.Request) -> web.Response:
        try:
            await self.refresh(self.metrics)
        except Exception:
            log.exception("Refreshing gauges for a scrape failed; serving the last values")
        return web.Response(body=generate_latest(self.metrics.registry),
                            headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def start(self, host: str, port: int) -> None:
        app = web.Application()
        app.router.add_get("/metrics", self._scrape)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        await web.TCPSite(self._runner, host, port).start()
        log.info("Metrics on http://%s:%d/metrics", host, port)

    async def stop(self) -> None:
        if self._runner:
            await self._runner.cleanup()
            self._runner = None
