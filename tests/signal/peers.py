"""JSON-lines Signal parties for tests and benchmarks: our conformance driver and the Node peer."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
NODE_DIR = Path(__file__).resolve().parent / "node"


def ensure_node_modules() -> None:
    """Install the pinned npm packages (``npm ci``) when they are missing."""
    if ((NODE_DIR / "node_modules" / "libsignal").is_dir() and (
            NODE_DIR / "node_modules" / "@privacyresearch" / "libsignal-protocol-typescript"
    ).is_dir()):
        return
    subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=NODE_DIR, check=True,
                   stdout=subprocess.DEVNULL)


class PeerError(Exception):
    pass


class JsonLinesPeer:
    """One subprocess speaking the conformance protocol."""

    def __init__(self, argv: list[str], name: str, env: dict[str, str] | None = None,
                 cwd: Path | None = None) -> None:
        self.name = name
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.DEVNULL, text=True, bufsize=1,
                                     env=env, cwd=cwd)
        self._next_id = 0

    def call(self, cmd: str, **fields: Any) -> dict[str, Any]:
        self._next_id += 1
        request = {"id": self._next_id, "cmd": cmd, **fields}
        assert self.proc.stdin and self.proc.stdout
        self.proc.stdin.write(json.dumps(request) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            raise PeerError(f"{self.name} exited during {cmd}")
        reply = json.loads(line)
        assert reply.get("id") == self._next_id, reply
        return reply

    def ok(self, cmd: str, **fields: Any) -> dict[str, Any]:
        reply = self.call(cmd, **fields)
        if not reply["ok"]:
            raise PeerError(f"{self.name} {cmd}: {reply.get('error')}")
        return reply

    # conveniences
    def create(self, party: str, pre_keys: int = 10, start: int = 1, spk_id: int = 1,
               registration_id: int | None = None) -> dict[str, Any]:
        fields: dict[str, Any] = {"party": party, "preKeys": pre_keys, "preKeyStart": start,
                                  "signedPreKeyId": spk_id}
        if registration_id is not None:
            fields["registrationId"] = registration_id
        return self.ok("create", **fields)["bundle"]

    def encrypt(self, party: str, peer: str, plaintext: bytes) -> tuple[str, str]:
        reply = self.ok("encrypt", party=party, peer=peer,
                        plaintext=base64.b64encode(plaintext).decode())
        return reply["type"], reply["body"]

    def decrypt(self, party: str, peer: str, kind: str, body: str) -> bytes:
        reply = self.ok("decrypt", party=party, peer=peer, type=kind, body=body)
        return base64.b64decode(reply["plaintext"])

    def try_decrypt(self, party: str, peer: str, kind: str, body: str) -> dict[str, Any]:
        return self.call("decrypt", party=party, peer=peer, type=kind, body=body)

    def close(self) -> None:
        try:
            if self.proc.poll() is None:
                self.call("quit")
        except (PeerError, BrokenPipeError, OSError):
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def python_peer(db_path: Path | None = None) -> JsonLinesPeer:
    argv = [sys.executable, "-m", "bridge.signal.conformance"]
    if db_path is not None:
        argv += ["--db", str(db_path)]
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    env.pop("INTEROP_BRIDGE_MASTER_KEY", None)
    return JsonLinesPeer(argv, "python", env=env, cwd=ROOT)


def node_peer(state_path: Path | None = None, script: str = "peer.js") -> JsonLinesPeer:
    """``peer.js``: npm ``libsignal``; ``peer-ts.js``: ``@privacyresearch/libsignal-protocol-
    typescript`` (in memory only)."""
    ensure_node_modules()
    argv = ["node", str(NODE_DIR / script)]
    if state_path is not None:
        argv += ["--state", str(state_path)]
    return JsonLinesPeer(argv, "node", cwd=NODE_DIR)
