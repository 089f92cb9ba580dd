"""The nio E2EE client the tests drive people with lives in the package (the scripted demo uses it
too); re-exported here for the tests."""

from bridge.devstack.matrix_client import SYNC_FILTER, PersonClient

__all__ = ["SYNC_FILTER", "PersonClient"]
