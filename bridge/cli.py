"""Command line: ``interop-bridge`` and ``python -m bridge`` are the same program."""

from __future__ import annotations

import argparse
import asyncio
import sys

from . import __version__
from .config import ConfigError, load_config
from .matrix.homeserver import HomeserverRefused
from .storage import DatabaseTooNew
from .trust import MasterKeyError

EXIT_CONFIG = 2
EXIT_RUNTIME = 1


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="interop-bridge",
        description="A Matrix bridge to a messaging gatekeeper's DMA interoperability gateway.",
    )
    parser.add_argument("-c", "--config", default="config.yaml", metavar="PATH",
                        help="the config file (default: %(default)s)")
    parser.add_argument("-g", "--generate-registration", action="store_true",
                        help="write fresh tokens to the config and an appservice registration "
                             "file")
    parser.add_argument("-r", "--registration", default="registration.yaml", metavar="PATH",
                        help="where -g writes the registration (default: %(default)s)")
    parser.add_argument("--version", action="version", version=f"interop-bridge {__version__}")
    return parser


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    try:
        if args.generate_registration:
            from .registration import generate_registration

            generate_registration(args.config, args.registration)
            print(f"Wrote {args.registration} and saved the new tokens to {args.config}.\n"
                  "Add the registration to your homeserver (Synapse: app_service_config_files) "
                  "and restart it, then start the bridge.")
            return
        config = load_config(args.config)
    except ConfigError as e:
        print(f"interop-bridge: config error: {e}", file=sys.stderr)
        raise SystemExit(EXIT_CONFIG) from None

    from .app import Bridge, configure_logging

    configure_logging(config)
    config.warn_unknown_keys()
    try:
        asyncio.run(Bridge(config).run())
    except (DatabaseTooNew, HomeserverRefused, MasterKeyError) as e:
        print(f"interop-bridge: {e}", file=sys.stderr)
        raise SystemExit(EXIT_RUNTIME) from None
