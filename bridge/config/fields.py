"""Every configuration key the bridge knows, with the check its value must pass.

A check takes the raw YAML value and returns the normalised value, or raises :class:`ValueError`
whose message says what was expected; :mod:`bridge.config` prefixes it with the key.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from yarl import URL

Check = Callable[[Any], Any]


@dataclass(frozen=True)
class Field:
    path: str
    check: Check
    # Mapping-valued keys whose own keys are free-form (permissions, logging) are copied whole.
    is_mapping: bool = False
    # Keys that describe the deployment have no safe default: a config without them is refused
    # instead of being filled in from the example.
    required: bool = False


def _describe(value: Any) -> str:
    return f"{value!r} ({type(value).__name__})"


def string(*, allow_empty: bool = False) -> Check:
    def check(value: Any) -> str:
        if not isinstance(value, str):
            raise ValueError(f"expected a string, got {_describe(value)}")
        if not allow_empty and not value.strip():
            raise ValueError("must not be empty")
        return value

    return check


def boolean(value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"expected true or false, got {_describe(value)}")
    return value


def integer(minimum: int | None = None, maximum: int | None = None) -> Check:
    def check(value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"expected an integer, got {_describe(value)}")
        if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
            raise ValueError(f"expected an integer from {minimum} to {maximum}, got {value}")
        return value

    return check


def number(minimum: float) -> Check:
    def check(value: Any) -> float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueError(f"expected a number, got {_describe(value)}")
        if value < minimum:
            raise ValueError(f"must be at least {minimum}, got {value}")
        return float(value)

    return check


def http_url(value: Any) -> str:
    string()(value)
    url = URL(value)
    if url.scheme not in ("http", "https") or not url.host:
        raise ValueError(f"expected an http:// or https:// URL, got {value!r}")
    return value.rstrip("/")


def optional_http_url(value: Any) -> str:
    string(allow_empty=True)(value)
    return http_url(value) if value.strip() else ""


def database_url(value: Any) -> str:
    string()(value)
    scheme = value.split(":", 1)[0]
    if scheme in ("sqlite", "sqlite3"):
        if not value.split(":", 1)[1].lstrip("/"):
            raise ValueError("an SQLite URL needs a file path: sqlite:<path>")
        return value
    if scheme in ("postgres", "postgresql"):
        if not URL(value).host and "host=" not in value:
            raise ValueError(
                f"a PostgreSQL URL needs a host: postgres://user@host/db, got {value!r}")
        return value
    raise ValueError(f"expected sqlite:<path> or postgres://…, got {value!r}")


def one_of(*choices: str) -> Check:
    def check(value: Any) -> str:
        if value not in choices:
            raise ValueError(f"expected one of {', '.join(choices)}, got {_describe(value)}")
        return value

    return check


def template(*placeholders: str, required: str | None = None) -> Check:
    allowed = set(placeholders)

    def check(value: Any) -> str:
        string()(value)
        used = set(re.findall(r"{(\w*)}", value))
        unknown = used - allowed
        if unknown:
            raise ValueError(
                f"unknown placeholder {{{sorted(unknown)[0]}}}; allowed: "
                + ", ".join(f"{{{p}}}" for p in placeholders)
            )
        if required and required not in used:
            raise ValueError(f"must contain {{{required}}}")
        return value

    return check


_LOCALPART = re.compile(r"^[a-z0-9._=/-]+$")


def localpart(value: Any) -> str:
    string()(value)
    if not _LOCALPART.match(value):
        raise ValueError(f"{value!r} is not a valid Matrix localpart (a-z, 0-9, . _ = - /)")
    return value


def path_prefix(value: Any) -> str:
    string()(value)
    if not value.startswith("/") or value.endswith("/") or len(value) < 2:
        raise ValueError(
            f"expected a path like /_interop (leading, no trailing slash), got {value!r}")
    return value


_LEVELS = ("none", "user", "admin")


def permissions(value: Any) -> dict[str, str]:
    if not isinstance(value, dict) or not value:
        raise ValueError(
            f"expected a mapping of user ID / domain / * to a level, got {_describe(value)}")
    for key, level in value.items():
        if not isinstance(key, str) or not key:
            raise ValueError(f"keys must be user IDs, domains or *, got {_describe(key)}")
        if key.startswith("@") and ":" not in key:
            raise ValueError(f"{key!r} is not a full Matrix user ID (@user:domain)")
        if level not in _LEVELS:
            raise ValueError(
                f"level of {key!r} must be one of {', '.join(_LEVELS)}, got {level!r}")
    return dict(value)


def logging_config(value: Any) -> dict:
    if not isinstance(value, dict) or value.get("version") != 1:
        raise ValueError("expected a logging.config.dictConfig mapping with version: 1")
    return value


def token(value: Any) -> str:
    return string()(value)


FIELDS: tuple[Field, ...] = (
    Field("homeserver.address", http_url, required=True),
    Field("homeserver.domain", string(), required=True),
    Field("homeserver.software", one_of("synapse", "dendrite", "conduit", "standard")),
    Field("homeserver.verify_ssl", boolean),
    Field("homeserver.status_endpoint", optional_http_url),
    Field("appservice.address", http_url, required=True),
    Field("appservice.hostname", string()),
    Field("appservice.port", integer(1, 65535)),
    Field("appservice.database", database_url),
    Field("appservice.database_opts.min_size", integer(0, 1000)),
    Field("appservice.database_opts.max_size", integer(1, 1000)),
    Field("appservice.id", string()),
    Field("appservice.bot_username", localpart),
    Field("appservice.bot_displayname", string(allow_empty=True)),
    Field("appservice.bot_avatar", string(allow_empty=True)),
    Field("appservice.ephemeral_events", boolean),
    Field("appservice.as_token", token),
    Field("appservice.hs_token", token),
    Field("gateway.base_url", http_url, required=True),
    Field("gateway.integrator_id", string(), required=True),
    Field("gateway.gateway_id", string(allow_empty=True)),
    Field("gateway.jwks_url", http_url),
    Field("gateway.server_static_key", string(allow_empty=True)),
    Field("gateway.protocol_version", integer(1, 255)),
    Field("gateway.idle_timeout", number(1)),
    Field("gateway.keepalive_interval", number(1)),
    Field("gateway.reconnect_backoff_initial", number(0.1)),
    Field("gateway.reconnect_backoff_max", number(1)),
    Field("partner_server.public_url", http_url, required=True),
    Field("partner_server.path_prefix", path_prefix),
    Field("partner_server.signing_key_file", string()),
    Field("partner_server.identity_token_lifetime", integer(60, 86400)),
    Field("trust.master_key_file", string()),
    Field("bridge.username_template", template("internal_id", required="internal_id")),
    Field("bridge.displayname_template", template("username", "internal_id")),
    Field("bridge.command_prefix", string()),
    Field("bridge.user_visible_id_template", template("localpart", "domain")),
    Field("bridge.allow_custom_username", boolean),
    Field("bridge.inbox_default", one_of("separate", "main")),
    Field("bridge.message_requests", boolean),
    Field("bridge.reachability_ping_interval", number(0)),
    Field("bridge.identity_change_policy", one_of("notice", "block")),
    Field("bridge.reportable_messages", integer(0, 50)),
    Field("bridge.connection_notices.delay", number(0)),
    Field("bridge.connection_notices.min_interval", number(0)),
    Field("bridge.encryption.allow", boolean),
    Field("bridge.encryption.default", boolean),
    Field("bridge.permissions", permissions, is_mapping=True),
    Field("provisioning.enabled", boolean),
    Field("provisioning.hostname", string()),
    Field("provisioning.port", integer(1, 65535)),
    Field("provisioning.shared_secret", string(allow_empty=True)),
    Field("metrics.enabled", boolean),
    Field("metrics.hostname", string()),
    Field("metrics.port", integer(1, 65535)),
    Field("logging", logging_config, is_mapping=True),
)

FIELDS_BY_PATH = {field.path: field for field in FIELDS}
