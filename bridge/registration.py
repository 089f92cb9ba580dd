"""Generating the appservice registration the homeserver loads."""

from __future__ import annotations

import re
import secrets
from collections.abc import Mapping
from pathlib import Path

from ruamel.yaml import YAML

from .config import Config, load_config
from .matrix.ids import ghost_user_regex


def new_token() -> str:
    return secrets.token_urlsafe(48)


def build_registration(config: Config) -> dict:
    domain = config["homeserver.domain"]
    bot = config["appservice.bot_username"]
    return {
        "id": config["appservice.id"],
        "url": config["appservice.address"],
        "as_token": config["appservice.as_token"],
        "hs_token": config["appservice.hs_token"],
        "sender_localpart": bot,
        "rate_limited": False,
        "namespaces": {
            "users": [
                {"regex": f"@{re.escape(bot)}:{re.escape(domain)}", "exclusive": True},
                {
                    "regex": ghost_user_regex(config["bridge.username_template"], domain),
                    "exclusive": True,
                },
            ],
            "aliases": [],
            "rooms": [],
        },
        # Typing, receipts and presence pushed in transactions (MSC2409). Synapse reads
        # receive_ephemeral or the unstable name; a plain push_ephemeral is ignored.
        "receive_ephemeral": config["appservice.ephemeral_events"],
        "de.sorunome.msc2409.push_ephemeral": config["appservice.ephemeral_events"],
        # To-device events, device lists and one-time-key counts for the bot's E2EE (MSC3202).
        "org.matrix.msc3202": True,
        # The bridge makes its devices (the bot's and each ghost's) itself, without /login
        # (MSC4190); Synapse then refuses appservice logins for this registration.
        "io.element.msc4190": True,
    }


def generate_registration(config_path: str | Path, registration_path: str | Path, *,
                          environ: Mapping[str, str] | None = None) -> dict:
    """Save fresh tokens into the config file and write the registration file.

    The tokens go into the file as it is on disk; environment overrides (which may set the
    addresses inside the registration) apply to the registration only, never to the saved file.
    """
    on_disk = load_config(config_path, require_tokens=False, environ={})
    on_disk["appservice.as_token"] = new_token()
    on_disk["appservice.hs_token"] = new_token()
    on_disk.save()
    registration = build_registration(load_config(config_path, environ=environ))
    path = Path(registration_path)
    yaml = YAML()
    yaml.default_flow_style = False
    with path.open("w") as file:
        yaml.dump(registration, file)
    path.chmod(0o600)
    return registration
