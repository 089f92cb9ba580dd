"""``python -m bridge.devstack``: the bridge's main job on its embedded default, on this machine.

Starts (or reuses, from ``--data``) a Synapse homeserver on loopback, the sandbox gateway and the
bridge on SQLite, creates a demo Matrix account and a few simulated gatekeeper users, and prints
how to log in. Stop it with Ctrl-C. With ``--demo`` it instead plays a scripted conversation
between the demo account and the simulated user gina (every message type both ways), prints its
transcript, stops, and exits 1 if anything did not arrive.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import signal
import sys
from pathlib import Path

from ..app import Bridge, configure_logging
from ..config import load_config
from ..sandbox.admin_cli import call as sandbox_admin
from ..sandbox.config import SandboxConfig
from ..sandbox.server import SandboxGateway
from .bridge_config import write_bridge_config
from .ports import free_port
from .synapse import LocalSynapse

log = logging.getLogger("bridge.devstack")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bridge.devstack", description=__doc__)
    parser.add_argument("--data", type=Path, default=Path("demo-data"),
                        help="where the stack keeps its state (default: %(default)s)")
    parser.add_argument("--synapse-port", type=int, default=8008)
    parser.add_argument("--bridge-port", type=int, default=29340)
    parser.add_argument("--sandbox-port", type=int, default=29400)
    parser.add_argument("--user", default="demo", help="the demo Matrix account's localpart")
    parser.add_argument("--password", default="demo-password")
    parser.add_argument("--sandbox-secret", default="sandbox-admin-secret",
                        help="the sandbox admin API's secret (default: %(default)s)")
    parser.add_argument("--demo", action="store_true",
                        help="play the scripted conversation, print its transcript and exit "
                             "(non-zero if anything did not arrive)")
    return parser.parse_args()


async def ensure_demo_account(synapse: LocalSynapse, state_file: Path, user: str,
                              password: str) -> None:
    accounts = json.loads(state_file.read_text()) if state_file.exists() else {}
    if user not in accounts:
        await synapse.register_user(user, password)
        accounts[user] = password
        state_file.write_text(json.dumps(accounts))


DEMO_CONTACTS = ("gina", "hugo")


async def ensure_simulated_contacts(sandbox_url: str, secret: str) -> None:
    """Gatekeeper users with real Signal clients, opted in to third-party chats."""
    for username in DEMO_CONTACTS:
        await sandbox_admin(sandbox_url, secret, "POST", "/gatekeeper-users",
                            {"username": username, "opted_in": True})  # 409 when they exist
        status, answer = await sandbox_admin(sandbox_url, secret, "POST",
                                             f"/gatekeeper-users/{username}/simulate", None)
        if status >= 300:
            raise RuntimeError(f"could not simulate {username}: {answer}")


async def run(args: argparse.Namespace) -> int:
    data = args.data.resolve()
    bridge_dir = data / "bridge"
    synapse_port = args.synapse_port or free_port()
    sandbox_url = f"http://127.0.0.1:{args.sandbox_port}"
    if (bridge_dir / "config.yaml").exists():
        # Reusing an earlier run's data: the homeserver must stay where the bridge expects it.
        address = load_config(bridge_dir / "config.yaml")["homeserver.address"]
        synapse_port = int(address.rsplit(":", 1)[1])
    else:
        write_bridge_config(bridge_dir, homeserver=f"http://127.0.0.1:{synapse_port}",
                            domain="localhost", port=args.bridge_port,
                            database=f"sqlite:{bridge_dir / 'bridge.db'}",
                            overrides={"gateway.base_url": sandbox_url,
                                       "gateway.jwks_url": f"{sandbox_url}/.well-known/jwks.json"})
    bridge_config = load_config(bridge_dir / "config.yaml")
    sandbox = SandboxGateway(SandboxConfig(
        host="127.0.0.1", port=args.sandbox_port,
        database_url=f"sqlite:{data / 'sandbox.db'}",
        simulated_users_key_file=str(data / "simulated-users.key"),
        partner_base_url=bridge_config["partner_server.public_url"],
        admin_secret=args.sandbox_secret,
    ))
    await sandbox.start()
    synapse = LocalSynapse(data / "synapse", port=synapse_port,
                           registrations=[bridge_dir / "registration.yaml"])
    await synapse.start()
    bridge = Bridge(bridge_config)
    configure_logging(bridge.config)
    if args.demo:
        # The transcript is the output; the bridge's log says only what went wrong.
        logging.getLogger("bridge").setLevel(logging.WARNING)
    try:
        await ensure_demo_account(synapse, data / "accounts.json", args.user, args.password)
        await bridge.start()
        await ensure_simulated_contacts(sandbox_url, args.sandbox_secret)
        if args.demo:
            from . import demo  # matrix-nio, from the test extra, only for the demo

            return await demo.play(synapse, sandbox_url, args.sandbox_secret, user=args.user,
                                   password=args.password)
        print(
            "\nThe local stack is running (Ctrl-C stops it):\n"
            f"  homeserver      {synapse.address}  (server name: localhost)\n"
            f"  bridge          http://127.0.0.1:{bridge.config['appservice.port']}  "
            f"(SQLite: {bridge_dir / 'bridge.db'})\n"
            f"  sandbox gateway {sandbox_url}  (admin API secret: {args.sandbox_secret}, "
            "see docs/sandbox.md)\n"
            f"  log in with any Matrix client to {synapse.address}\n"
            f"    user:     @{args.user}:localhost\n"
            f"    password: {args.password}\n"
            "  then start a direct chat with @interopbot:localhost (the bridge bot) and send\n"
            "  `help`, `opt-in` and `opt-in confirm`.\n"
            f"  simulated gatekeeper users: {', '.join(DEMO_CONTACTS)}. Make one write to you:\n"
            f"    python -m bridge.sandbox.admin_cli --url {sandbox_url} --secret "
            f"{args.sandbox_secret} users\n"
            "    (see docs/sandbox.md for sending messages as them)\n",
            flush=True,
        )
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()
        return 0
    finally:
        await bridge.stop()
        synapse.stop()
        await sandbox.stop()


def main() -> None:
    sys.exit(asyncio.run(run(parse_args())))


if __name__ == "__main__":
    main()
