"""A user's scope: the one user whose records a piece of per-user code may seal and open.

Per-user code (a partner client and its parts) is handed a :class:`UserScope` and never the
:class:`~.vault.Vault`: it cannot name another user, so it cannot open their records. Only the
composition of a user's services (:class:`UserScopes`) sees the vault.
"""

from __future__ import annotations

from ..storage import Connection
from .types import UserId
from .vault import UserBoundary, Vault


class UserScope:
    __slots__ = ("_vault", "user")

    def __init__(self, vault: Vault, user: UserId) -> None:
        self._vault = vault
        self.user = user

    def __repr__(self) -> str:
        return f"UserScope({self.user!r})"

    async def boundary(self, conn: Connection) -> UserBoundary:
        """The user's boundary (their data key is created on first use, on ``conn``)."""
        return await self._vault.boundary(conn, self.user)


class UserScopes:
    """Hands out one scope per user."""

    def __init__(self, vault: Vault) -> None:
        self._vault = vault

    def of(self, user: UserId) -> UserScope:
        return UserScope(self._vault, user)
