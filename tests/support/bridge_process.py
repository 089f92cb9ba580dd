"""The bridge as a real separate process (``python -m bridge -c config``), so that tests can stop
it with SIGTERM or kill it with SIGKILL like an operator or the kernel would."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from pathlib import Path


class BridgeProcess:
    def __init__(self, config_path: Path, env: dict[str, str] | None = None) -> None:
        self.log_path = config_path.parent / f"bridge-{time.monotonic_ns()}.log"
        self.process = subprocess.Popen(
            [sys.executable, "-m", "bridge", "-c", str(config_path)],
            cwd=config_path.parent, env={**os.environ, **(env or {})},
            stdout=subprocess.DEVNULL, stderr=self.log_path.open("wb"),
        )

    @property
    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    async def wait_for_log(self, text: str, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while text not in self.log:
            if self.process.poll() is not None:
                raise AssertionError(f"bridge exited ({self.process.returncode}):\n{self.log}")
            if time.monotonic() > deadline:
                raise AssertionError(f"{text!r} not logged within {timeout} s:\n{self.log}")
            await asyncio.sleep(0.1)

    async def wait_ready(self, timeout: float = 60) -> None:
        await self.wait_for_log("the bridge is ready", timeout)

    async def wait_exit(self, timeout: float = 30) -> int:
        deadline = time.monotonic() + timeout
        while self.process.poll() is None:
            if time.monotonic() > deadline:
                self.process.kill()
                raise AssertionError(f"bridge did not exit within {timeout} s:\n{self.log}")
            await asyncio.sleep(0.1)
        return self.process.returncode

    def kill(self) -> None:
        """SIGKILL: no handler runs, nothing is flushed or closed; the kernel drops the sockets."""
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
