"""An Element-Web-like Matrix client for tests: matrix-js-sdk 43 with its Rust crypto in Node
(``node/client.js``), driven over JSON lines (see README.md).

Element excludes insecure devices by default (MSC4153): ``exclude_insecure_devices=True`` puts
js-sdk in ``OnlySignedDevicesIsolationMode``, where it neither decrypts messages from devices
that their owner has not cross-signed nor shares room keys with them.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import itertools
import json
import os
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

NODE_DIR = Path(__file__).resolve().parent / "node"
CLIENT_JS = NODE_DIR / "client.js"

# Slack added to a node-side timeout before Python gives up on the reply itself.
_REPLY_SLACK = 15.0


def node_available() -> bool:
    return shutil.which("node") is not None and shutil.which("npm") is not None


def ensure_installed() -> None:
    """Install the pinned npm packages (``npm ci``) when they are missing."""
    if (NODE_DIR / "node_modules" / "matrix-js-sdk" / "package.json").is_file() and (
            NODE_DIR / "node_modules" / "@matrix-org" / "matrix-sdk-crypto-wasm").is_dir():
        return
    subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=NODE_DIR, check=True,
                   stdout=subprocess.DEVNULL)


class ElementClientError(Exception):
    """The node client refused a request (``ok: false``) or died."""


@dataclass
class ReceivedEvent:
    event_id: str
    room_id: str
    sender: str
    type: str  # the decrypted type if decrypted, else the wire type
    content: dict  # decrypted content ({} if not decrypted)
    encrypted: bool  # an m.room.encrypted event on the wire
    decrypted: bool
    decryption_error: str | None  # js-sdk's DecryptionFailureCode, e.g. "UNSIGNED_SENDER_DEVICE"
    shield_colour: str | None  # "NONE" | "GREY" | "RED"; None if not (successfully) decrypted
    shield_reason: str | None  # EventShieldReason name, e.g. "UNSIGNED_DEVICE"; None for NONE
    sender_device_id: str | None  # the device that made the Megolm session
    session_id: str | None  # the Megolm session id (wire content)
    decryption_error_message: str | None = None  # the SDK's message text for the failure
    sender_device_cross_signed: bool | None = None  # is that device signed by its owner
    sender_device_verified: bool | None = None  # does this client consider it verified
    sender_device_source: str | None = None  # "wire_content" | "sender_key"
    wire_type: str = ""
    state_key: str | None = None
    origin_server_ts: int = 0
    redacted: bool = False
    raw: dict = field(default_factory=dict, repr=False)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ReceivedEvent:
        return cls(
            event_id=data["event_id"], room_id=data["room_id"], sender=data["sender"],
            type=data["type"], content=data.get("content") or {},
            encrypted=data["encrypted"], decrypted=data["decrypted"],
            decryption_error=data.get("decryption_error"),
            shield_colour=data.get("shield_colour"), shield_reason=data.get("shield_reason"),
            sender_device_id=data.get("sender_device_id"), session_id=data.get("session_id"),
            decryption_error_message=data.get("decryption_error_message"),
            sender_device_cross_signed=data.get("sender_device_cross_signed"),
            sender_device_verified=data.get("sender_device_verified"),
            sender_device_source=data.get("sender_device_source"),
            wire_type=data.get("wire_type", ""), state_key=data.get("state_key"),
            origin_server_ts=data.get("origin_server_ts", 0), redacted=data.get("redacted", False),
            raw=data,
        )

    @property
    def body(self) -> str | None:
        body = self.content.get("body")
        return body if isinstance(body, str) else None


async def register_user(homeserver: str, localpart: str, password: str, *,
                        device_id: str | None = None) -> tuple[str, str, str]:
    """Register an account with open registration; returns (user_id, access_token, device_id)."""
    body: dict[str, Any] = {"username": localpart, "password": password,
                            "auth": {"type": "m.login.dummy"},
                            "initial_device_display_name": f"element-test {localpart}"}
    if device_id:
        body["device_id"] = device_id
    url = f"{homeserver}/_matrix/client/v3/register"
    async with aiohttp.ClientSession() as session, session.post(url, json=body) as resp:
        data = await resp.json()
        if resp.status != 200:
            raise RuntimeError(f"registering {localpart} failed: {resp.status} {data}")
    return data["user_id"], data["access_token"], data["device_id"]


class ElementClient:
    """One ``node client.js`` process: one Matrix device of one user."""

    def __init__(self, process: asyncio.subprocess.Process, *, user_id: str, device_id: str,
                 log_path: Path | None) -> None:
        self.process = process
        self.user_id = user_id
        self.device_id = device_id
        self.log_path = log_path
        self.info: dict[str, Any] = {}
        self._ids = itertools.count(1)
        self._pending: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self._stderr_tail: collections.deque[str] = collections.deque(maxlen=60)
        self.unmatched_replies: list[dict[str, Any]] = []
        self._reader = asyncio.create_task(self._read_stdout())
        self._stderr_reader = asyncio.create_task(self._read_stderr())

    # ---- process and protocol ----

    @classmethod
    async def spawn(cls, *, user_id: str = "", device_id: str = "",
                    log_path: Path | None = None, log_level: str | None = None
                    ) -> ElementClient:
        """Start the node process without a Matrix client in it (``start`` not sent yet).
        ``log_level``: js-sdk's (loglevel) level for its stderr log, "info" by default."""
        await asyncio.to_thread(ensure_installed)
        env = dict(os.environ)
        if log_level:
            env["ELEMENT_CLIENT_LOG_LEVEL"] = log_level
        process = await asyncio.create_subprocess_exec(
            "node", str(CLIENT_JS), cwd=NODE_DIR, env=env,
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            # a reply holding many events is one long line
            limit=16 * 1024 * 1024,
        )
        return cls(process, user_id=user_id, device_id=device_id, log_path=log_path)

    @classmethod
    async def start(cls, homeserver: str, *, user_id: str, access_token: str, device_id: str,
                    password: str | None = None, exclude_insecure_devices: bool = True,
                    log_path: Path | None = None, log_level: str | None = None,
                    timeout: float = 60) -> ElementClient:
        """Start node, log in with the given access token and device, and sync once.
        ``exclude_insecure_devices``: OnlySignedDevicesIsolationMode, Element's default."""
        client = await cls.spawn(user_id=user_id, device_id=device_id, log_path=log_path,
                                 log_level=log_level)
        try:
            client.info = await client.request(
                "start", reply_timeout=timeout, homeserver=homeserver, user_id=user_id,
                access_token=access_token, device_id=device_id, password=password,
                exclude_insecure_devices=exclude_insecure_devices)
        except BaseException:
            await client.stop()
            raise
        return client

    async def _read_stdout(self) -> None:
        assert self.process.stdout
        while line := await self.process.stdout.readline():
            try:
                message = json.loads(line)
            except ValueError:
                self._stderr_tail.append(f"(bad stdout line) {line!r}")
                continue
            future = self._pending.pop(message.get("id"), None)
            if future and not future.done():
                future.set_result(message)
            else:
                # e.g. the reply to a line that was not JSON (its id is null)
                self.unmatched_replies.append(message)
        # stdout closed: the process is gone; fail whoever still waits
        for future in self._pending.values():
            if not future.done():
                future.set_exception(ElementClientError(
                    f"element client {self.user_id} exited; last log lines:\n"
                    + "\n".join(self._stderr_tail)))
        self._pending.clear()

    async def _read_stderr(self) -> None:
        assert self.process.stderr
        # Read chunks, not lines: a log line longer than the stream's limit must not stop the
        # draining (node would block on a full pipe).
        log = self.log_path.open("ab") if self.log_path else None
        partial = b""
        try:
            while chunk := await self.process.stderr.read(65536):
                if log:
                    log.write(chunk)
                    log.flush()
                *lines, partial = (partial + chunk).split(b"\n")
                partial = partial[-4000:]
                for line in lines:
                    self._stderr_tail.append(line[:2000].decode(errors="replace"))
        finally:
            if log:
                log.close()

    async def call(self, cmd: str, fields: dict[str, Any] | None = None, *,
                   reply_timeout: float = 60) -> dict[str, Any]:
        """Send one request and return the raw reply (``ok`` true or false)."""
        request_id = next(self._ids)
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._pending[request_id] = future
        assert self.process.stdin
        if self.process.returncode is not None or self._reader.done():
            self._pending.pop(request_id, None)
            raise ElementClientError(f"element client {self.user_id} is not running")
        self.process.stdin.write(
            (json.dumps({"id": request_id, "cmd": cmd, **(fields or {})}) + "\n").encode())
        await self.process.stdin.drain()
        try:
            return await asyncio.wait_for(future, reply_timeout)
        except TimeoutError:
            self._pending.pop(request_id, None)
            raise ElementClientError(
                f"{cmd}: no reply from node within {reply_timeout} s") from None

    async def send_raw_line(self, line: bytes) -> None:
        """Write a line as is (for testing the protocol's handling of malformed input)."""
        assert self.process.stdin
        self.process.stdin.write(line.rstrip(b"\n") + b"\n")
        await self.process.stdin.drain()

    async def request(self, cmd: str, *, reply_timeout: float = 60,
                      **fields: Any) -> dict[str, Any]:
        """Send one request; raise ElementClientError unless it succeeded."""
        reply = await self.call(cmd, fields, reply_timeout=reply_timeout)
        if not reply.get("ok"):
            raise ElementClientError(f"{self.user_id} {cmd}: {reply.get('error')}")
        return {k: v for k, v in reply.items() if k not in ("id", "ok")}

    async def stop(self) -> None:
        if self.process.returncode is None:
            with contextlib.suppress(ElementClientError, ConnectionError, OSError):
                await self.call("stop", reply_timeout=10)
            try:
                await asyncio.wait_for(self.process.wait(), 10)
            except TimeoutError:
                self.process.kill()
                await self.process.wait()
        for task in (self._reader, self._stderr_reader):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await asyncio.wait_for(task, 5)

    # ---- crypto setup ----

    async def bootstrap_cross_signing(self, *, reset: bool = False) -> dict[str, Any]:
        """Create and upload master/self-signing/user-signing keys and sign this device (UIA
        with the password if the server asks; ``used_uia`` in the reply says whether it did).
        ``reset`` replaces existing keys. Returns the own cross-signing status."""
        reply = await self.request("bootstrap_cross_signing", reset=reset)
        if not reply["cross_signing_ready"] or not reply["device_cross_signed"]:
            raise ElementClientError(f"cross-signing not ready after bootstrap: {reply}")
        return reply

    async def own_status(self) -> dict[str, Any]:
        return await self.request("own_status")

    async def set_exclude_insecure_devices(self, on: bool) -> None:
        """OnlySignedDevicesIsolationMode (on) or AllDevicesIsolationMode (off)."""
        await self.request("set_exclude_insecure_devices", on=on)

    # ---- rooms ----

    async def create_room(self, *, invite: list[str], encrypted: bool = True,
                          is_direct: bool = True, name: str | None = None) -> str:
        reply = await self.request("create_room", invite=invite, encrypted=encrypted,
                                   is_direct=is_direct, name=name)
        return reply["room_id"]

    async def join(self, room_id: str) -> None:
        await self.request("join", room_id=room_id)

    async def wait_invite(self, timeout: float = 30) -> str:
        return (await self._wait("wait_invite", timeout))["room_id"]

    async def wait_membership(self, room_id: str, user_id: str, membership: str = "join",
                              timeout: float = 30) -> None:
        await self._wait("wait_membership", timeout, room_id=room_id, user_id=user_id,
                         membership=membership)

    # ---- sending ----

    async def send(self, room_id: str, content: dict,
                   event_type: str = "m.room.message") -> str:
        reply = await self.request("send", room_id=room_id, content=content,
                                   event_type=event_type)
        return reply["event_id"]

    async def send_text(self, room_id: str, body: str) -> str:
        return await self.send(room_id, {"msgtype": "m.text", "body": body})

    async def send_reaction(self, room_id: str, event_id: str, key: str) -> str:
        reply = await self.request("send_reaction", room_id=room_id, event_id=event_id, key=key)
        return reply["event_id"]

    async def redact(self, room_id: str, event_id: str, reason: str | None = None) -> str:
        reply = await self.request("redact", room_id=room_id, event_id=event_id, reason=reason)
        return reply["event_id"]

    async def send_receipt(self, room_id: str, event_id: str) -> None:
        await self.request("send_receipt", room_id=room_id, event_id=event_id)

    async def typing(self, room_id: str, on: bool, timeout_ms: int = 30000) -> None:
        await self.request("typing", room_id=room_id, on=on, timeout_ms=timeout_ms)

    # ---- observing ----

    async def _wait(self, cmd: str, timeout: float, **fields: Any) -> dict[str, Any]:
        # node enforces `timeout`; Python waits a little longer for the reply itself
        reply = await self.call(cmd, {"timeout": timeout, **fields},
                                reply_timeout=timeout + _REPLY_SLACK)
        if not reply.get("ok"):
            raise ElementClientError(f"{self.user_id} {cmd}: {reply.get('error')}")
        return {k: v for k, v in reply.items() if k not in ("id", "ok")}

    async def wait_event(self, room_id: str, *, sender: str | None = None,
                         type: str | None = None, timeout: float = 30,
                         body_contains: str | None = None,
                         key_grace: float = 5) -> ReceivedEvent:
        """The next not-yet-returned event in the room matching the filter, once its decryption
        is over. Without ``type``, state events are skipped. A failure for a missing room key is
        held back up to ``key_grace`` seconds, since js-sdk retries when the key arrives."""
        reply = await self._wait("wait_event", timeout, room_id=room_id, sender=sender,
                                 type=type, body_contains=body_contains, key_grace=key_grace)
        return ReceivedEvent.from_json(reply["event"])

    async def events(self, room_id: str) -> list[ReceivedEvent]:
        reply = await self.request("events", room_id=room_id)
        return [ReceivedEvent.from_json(e) for e in reply["events"]]

    async def retry_decryption(self, room_id: str, event_id: str) -> ReceivedEvent:
        """Have js-sdk try again to decrypt a received event (e.g. after changing the mode)."""
        reply = await self.request("retry_decryption", room_id=room_id, event_id=event_id)
        return ReceivedEvent.from_json(reply["event"])

    async def device_info(self, user_id: str) -> dict[str, dict]:
        """device_id -> {"cross_signed_by_owner", "verified", "display_name", ...}."""
        return (await self.request("device_info", user_id=user_id))["devices"]

    async def user_cross_signing(self, user_id: str) -> dict:
        return await self.request("user_cross_signing", user_id=user_id)
