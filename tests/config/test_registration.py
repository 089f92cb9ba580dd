"""`interop-bridge -g` writes a registration the homeserver accepts and saves the tokens."""

from __future__ import annotations

import os
import re
import shutil
import stat
import subprocess
import sys
from pathlib import Path

from ruamel.yaml import YAML

from bridge.config import PLACEHOLDER_TOKEN
from bridge.gateway.ids import Address
from bridge.matrix.ids import ghost_mxid

EXAMPLE = Path(__file__).resolve().parents[2] / "config.example.yaml"
yaml = YAML(typ="safe")


def generate(tmp_path: Path) -> tuple[dict, dict]:
    config_path = tmp_path / "config.yaml"
    if not config_path.exists():
        shutil.copyfile(EXAMPLE, config_path)
    registration_path = tmp_path / "registration.yaml"
    result = subprocess.run(
        [sys.executable, "-m", "bridge", "-g", "-c", str(config_path),
         "-r", str(registration_path)],
        capture_output=True, text=True, check=True,
    )
    assert "Wrote" in result.stdout
    assert stat.S_IMODE(registration_path.stat().st_mode) == 0o600
    return yaml.load(config_path), yaml.load(registration_path)


def test_registration_has_fresh_tokens_saved_to_the_config(tmp_path):
    config, registration = generate(tmp_path)
    assert registration["as_token"] == config["appservice"]["as_token"] != PLACEHOLDER_TOKEN
    assert registration["hs_token"] == config["appservice"]["hs_token"] != PLACEHOLDER_TOKEN
    assert registration["as_token"] != registration["hs_token"]
    assert len(registration["as_token"]) >= 64
    first = registration["as_token"]
    _, registration = generate(tmp_path)
    assert registration["as_token"] != first


def test_registration_namespaces_cover_ghosts_and_bot_exclusively(tmp_path):
    _, registration = generate(tmp_path)
    assert registration["url"] == "http://127.0.0.1:29340"
    assert registration["sender_localpart"] == "interopbot"
    users = registration["namespaces"]["users"]
    assert all(ns["exclusive"] for ns in users)

    def claimed(mxid: str) -> bool:
        return any(re.fullmatch(ns["regex"], mxid) for ns in users)

    assert claimed("@interopbot:localhost")
    assert claimed(ghost_mxid("interop_{internal_id}", Address("1-10853634039893@interop"),
                              "localhost"))
    assert not claimed("@alice:localhost")
    assert not claimed("@interop_1=40x:example.org")
    assert not claimed("@interopbot2:localhost")


def test_registration_asks_for_ephemeral_and_e2ee_data(tmp_path):
    _, registration = generate(tmp_path)
    assert registration["receive_ephemeral"] is True
    assert registration["de.sorunome.msc2409.push_ephemeral"] is True
    assert registration["org.matrix.msc3202"] is True
    assert registration["rate_limited"] is False


def test_example_registration_matches_the_generated_shape(tmp_path):
    _, registration = generate(tmp_path)
    example = yaml.load(EXAMPLE.parent / "registration.yaml.example")
    assert set(example) == set(registration)
    assert example["namespaces"] == registration["namespaces"]


def test_environment_overrides_reach_the_registration_but_not_the_file(tmp_path):
    config_path = tmp_path / "config.yaml"
    shutil.copyfile(EXAMPLE, config_path)
    subprocess.run(
        [sys.executable, "-m", "bridge", "-g", "-c", str(config_path), "-r",
         str(tmp_path / "registration.yaml")],
        env={**os.environ, "INTEROP_BRIDGE__APPSERVICE__ADDRESS": "http://bridge:29340"},
        capture_output=True, check=True,
    )
    assert yaml.load(tmp_path / "registration.yaml")["url"] == "http://bridge:29340"
    assert yaml.load(config_path)["appservice"]["address"] == "http://127.0.0.1:29340"
