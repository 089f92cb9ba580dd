"""The bridge's Matrix end-to-end encryption: every Olm/Megolm use of the bridge is in here.

``MatrixEncryption`` owns the bot's device and one device per speaking ghost, each cross-signed
by its own user. See ``docs/e2ee.md``.
"""

from .encryption import CrossSigningStatus, MatrixEncryption

__all__ = ["CrossSigningStatus", "MatrixEncryption"]
