"""The OpenAPI document names exactly the routes the provisioning API serves."""

from __future__ import annotations

from pathlib import Path

from ruamel.yaml import YAML

from bridge.provisioning import PREFIX, ProvisioningApi

SPEC = Path(__file__).resolve().parents[1] / "docs" / "provisioning-openapi.yaml"


def test_openapi_document_matches_the_routes():
    spec = YAML(typ="safe").load(SPEC)
    documented = {(method.upper(), path) for path, item in spec["paths"].items()
                  for method in item}
    served = set()
    # Only the route table is read: no service is called.
    api = ProvisioningApi(partners=None, portals=None, requests=None, spaces=None,  # type: ignore[arg-type]
                          permissions={}, secret="x")
    for route in api.app().router.routes():
        if route.method == "HEAD":
            continue
        path = route.resource.canonical
        assert path.startswith(PREFIX)
        served.add((route.method, path[len(PREFIX):]))
    assert documented == served
    assert spec["servers"][0]["url"].endswith(PREFIX)
