"""No Docker engine runs here, so the container files are checked statically: every path, module
and setting they name must exist in the repository and pass the bridge's own config validation."""

from __future__ import annotations

import importlib.util
import re
import shutil
import subprocess
import sys
from pathlib import Path

from ruamel.yaml import YAML

from bridge.config import load_config

ROOT = Path(__file__).resolve().parents[1]
DOCKER = ROOT / "docker"
compose = YAML(typ="safe").load(DOCKER / "docker-compose.yml")


def test_compose_names_the_expected_services_with_volumes():
    assert set(compose["services"]) == {"postgres", "synapse", "sandbox", "bridge"}
    declared = set(compose["volumes"])
    for name, service in compose["services"].items():
        for volume in service.get("volumes", []):
            source = volume.split(":", 1)[0]
            if source.startswith((".", "/")):
                assert (DOCKER / source).exists(), f"{name}: {source} does not exist"
            else:
                assert source in declared, f"{name}: volume {source} is not declared"


def test_build_contexts_and_dockerfiles_exist():
    for name, service in compose["services"].items():
        build = service.get("build")
        if not build:
            continue
        context = (DOCKER / build["context"]).resolve()
        assert context == ROOT, name
        assert (context / build["dockerfile"]).is_file(), name


def test_every_file_the_dockerfile_copies_exists():
    dockerfile = (DOCKER / "Dockerfile").read_text()
    for line in dockerfile.splitlines():
        if line.startswith("COPY "):
            *sources, _ = line.split()[1:]
            for source in sources:
                assert (ROOT / source).exists(), source
    assert re.search(r"^USER (?!root)\w+", dockerfile, re.M), "the image must not run as root"
    assert "HEALTHCHECK" in dockerfile
    assert "/_matrix/mau/live" in dockerfile


def test_entrypoint_commands_exist():
    entrypoint = (DOCKER / "entrypoint.sh").read_text()
    for module in re.findall(r"python -m ([\w.]+)", entrypoint):
        assert importlib.util.find_spec(module) is not None, module
    sandbox = compose["services"]["sandbox"]["command"]
    assert sandbox[0] == "sandbox"
    help_text = subprocess.run([sys.executable, "-m", "bridge.sandbox", "--help"],
                               capture_output=True, text=True, check=True).stdout
    for option in (arg for arg in sandbox[1:] if arg.startswith("--")):
        assert option in help_text, option
    for variable in compose["services"]["sandbox"].get("environment", {}):
        assert variable in " ".join(help_text.split()), variable
    assert shutil.which("sh")
    subprocess.run(["sh", "-n", str(DOCKER / "entrypoint.sh")], check=True)


def test_bridge_environment_is_a_valid_configuration(tmp_path):
    config_path = tmp_path / "config.yaml"
    shutil.copyfile(ROOT / "config.example.yaml", config_path)
    environ = dict(compose["services"]["bridge"]["environment"])
    config = load_config(config_path, require_tokens=False, environ=environ)
    assert config["appservice.database"].startswith("postgres://")
    assert config["homeserver.address"] == "http://synapse:8008"
    assert config["appservice.port"] == 29340
