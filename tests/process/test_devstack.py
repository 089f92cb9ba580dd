"""The README's run command: Synapse, the sandbox gateway and the bridge on SQLite, with a demo
account and simulated contacts; Ctrl-C stops everything."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import time

import pytest

from bridge.devstack.ports import free_port

pytestmark = pytest.mark.synapse


async def test_devstack_starts_prints_login_and_stops(tmp_path):
    log_path = tmp_path / "devstack.log"
    process = subprocess.Popen(
        [sys.executable, "-m", "bridge.devstack", "--data", str(tmp_path / "data"),
         "--synapse-port", str(free_port()), "--bridge-port", str(free_port()),
         "--sandbox-port", str(free_port())],
        stdout=log_path.open("wb"), stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 90
        while "The local stack is running" not in log_path.read_text():
            assert process.poll() is None, log_path.read_text()
            assert time.monotonic() < deadline, log_path.read_text()
            await asyncio.sleep(0.3)
        output = log_path.read_text()
        assert "@demo:localhost" in output and "demo-password" in output
        assert "simulated gatekeeper users: gina, hugo" in output
        assert (tmp_path / "data" / "bridge" / "bridge.db").exists()
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=30) == 0
        assert "Stopped" in log_path.read_text()
    finally:
        if process.poll() is None:
            process.kill()
