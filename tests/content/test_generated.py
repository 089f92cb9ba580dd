"""The committed content_pb2.py is what content.proto generates."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
GENERATED = ("content_pb2.py", "content_pb2.pyi")


def test_generated_module_matches_the_schema(tmp_path: Path) -> None:
    pytest.importorskip("grpc_tools", reason="grpcio-tools (test extra) is not installed")
    (tmp_path / "bridge" / "content").mkdir(parents=True)
    shutil.copy(ROOT / "bridge/content/content.proto", tmp_path / "bridge/content/content.proto")
    subprocess.run(
        [sys.executable, "-m", "grpc_tools.protoc", "--proto_path=.", "--python_out=.",
         "--pyi_out=.", "bridge/content/content.proto"],
        cwd=tmp_path, check=True,
    )
    for name in GENERATED:
        fresh = (tmp_path / "bridge/content" / name).read_text()
        committed = (ROOT / "bridge/content" / name).read_text()
        assert fresh == committed, f"{name} is stale: run bridge/content/regenerate.sh"
