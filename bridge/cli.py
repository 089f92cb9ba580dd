"""Command line: ``interop-bridge`` / ``python -m bridge``."""

from __future__ import annotations


def main() -> None:
    raise SystemExit("interop-bridge: not yet runnable")
