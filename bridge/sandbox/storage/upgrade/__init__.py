"""Sandbox schema upgrades: its own version table, separate from the bridge's database."""

from __future__ import annotations

import logging

from mautrix.util.async_db import UpgradeTable

from . import v00_latest_revision, v01_initial, v02_simulated_users, v03_reports

STEPS = [
    v01_initial.upgrade,
    v02_simulated_users.upgrade,
    v03_reports.upgrade,
]
LATEST_VERSION = len(STEPS)
VERSION_TABLE = "sandbox_version"


def build_upgrade_table(*, fresh_shortcut: bool = True,
                        log: logging.Logger | None = None) -> UpgradeTable:
    table = UpgradeTable(database_name="interop sandbox gateway state",
                         version_table_name=VERSION_TABLE,
                         log=(log or logging.getLogger("bridge.sandbox.storage"))
                         .getChild("upgrade"))
    for index, step in enumerate(STEPS):
        table.register(step, index=index, description=step.__module__.rsplit(".", 1)[-1])
    if fresh_shortcut:
        table.register(v00_latest_revision.create_latest, index=0,
                       description="latest revision", upgrades_to=LATEST_VERSION)
    return table
