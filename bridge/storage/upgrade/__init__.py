"""Schema upgrades, one file per step.

``v00_latest_revision`` creates the newest schema in one go for a fresh database; every other
``vNN_*`` module upgrades a database from version NN-1 to NN. Both paths must end with the same
schema: ``tests/storage/test_schema.py`` compares them on SQLite and PostgreSQL, so a step added
without updating the latest revision (or the other way round) fails the suite.
"""

from __future__ import annotations

import logging

from mautrix.util.async_db import UpgradeTable

from . import (
    v00_latest_revision,
    v01_initial,
    v02_signal,
    v03_matrix_users,
    v04_portals,
    v05_partner_accounts,
    v06_chats,
    v07_reachability_pings,
    v08_message_requests,
    v09_inbox_choice,
    v10_identity_holds,
    v11_hosted_media_message,
    v12_txn_digest,
    v13_report_evidence,
    v14_matrix_devices,
    v15_user_column,
    v16_contact_column,
)

# Index i upgrades from version i to i + 1. Append new steps here and to v00_latest_revision.
STEPS = [
    v01_initial.upgrade,
    v02_signal.upgrade,
    v03_matrix_users.upgrade,
    v04_portals.upgrade,
    v05_partner_accounts.upgrade,
    v06_chats.upgrade,
    v07_reachability_pings.upgrade,
    v08_message_requests.upgrade,
    v09_inbox_choice.upgrade,
    v10_identity_holds.upgrade,
    v11_hosted_media_message.upgrade,
    v12_txn_digest.upgrade,
    v13_report_evidence.upgrade,
    v14_matrix_devices.upgrade,
    v15_user_column.upgrade,
    v16_contact_column.upgrade,
]
LATEST_VERSION = len(STEPS)


def build_upgrade_table(*, fresh_shortcut: bool = True,
                        log: logging.Logger | None = None) -> UpgradeTable:
    """The table the bridge runs. ``fresh_shortcut=False`` forces the step-by-step path (tests)."""
    table = UpgradeTable(database_name="interop-bridge database",
                         log=(log or logging.getLogger("bridge.storage")).getChild("upgrade"))
    for index, step in enumerate(STEPS):
        table.register(step, index=index, description=step.__module__.rsplit(".", 1)[-1])
    if fresh_shortcut:
        table.register(v00_latest_revision.create_latest, index=0,
                       description="latest revision", upgrades_to=LATEST_VERSION)
    return table
