"""The Prometheus endpoint: on loopback, per-bridge registry, queue depths read at scrape time."""

from __future__ import annotations

import aiohttp
import pytest
from nio import RoomMessageNotice

from bridge.devstack.ports import free_port
from tests.support.matrix_client import PersonClient
from tests.support.stack import running_stack

pytestmark = pytest.mark.synapse


async def test_metrics_endpoint_reports_handling_and_queues(db_url, tmp_path):
    port = free_port()
    async with running_stack(db_url, tmp_path, overrides={"metrics.enabled": True,
                                                          "metrics.port": port}) as stack:
        alice = await PersonClient.create(stack.synapse, "alice", tmp_path / "alice")
        try:
            room = await alice.create_dm("@interopbot:localhost")
            await alice.wait_for_member(room, "@interopbot:localhost")
            await alice.send_text(room, "ping")
            await alice.wait_for(room, lambda e: isinstance(e, RoomMessageNotice)
                                 and "Pong" in e.body)
        finally:
            await alice.close()
        async with (
            aiohttp.ClientSession() as http,
            http.get(f"http://127.0.0.1:{port}/metrics") as resp,
        ):
            assert resp.status == 200
            text = await resp.text()
    assert 'bridge_queue_depth{queue="matrix_inbox"} 0.0' in text
    handled = [line for line in text.splitlines()
               if line.startswith('bridge_handling_seconds_count{source="matrix"}')]
    assert handled and float(handled[0].split()[-1]) >= 3  # invite, messages, state events
    assert 'bridge_gateway_connections{state="open"}' in text
