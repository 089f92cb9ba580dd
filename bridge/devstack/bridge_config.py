"""Write a bridge config and registration for a local stack (demo, tests)."""

from __future__ import annotations

import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..config import load_config
from ..registration import generate_registration

EXAMPLE = Path(__file__).resolve().parent.parent / "config" / "example-config.yaml"


def write_bridge_config(directory: Path, *, homeserver: str, domain: str, port: int,
                        database: str,
                        overrides: Mapping[str, Any] | None = None) -> tuple[Path, Path]:
    """Copy the example config into ``directory`` with the given values, generate tokens and the
    registration; returns (config path, registration path)."""
    directory.mkdir(parents=True, exist_ok=True)
    config_path = directory / "config.yaml"
    registration_path = directory / "registration.yaml"
    shutil.copyfile(EXAMPLE, config_path)
    config = load_config(config_path, require_tokens=False, environ={})
    values = {
        "homeserver.address": homeserver,
        "homeserver.domain": domain,
        "appservice.address": f"http://127.0.0.1:{port}",
        "appservice.port": port,
        "appservice.database": database,
        "partner_server.public_url": f"http://127.0.0.1:{port}/_interop",
        "bridge.permissions": {domain: "user", f"@admin:{domain}": "admin"},
        **dict(overrides or {}),
    }
    for key, value in values.items():
        config[key] = value
    config.save()
    generate_registration(config_path, registration_path, environ={})
    return config_path, registration_path
