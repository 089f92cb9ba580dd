"""Run a real Synapse homeserver on loopback (tests, demos, dry runs)."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import aiohttp
from ruamel.yaml import YAML

from .ports import free_port

log = logging.getLogger("bridge.devstack.synapse")

# Test and demo traffic is bursty; Synapse's default rate limits would slow or refuse it.
_UNLIMITED = {"per_second": 10000, "burst_count": 100000}
_RATE_LIMITS = (
    "rc_message", "rc_registration", "rc_joins", "rc_invites", "rc_3pid_validation",
    "rc_admin_redaction", "rc_presence", "rc_delayed_event_mgmt", "rc_room_creation",
)


class LocalSynapse:
    def __init__(self, directory: Path, *, server_name: str = "localhost",
                 port: int | None = None, registrations: Sequence[Path] = ()) -> None:
        self.directory = Path(directory)
        self.server_name = server_name
        self.port = port or free_port()
        self.registrations = [Path(p) for p in registrations]
        self.process: subprocess.Popen | None = None
        self.shared_secret = ""

    @property
    def address(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def config_path(self) -> Path:
        return self.directory / "homeserver.yaml"

    def configure(self) -> None:
        """Generate (once) and rewrite the homeserver config for loopback use."""
        self.directory.mkdir(parents=True, exist_ok=True)
        if not self.config_path.exists():
            subprocess.run(
                [sys.executable, "-m", "synapse.app.homeserver", "--generate-config",
                 "--server-name", self.server_name, "--config-path", str(self.config_path),
                 "--data-directory", str(self.directory), "--report-stats=no"],
                check=True, capture_output=True,
            )
        yaml = YAML()
        config = yaml.load(self.config_path)
        config["listeners"] = [{
            "port": self.port, "bind_addresses": ["127.0.0.1"], "type": "http", "tls": False,
            "x_forwarded": False, "resources": [{"names": ["client"], "compress": False}],
        }]
        config["trusted_key_servers"] = []
        config["suppress_key_server_warning"] = True
        config["enable_registration"] = True
        config["enable_registration_without_verification"] = True
        config["presence"] = {"enabled": False}
        config["app_service_config_files"] = [str(p.resolve()) for p in self.registrations]
        config["experimental_features"] = {
            "msc2409_to_device_messages_enabled": True,
            "msc3202_transaction_extensions": True,
        }
        for key in _RATE_LIMITS:
            config[key] = dict(_UNLIMITED)
        config["rc_login"] = {k: dict(_UNLIMITED)
                              for k in ("address", "account", "failed_attempts")}
        config["log_config"] = str(self._write_log_config())
        with self.config_path.open("w") as file:
            yaml.dump(config, file)
        self.shared_secret = config["registration_shared_secret"]

    def _write_log_config(self) -> Path:
        path = self.directory / "log.config"
        path.write_text(
            "version: 1\n"
            "formatters: {precise: {format: '%(asctime)s %(levelname)s %(name)s %(message)s'}}\n"
            "handlers: {file: {class: logging.FileHandler, formatter: precise, "
            f"filename: '{self.directory / 'homeserver.log'}'}}}}\n"
            "root: {level: WARNING, handlers: [file]}\n"
            "disable_existing_loggers: false\n"
        )
        return path

    async def start(self, timeout: float = 60.0) -> None:
        self.configure()
        env = dict(os.environ, SYNAPSE_ASYNC_IO_REACTOR="0")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "synapse.app.homeserver", "-c", str(self.config_path)],
            cwd=self.directory, env=env,
            stdout=subprocess.DEVNULL, stderr=(self.directory / "stderr.log").open("wb"),
        )
        deadline = asyncio.get_running_loop().time() + timeout
        async with aiohttp.ClientSession() as session:
            while True:
                if self.process.poll() is not None:
                    raise RuntimeError(
                        f"Synapse exited with {self.process.returncode}; see {self.directory}"
                    )
                try:
                    async with session.get(f"{self.address}/_matrix/client/versions") as resp:
                        if resp.status == 200:
                            log.info("Synapse is up at %s", self.address)
                            return
                except aiohttp.ClientError:
                    pass
                if asyncio.get_running_loop().time() > deadline:
                    raise TimeoutError(f"Synapse did not start within {timeout} s")
                await asyncio.sleep(0.2)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    async def register_user(self, localpart: str, password: str, *, admin: bool = False) -> dict:
        """Create an account through the shared-secret admin API; returns the login response."""
        url = f"{self.address}/_synapse/admin/v1/register"
        async with aiohttp.ClientSession() as session:
            async with session.get(url) as resp:
                nonce = (await resp.json())["nonce"]
            kind = "admin" if admin else "notadmin"
            # The MAC covers the fields joined by NUL bytes, without a trailing one.
            mac = hmac.new(self.shared_secret.encode(),
                           b"\x00".join(p.encode() for p in (nonce, localpart, password, kind)),
                           hashlib.sha1)
            body = {"nonce": nonce, "username": localpart, "password": password,
                    "admin": admin, "mac": mac.hexdigest()}
            async with session.post(url, json=body) as resp:
                data = await resp.json()
                if resp.status != 200:
                    raise RuntimeError(f"Registering {localpart} failed: {data}")
                return data
