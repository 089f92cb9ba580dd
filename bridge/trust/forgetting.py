"""Forgetting a user: every repository that keeps per-user data says how it forgets them.

Opt-out (and an account the gatekeeper removed) runs them all in one transaction, ending with
the vault's crypto-shred, so the code that opts a user out names no table.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence

from ..storage import Connection
from .types import UserId
from .vault import Vault

log = logging.getLogger("bridge.trust.forgetting")

#: How one repository deletes what it keeps of a user, inside the caller's transaction.
ForgetUser = Callable[[Connection, UserId], Awaitable[None]]


class UserData:
    def __init__(self, repositories: Sequence[ForgetUser], vault: Vault) -> None:
        self._repositories = tuple(repositories)
        self._vault = vault

    async def forget(self, conn: Connection, user: UserId) -> None:
        for forget in self._repositories:
            await forget(conn, user)
        # Last: whatever a repository missed is sealed under a key that no longer exists.
        await self._vault.forget_user(conn, user)
        log.info("Forgot %s in %d repositories", user, len(self._repositories))
