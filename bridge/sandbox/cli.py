"""``python -m bridge.sandbox``: run the sandbox gateway in the foreground."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
from pathlib import Path

from .config import SandboxConfig
from .server import SandboxGateway

ADMIN_SECRET_ENV = "SANDBOX_ADMIN_SECRET"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bridge.sandbox",
        description="Local stand-in for a gatekeeper's interoperability gateway "
                    "(interop-sandbox protocol v1). Listens on loopback by default.")
    parser.add_argument("--host", default="127.0.0.1", help="listen address (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=29400, help="listen port (default 29400)")
    parser.add_argument("--data", default="sandbox-data",
                        help="directory for the state file sandbox.db and the simulated users' "
                             "master key simulated-users.key (default ./sandbox-data)")
    parser.add_argument("--database-url", default="",
                        help="mautrix async_db URL instead of DATA/sandbox.db "
                             "(sqlite:… or postgres://…)")
    parser.add_argument("--integrator-id", default="1", help="integrator id (default 1)")
    parser.add_argument("--partner-base-url", default="",
                        help="partner server base URL; the identity JWT's iss")
    parser.add_argument("--partner-jwks-url", default="",
                        help="default: {partner-base-url}/.well-known/oauth/openid/jwks")
    parser.add_argument("--partner-push-url", default="",
                        help="default: {partner-base-url}/push")
    parser.add_argument("--gateway-id", default="",
                        help="the gateway's name in tokens (default: its base URL)")
    parser.add_argument("--public-base-url", default="",
                        help="URL the sandbox is reachable at (default http://HOST:PORT)")
    parser.add_argument("--admin-secret", default=None,
                        help=f"admin API secret (or env {ADMIN_SECRET_ENV}); "
                             "without one the admin API refuses everything")
    parser.add_argument("--retention-days", type=float, default=30,
                        help="mailbox retention (default 30)")
    parser.add_argument("--idle-unenlist-days", type=float, default=30,
                        help="un-enlist clients idle this long (default 30)")
    parser.add_argument("--test-clock", action="store_true",
                        help="allow moving the clock forward through the admin API")
    parser.add_argument("--log-level", default="INFO")
    return parser


def config_from_args(args: argparse.Namespace) -> SandboxConfig:
    if not args.partner_base_url and not args.partner_jwks_url:
        raise SystemExit("--partner-base-url (or --partner-jwks-url) is required")
    data = Path(args.data)
    data.mkdir(parents=True, exist_ok=True, mode=0o700)
    database_url = args.database_url or f"sqlite:{data / 'sandbox.db'}"
    secret = args.admin_secret if args.admin_secret is not None else os.environ.get(
        ADMIN_SECRET_ENV, "")
    return SandboxConfig(
        integrator_id=args.integrator_id, host=args.host, port=args.port,
        database_url=database_url, partner_base_url=args.partner_base_url,
        partner_jwks_url=args.partner_jwks_url, partner_push_url=args.partner_push_url,
        gateway_id=args.gateway_id, public_base_url=args.public_base_url, admin_secret=secret,
        retention_days=args.retention_days, idle_unenlist_days=args.idle_unenlist_days,
        test_clock=args.test_clock,
        simulated_users_key_file=str(data / "simulated-users.key"),
    )


async def run(config: SandboxConfig) -> None:
    gateway = SandboxGateway(config)
    await gateway.start()
    info = gateway.server_info()
    # Printed so that scripts and operators can pin the gateway's Noise key (protocol §5.3).
    print(f"sandbox gateway on {config.base_url}; gateway_id={info['gateway_id']}; "
          f"noise_static_public={info['noise_static_public']}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    try:
        await stop.wait()
    finally:
        await gateway.stop()


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    asyncio.run(run(config_from_args(args)))
