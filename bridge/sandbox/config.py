"""Settings of one sandbox gateway process (filled from the command line or by tests)."""

from __future__ import annotations

from dataclasses import dataclass

JWKS_PATH = "/.well-known/oauth/openid/jwks"


@dataclass
class SandboxConfig:
    integrator_id: str = "1"
    host: str = "127.0.0.1"
    port: int = 29400
    # mautrix async_db URL; the CLI makes it ``sqlite:{--data}/sandbox.db``.
    database_url: str = "sqlite:sandbox.db"
    # The partner server: its public base URL (the identity JWT's ``iss``) and where its JWKS,
    # push endpoint and hosted media live. Empty strings mean "derive from the base URL".
    partner_base_url: str = ""
    partner_jwks_url: str = ""
    partner_push_url: str = ""
    # The gateway's name in tokens (``aud`` of identity JWTs, ``iss`` of its own JWTs).
    # Empty means the base URL, e.g. ``http://127.0.0.1:29400`` (protocol §1).
    gateway_id: str = ""
    # Shared secret of the admin API; an empty secret disables the admin API (every call is 401).
    admin_secret: str = ""
    retention_days: float = 30
    idle_unenlist_days: float = 30
    # Allow POST /_sandbox/admin/v1/clock/advance (tests and demos only).
    test_clock: bool = False
    # Base URL the sandbox is reachable at (``iss`` of its push tokens, media URLs it hands out).
    public_base_url: str = ""
    max_media_bytes: int = 64 * 1024 * 1024
    # Seconds between housekeeping runs (mailbox expiry, idle un-enlistment).
    sweep_interval: float = 3600
    low_prekey_threshold: int = 5
    # Master key file of the simulated users' sealed Signal state; empty keeps the key in the
    # state database itself (fine for throwaway sandboxes; the CLI uses ``{data}/…``).
    simulated_users_key_file: str = ""

    def __post_init__(self) -> None:
        self.partner_base_url = self.partner_base_url.rstrip("/")
        if not self.partner_base_url and self.partner_jwks_url.endswith(JWKS_PATH):
            self.partner_base_url = self.partner_jwks_url[: -len(JWKS_PATH)]
        if self.partner_base_url:
            self.partner_jwks_url = self.partner_jwks_url or self.partner_base_url + JWKS_PATH
            self.partner_push_url = self.partner_push_url or self.partner_base_url + "/push"

    @property
    def base_url(self) -> str:
        return self.public_base_url.rstrip("/") or f"http://{self.host}:{self.port}"

    @property
    def effective_gateway_id(self) -> str:
        return self.gateway_id or self.base_url

    @property
    def retention_ms(self) -> int:
        return int(self.retention_days * 86400_000)

    @property
    def idle_ms(self) -> int:
        return int(self.idle_unenlist_days * 86400_000)
