"""The bridge, the sandbox and the dev stack import without the test-only packages.

matrix-nio, Synapse and Hypothesis come with the ``test`` extra only; an installation of the
bridge has none of them. Each check imports the modules in a fresh interpreter in which those
packages cannot be imported at all, whether or not they are installed here. (The import
contracts in pyproject.toml, run by ``lint-imports``, hold the same statically.)
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TEST_ONLY = ("nio", "synapse", "hypothesis", "pytest")

_BLOCKED_IMPORT = textwrap.dedent("""
    import importlib, sys

    BLOCKED = {blocked!r}

    class Blocker:
        def find_spec(self, name, path=None, target=None):
            if name.split(".", 1)[0] in BLOCKED:
                raise ImportError(f"{{name}} is a test-only package")
            return None

    sys.meta_path.insert(0, Blocker())
    for module in {modules!r}:
        importlib.import_module(module)
    leaked = sorted(m for m in sys.modules if m.split(".", 1)[0] in BLOCKED)
    assert not leaked, leaked
    print("imported", len({modules!r}))
""")


def _import_without_test_packages(*modules: str) -> subprocess.CompletedProcess[str]:
    code = _BLOCKED_IMPORT.format(blocked=TEST_ONLY, modules=modules)
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                          text=True, timeout=120)


@pytest.mark.parametrize("modules", [
    ("bridge.app", "bridge.cli"),
    ("bridge.sandbox.server", "bridge.sandbox.cli"),
    # the dev stack's entry point; its matrix-nio client is imported for --demo only
    ("bridge.devstack.__main__",),
], ids=["bridge", "sandbox", "devstack"])
def test_imports_without_test_only_packages(modules: tuple[str, ...]) -> None:
    result = _import_without_test_packages(*modules)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"imported {len(modules)}"


def test_the_blocker_blocks() -> None:
    """The check above would see a test-only import: the demo's Matrix client is one."""
    result = _import_without_test_packages("bridge.devstack.matrix_client")
    assert result.returncode != 0
    assert "nio is a test-only package" in result.stderr
