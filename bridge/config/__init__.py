"""Loading, upgrading, overriding and validating the bridge's configuration.

Built on mautrix's config helpers: the packaged example config is the base, and on every load the
user's values are copied into it, so keys added by a newer version appear in the user's file while
their values are kept.
"""

from __future__ import annotations

import io
import logging
import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from mautrix.util.config import BaseFileConfig, ConfigUpdateHelper
from ruamel.yaml import YAML, YAMLError

from .fields import FIELDS, FIELDS_BY_PATH

__all__ = ["ENV_PREFIX", "PLACEHOLDER_TOKEN", "Config", "ConfigError", "load_config"]

ENV_PREFIX = "INTEROP_BRIDGE__"
PLACEHOLDER_TOKEN = "This value is generated when generating the registration"
EXAMPLE_CONFIG = "pkg://bridge/config/example-config.yaml"

log = logging.getLogger("bridge.config")


class ConfigError(Exception):
    """A configuration problem, worded for the person who edits the file."""


def _leaf_paths(data: Any, prefix: str = "") -> Iterator[str]:
    if isinstance(data, Mapping):
        for key, value in data.items():
            path = f"{prefix}.{key}" if prefix else str(key)
            if path in FIELDS_BY_PATH:
                yield path
            else:
                yield from _leaf_paths(value, path)
    elif prefix:
        yield prefix


def _is_known(path: str) -> bool:
    if path in FIELDS_BY_PATH:
        return True
    return any(
        path.startswith(field.path + ".") for field in FIELDS if field.is_mapping
    )


def _addressable(path: str) -> str:
    """Bracket a free-form key inside a mapping field (``bridge.permissions.[example.org]``)."""
    for field in FIELDS:
        if field.is_mapping and path.startswith(field.path + "."):
            key = path[len(field.path) + 1:]
            return f"{field.path}.[{key}]" if "." in key else path
    return path


def _parse_scalar(text: str) -> Any:
    try:
        return YAML(typ="safe").load(text) if text.strip() else ""
    except YAMLError:
        return text


class Config(BaseFileConfig):
    """The bridge's configuration file, with its validated values readable as ``config["a.b"]``."""

    def __init__(self, path: str | os.PathLike, base_path: str = EXAMPLE_CONFIG,
                 environ: Mapping[str, str] | None = None) -> None:
        super().__init__(str(path), base_path)
        self.environ = os.environ if environ is None else environ
        self.unknown_keys: list[str] = []
        self.overridden: dict[str, str] = {}

    @property
    def directory(self) -> Path:
        return Path(self.path).resolve().parent

    def resolve_path(self, key: str) -> Path:
        """A file path from the config, relative paths taken relative to the config file."""
        path = Path(self[key]).expanduser()
        return path if path.is_absolute() else self.directory / path

    def load(self) -> None:
        try:
            super().load()
        except FileNotFoundError:
            raise ConfigError(
                f"{self.path}: no such file. Copy config.example.yaml to it and edit it."
            ) from None
        except YAMLError as e:
            raise ConfigError(f"{self.path}: not valid YAML: {e}") from None
        if not isinstance(self._data, Mapping):
            raise ConfigError(f"{self.path}: the top level must be a mapping of sections")
        self.unknown_keys = [path for path in _leaf_paths(self._data) if not _is_known(path)]
        for field in FIELDS:
            if field.required and field.path not in self:
                raise ConfigError(f"{field.path}: required but missing")

    def do_update(self, helper: ConfigUpdateHelper) -> None:
        for field in FIELDS:
            helper.copy(field.path)

    def update(self, save: bool = True) -> None:
        before = self._dump()
        super().update(save=False)
        if save and self._dump() != before:
            log.info("Upgraded %s in place: new keys added, your values kept", self.path)
            self.save()

    def _dump(self) -> str:
        out = io.StringIO()
        YAML().dump(self._data, out)
        return out.getvalue()

    def apply_environment(self) -> None:
        for name, raw in self.environ.items():
            if not name.startswith(ENV_PREFIX):
                continue
            path = ".".join(part.lower() for part in name[len(ENV_PREFIX):].split("__"))
            if not _is_known(path):
                raise ConfigError(f"environment variable {name}: there is no config key {path!r}")
            self[_addressable(path)] = _parse_scalar(raw)
            self.overridden[path] = name

    def validate(self, *, require_tokens: bool = True) -> None:
        for field in FIELDS:
            where = field.path
            if field.path in self.overridden:
                where += f" (from {self.overridden[field.path]})"
            if field.path not in self:
                raise ConfigError(f"{where}: required but missing")
            try:
                self[field.path] = field.check(self[field.path])
            except ValueError as e:
                raise ConfigError(f"{where}: {e}") from None
        if self["appservice.database_opts.min_size"] > self["appservice.database_opts.max_size"]:
            raise ConfigError("appservice.database_opts.min_size: larger than max_size")
        if self["gateway.reconnect_backoff_initial"] > self["gateway.reconnect_backoff_max"]:
            raise ConfigError(
                "gateway.reconnect_backoff_initial: larger than reconnect_backoff_max")
        if self["provisioning.enabled"] and len(self["provisioning.shared_secret"]) < 16:
            raise ConfigError("provisioning.shared_secret: needs at least 16 characters when "
                              "provisioning.enabled is true")
        if require_tokens:
            for key in ("appservice.as_token", "appservice.hs_token"):
                if self[key] == PLACEHOLDER_TOKEN:
                    raise ConfigError(
                        f"{key}: not generated yet. Run `interop-bridge -g -c {self.path} "
                        "-r registration.yaml` and register that file with your homeserver."
                    )

    def warn_unknown_keys(self, logger: logging.Logger = log) -> None:
        for path in self.unknown_keys:
            logger.warning("Unknown config key %s ignored (removed when the file is upgraded)",
                           path)

    def as_plain_dict(self, key: str) -> dict:
        """A mapping value as plain dicts (e.g. for logging.config.dictConfig)."""

        def plain(value: Any) -> Any:
            if isinstance(value, Mapping):
                return {k: plain(v) for k, v in value.items()}
            if isinstance(value, list):
                return [plain(v) for v in value]
            return value

        return plain(self[key])


def load_config(path: str | os.PathLike, *, require_tokens: bool = True, save: bool = True,
                environ: Mapping[str, str] | None = None) -> Config:
    """Load ``path``, upgrade it in place, apply environment overrides and validate every value."""
    config = Config(path, environ=environ)
    config.load()
    config.update(save=save)
    config.apply_environment()
    config.validate(require_tokens=require_tokens)
    return config

