from __future__ import annotations

import shutil

import pytest

from .peers import ensure_node_modules, node_peer, python_peer


@pytest.fixture(scope="session")
def node_modules():
    """Runs ``npm ci`` in tests/signal/node once when node_modules is missing."""
    # An interop test that quietly skips proves nothing: without Node the suite fails here.
    # .ci/run installs node and npm when they are missing.
    assert shutil.which("node") and shutil.which("npm"), \
        "node and npm are needed for the interop tests (apt-get install nodejs npm)"
    ensure_node_modules()


@pytest.fixture
def make_peer(tmp_path, node_modules):
    """``make_peer("python" | "node" | "node-ts")`` starts a JSON-lines party (ours, npm
    ``libsignal``, or the TypeScript port); all are closed afterwards."""
    started = []

    def make(kind: str):
        if kind == "python":
            peer = python_peer(tmp_path / f"py-{len(started)}.db")
        elif kind == "node-ts":
            peer = node_peer(script="peer-ts.js")
        else:
            peer = node_peer()
        started.append(peer)
        return peer

    yield make
    for peer in started:
        peer.close()


@pytest.fixture(params=["node", "node-ts"], ids=["libsignal", "libsignal-ts"])
def other(request):
    """The independent implementation a test plays against."""
    return request.param
