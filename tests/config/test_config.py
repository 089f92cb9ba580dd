"""Configuration: validation errors name the key, environment overrides, in-place upgrades."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import pytest
from ruamel.yaml import YAML

from bridge.config import PLACEHOLDER_TOKEN, ConfigError, load_config

EXAMPLE = Path(__file__).resolve().parents[2] / "config.example.yaml"
yaml = YAML()


def write_config(tmp_path: Path, **changes) -> Path:
    """The example config with ``changes`` ("a.b": value, or "a.b": DELETE) and real tokens."""
    data = yaml.load(EXAMPLE)
    data["appservice"]["as_token"] = "as-secret"
    data["appservice"]["hs_token"] = "hs-secret"
    for path, value in changes.items():
        *parents, leaf = path.split(".")
        node = data
        for part in parents:
            node = node[part]
        if value is DELETE:
            del node[leaf]
        else:
            node[leaf] = value
    path = tmp_path / "config.yaml"
    with path.open("w") as file:
        yaml.dump(data, file)
    return path


DELETE = object()


def test_example_config_loads_and_has_safe_defaults(tmp_path):
    config = load_config(write_config(tmp_path), environ={})
    assert config["appservice.hostname"] == "127.0.0.1"
    assert config["metrics.hostname"] == "127.0.0.1"
    assert config["appservice.database"].startswith("sqlite:")
    assert config["bridge.permissions"]["localhost"] == "user"


def test_example_config_refuses_to_start_without_tokens(tmp_path):
    path = tmp_path / "config.yaml"
    shutil.copyfile(EXAMPLE, path)
    with pytest.raises(ConfigError, match=r"appservice\.as_token: not generated yet.*-g"):
        load_config(path, environ={})
    assert load_config(path, require_tokens=False, environ={})["appservice.as_token"] == \
        PLACEHOLDER_TOKEN


@pytest.mark.parametrize(("key", "value", "message"), [
    ("homeserver.domain", DELETE, r"^homeserver\.domain: required but missing$"),
    ("appservice.port", "abc", r"^appservice\.port: expected an integer, got 'abc' \(str\)$"),
    ("appservice.port", 70000, r"^appservice\.port: expected an integer from 1 to 65535"),
    ("appservice.port", True, r"^appservice\.port: expected an integer"),
    ("homeserver.address", "ftp://example.org", r"^homeserver\.address: expected an http"),
    ("homeserver.address", "not a url", r"^homeserver\.address: expected an http"),
    ("gateway.jwks_url", 5, r"^gateway\.jwks_url: expected a string, got 5 \(int\)"),
    ("appservice.database", "mysql://x/y", r"^appservice\.database: expected sqlite:<path> or"),
    ("appservice.database", "sqlite:", r"^appservice\.database: an SQLite URL needs a file"),
    ("appservice.database", "postgres:///db", r"^appservice\.database: a PostgreSQL URL needs"),
    ("homeserver.verify_ssl", "yes please", r"^homeserver\.verify_ssl: expected true or false"),
    ("bridge.inbox_default", "sidebar", r"^bridge\.inbox_default: expected one of separate, main"),
    ("bridge.identity_change_policy", "ask",
     r"^bridge\.identity_change_policy: expected one of notice, block, got 'ask' \(str\)$"),
    ("bridge.username_template", "ghost_{name}",
     r"^bridge\.username_template: unknown placeholder"),
    ("bridge.username_template", "ghost",
     r"^bridge\.username_template: must contain {internal_id}"),
    ("bridge.permissions", {"@admin": "admin"}, r"^bridge\.permissions: '@admin' is not a full"),
    ("bridge.permissions", {"*": "superuser"}, r"^bridge\.permissions: level of '\*' must be"),
    ("appservice.bot_username", "Bot User",
     r"^appservice\.bot_username: 'Bot User' is not a valid"),
    ("partner_server.path_prefix", "interop/", r"^partner_server\.path_prefix: expected a path"),
    ("gateway.idle_timeout", 0, r"^gateway\.idle_timeout: must be at least 1"),
    ("logging", {"handlers": {}}, r"^logging: expected a logging\.config\.dictConfig mapping"),
])
def test_invalid_values_name_the_key_and_the_problem(tmp_path, key, value, message):
    with pytest.raises(ConfigError, match=message):
        load_config(write_config(tmp_path, **{key: value}), environ={})


def test_cross_field_checks(tmp_path):
    path = write_config(tmp_path, **{"gateway.reconnect_backoff_initial": 500})
    with pytest.raises(ConfigError, match=r"reconnect_backoff_initial: larger than"):
        load_config(path, environ={})


def test_invalid_yaml_is_reported_with_the_file(tmp_path):
    path = tmp_path / "config.yaml"
    path.write_text("homeserver: [unclosed\n")
    with pytest.raises(ConfigError, match=r"config\.yaml: not valid YAML"):
        load_config(path, environ={})


def test_missing_file_says_what_to_do(tmp_path):
    with pytest.raises(ConfigError, match=r"no such file\. Copy config\.example\.yaml"):
        load_config(tmp_path / "nope.yaml", environ={})


def test_environment_overrides_take_precedence_and_are_not_saved(tmp_path):
    path = write_config(tmp_path)
    environ = {
        "INTEROP_BRIDGE__APPSERVICE__PORT": "31000",
        "INTEROP_BRIDGE__APPSERVICE__DATABASE": "postgres://bridge@db.internal/bridge",
        "INTEROP_BRIDGE__BRIDGE__ENCRYPTION__DEFAULT": "false",
        "INTEROP_BRIDGE__BRIDGE__PERMISSIONS__EXAMPLE.ORG": "admin",
        "INTEROP_BRIDGE__BRIDGE__PERMISSIONS__LOCALHOST": "none",
        "UNRELATED": "x",
    }
    config = load_config(path, environ=environ)
    assert config["appservice.port"] == 31000
    assert config["appservice.database"] == "postgres://bridge@db.internal/bridge"
    assert config["bridge.encryption.default"] is False
    assert config["bridge.permissions"]["example.org"] == "admin"
    assert config["bridge.permissions"]["localhost"] == "none"
    assert yaml.load(path)["appservice"]["port"] == 29340


def test_environment_override_errors_name_the_variable(tmp_path):
    path = write_config(tmp_path)
    with pytest.raises(ConfigError,
                       match=r"appservice\.port \(from INTEROP_BRIDGE__APPSERVICE__PORT\)"
                             r": expected an integer"):
        load_config(path, environ={"INTEROP_BRIDGE__APPSERVICE__PORT": "eighty"})
    with pytest.raises(ConfigError,
                       match=r"INTEROP_BRIDGE__APPSERVICE__PROT: there is no config key"):
        load_config(path, environ={"INTEROP_BRIDGE__APPSERVICE__PROT": "1"})


def test_unknown_keys_are_warned_about(tmp_path, caplog):
    path = write_config(tmp_path, **{"appservice.listen_adress": "0.0.0.0"})
    config = load_config(path, environ={})
    with caplog.at_level(logging.WARNING, logger="bridge.config"):
        config.warn_unknown_keys()
    assert "Unknown config key appservice.listen_adress" in caplog.text


def test_old_config_is_upgraded_in_place_keeping_values(tmp_path):
    path = write_config(tmp_path, **{
        "appservice.port": 31337,
        "homeserver.domain": "example.org",
        "bridge.permissions": {"example.org": "user", "@boss:example.org": "admin"},
        # keys an older version did not have
        "metrics": DELETE,
        "bridge.message_requests": DELETE,
        "gateway.keepalive_interval": DELETE,
    })
    assert "\nmetrics:" not in path.read_text()
    config = load_config(path, environ={})
    saved = yaml.load(path)
    assert saved["appservice"]["port"] == 31337
    assert saved["homeserver"]["domain"] == "example.org"
    assert dict(saved["bridge"]["permissions"]) == {"example.org": "user",
                                                    "@boss:example.org": "admin"}
    assert saved["appservice"]["as_token"] == "as-secret"
    assert saved["metrics"]["hostname"] == "127.0.0.1"
    assert saved["bridge"]["message_requests"] is True
    assert saved["gateway"]["keepalive_interval"] == 30
    assert config["metrics.enabled"] is False
    # the example's comments come along, so the upgraded file stays documented
    assert "# The database. SQLite is the embedded default" in path.read_text()


def test_identity_change_policy_is_added_as_notice_and_a_chosen_block_is_kept(tmp_path):
    older = write_config(tmp_path, **{"bridge.identity_change_policy": DELETE})
    assert load_config(older, environ={})["bridge.identity_change_policy"] == "notice"
    assert yaml.load(older)["bridge"]["identity_change_policy"] == "notice"
    chosen = write_config(tmp_path, **{"bridge.identity_change_policy": "block",
                                       "bridge.message_requests": DELETE})
    assert load_config(chosen, environ={})["bridge.identity_change_policy"] == "block"
    saved = yaml.load(chosen)
    assert saved["bridge"]["identity_change_policy"] == "block"
    assert saved["bridge"]["message_requests"] is True  # upgraded, the choice kept


def test_up_to_date_config_is_not_rewritten(tmp_path):
    path = write_config(tmp_path)
    load_config(path, environ={})
    before = path.stat().st_mtime_ns, path.read_text()
    load_config(path, environ={})
    assert (path.stat().st_mtime_ns, path.read_text()) == before
