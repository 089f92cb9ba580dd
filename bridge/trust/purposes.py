"""Every purpose a value is sealed for, in one place.

The purpose is part of a sealed value's associated data: a value sealed for one purpose does not
open as another. Adding a record type means adding its purpose here; changing a value's string
makes every stored record of it unreadable.
"""

from __future__ import annotations

import enum


class Purpose(str, enum.Enum):
    # the user's Signal party (bridge.signal.store)
    SIGNAL_IDENTITY = "signal.identity"
    SIGNAL_SIGNED_PRE_KEY = "signal.signed-pre-key"
    SIGNAL_PRE_KEY = "signal.pre-key"
    SIGNAL_SESSION = "signal.session"
    SIGNAL_PEER_IDENTITY = "signal.peer-identity"
    SIGNAL_SENDER_KEY = "signal.sender-key"
    # messages on their way in and out (bridge.signal.durable)
    SIGNAL_INBOUND = "signal.inbound"
    SIGNAL_OUTBOUND = "signal.outbound"
    #: a contact's new identity key, waiting for the user's confirmation (bridge.partner)
    HELD_IDENTITY = "identity.held"
    #: the user's Noise static key for the gateway connection (bridge.partner)
    NOISE_STATIC = "gateway.noise-static"
    #: messages kept so that the user can report them (bridge.chats.reporting)
    REPORT_EVIDENCE = "report.evidence"
    # the bridge's Matrix devices (bridge.matrix.e2ee.records)
    MATRIX_CROSS_SIGNING = "matrix.cross-signing"
    MATRIX_OLM_PICKLE_KEY = "matrix.olm-pickle-key"
    # the sandbox gateway's own records (bridge.sandbox), sealed with the same vault
    SANDBOX_REPORT = "sandbox.report"
    SANDBOX_SIMULATED_INBOX = "sandbox.simulated-inbox"

    def __str__(self) -> str:
        return self.value
