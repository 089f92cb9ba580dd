"""The per-user trust boundary: every key and session record sealed under a per-user data key.

See ``docs/trust-boundary.md``.
"""

from .master_key import ENV_VAR, MasterKey, MasterKeyError
from .purposes import Purpose
from .rotation import rotate_master_key
from .scope import UserScope, UserScopes
from .types import UserId
from .vault import UserBoundary, Vault, VaultError, WrongMasterKeyError

__all__ = ["ENV_VAR", "MasterKey", "MasterKeyError", "Purpose", "UserBoundary", "UserId",
           "UserScope", "UserScopes", "Vault", "VaultError", "WrongMasterKeyError",
           "rotate_master_key"]
