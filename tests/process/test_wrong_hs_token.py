"""A bridge whose hs_token the homeserver does not have refuses to become ready, in one line
naming the key, instead of saying "ready" and never hearing an event."""

from __future__ import annotations

import pytest

from bridge.config import load_config
from tests.support.bridge_process import BridgeProcess
from tests.support.stack import _configure

pytestmark = pytest.mark.synapse


async def test_a_wrong_hs_token_stops_the_start(tmp_path):
    # The engine plays no part in this check; SQLite keeps it short.
    synapse, sandbox, _, config_path = _configure(f"sqlite:{tmp_path / 'bridge.db'}", tmp_path,
                                                  {})
    config = load_config(config_path, environ={})
    config["appservice.hs_token"] = "not-the-token-in-the-registration"
    config.save()
    await sandbox.start()
    await synapse.start()
    try:
        bridge = BridgeProcess(config_path)
        assert await bridge.wait_exit(timeout=90) == 1, bridge.log
        log = bridge.log
        assert "appservice.hs_token" in log and "the bridge is ready" not in log, log
        assert "Traceback" not in log, log
    finally:
        synapse.stop()
        await sandbox.stop()
