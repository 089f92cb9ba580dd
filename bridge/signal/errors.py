"""Errors of the Signal layer. Messages never contain key material or plaintext."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..gateway.ids import Address


class SignalError(Exception):
    """Base class of every failure of this layer."""


class NoSessionError(SignalError):
    """No session with the peer: fetch their bundle first."""


class DecryptionError(SignalError):
    """A message could not be decrypted; the session is unchanged."""


class DuplicateMessageError(DecryptionError):
    """The message was already decrypted (its key is used up): a replay or a redelivery."""


class TamperedMessageError(DecryptionError):
    """The MAC or the padding did not check out."""


class TooFarAheadError(DecryptionError):
    """The message would make us skip more message keys than the limit allows."""


class MissingPreKeyError(DecryptionError):
    """A PreKeySignalMessage names a one-time or signed prekey we no longer have."""


@dataclass(frozen=True)
class IdentityChange:
    """A peer presented an identity key other than the one we trusted: surfaced, never hidden."""

    peer: Address
    previous_fingerprint: str
    new_fingerprint: str
    # The public identity keys themselves: what a user confirms (`trust`) and what the safety
    # codes in the notice are computed from. Public, but kept out of reprs and logs all the same.
    previous_identity_key: bytes = field(default=b"", repr=False)
    new_identity_key: bytes = field(default=b"", repr=False)


class UntrustedIdentityError(SignalError):
    """The peer's identity changed; nothing was decrypted or encrypted. Accept the new identity
    (after telling the user) and retry."""

    def __init__(self, change: IdentityChange) -> None:
        super().__init__(f"identity of {change.peer} changed")
        self.change = change
