"""``python -m bridge.sandbox`` starts a real process that serves the endpoints."""

from __future__ import annotations

import asyncio
import os
import socket
import sys

import aiohttp


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def test_command_line_starts_and_stops(tmp_path, partner):
    port = free_port()
    env = {**os.environ, "SANDBOX_ADMIN_SECRET": "cli-secret"}
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bridge.sandbox", "--port", str(port), "--data", str(tmp_path),
        "--partner-base-url", partner.base_url, "--integrator-id", "3",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL, env=env)
    try:
        banner = (await asyncio.wait_for(process.stdout.readline(), 20)).decode()
        assert f"http://127.0.0.1:{port}" in banner and "noise_static_public=" in banner
        async with aiohttp.ClientSession() as http:
            base = f"http://127.0.0.1:{port}"
            async with http.get(base + "/.well-known/interop/server-info") as resp:
                info = await resp.json()
            assert info["integrator_id"] == "3" and info["versions"] == [1]
            assert info["noise_static_public"] in banner
            async with http.get(base + "/_sandbox/admin/v1/partners") as resp:
                assert resp.status == 401
            async with http.get(base + "/_sandbox/admin/v1/partners",
                                headers={"Authorization": "Bearer cli-secret"}) as resp:
                assert resp.status == 200
        assert (tmp_path / "sandbox.db").exists()
        # The simulated users' master key lives beside it, readable by the owner only.
        assert (tmp_path / "simulated-users.key").stat().st_mode & 0o077 == 0
    finally:
        process.terminate()
        assert await asyncio.wait_for(process.wait(), 20) == 0
