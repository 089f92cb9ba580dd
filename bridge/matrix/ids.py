"""Identifiers on the Matrix side and how gatekeeper users map onto ghost Matrix IDs."""

from __future__ import annotations

import re
from collections.abc import Callable

from mautrix.types import UserID

from ..gateway.ids import Address

_ALLOWED = re.compile(r"[a-z0-9._\-/]")


def escape_localpart(value: str) -> str:
    """Escape an arbitrary string into a Matrix localpart, reversibly.

    Uppercase letters become ``_`` plus the lowercase letter and every other disallowed byte
    ``=xx``, as in the spec's "mapping from other character sets" appendix.
    """
    out = []
    for char in value:
        if char == "_":
            out.append("__")
        elif "A" <= char <= "Z":
            out.append("_" + char.lower())
        elif _ALLOWED.fullmatch(char):
            out.append(char)
        else:
            out.extend(f"={byte:02x}" for byte in char.encode("utf-8"))
    return "".join(out)


def ghost_mxid(template: str, contact_id: Address, domain: str) -> UserID:
    # the placeholder keeps its configured name, {internal_id}
    return UserID(f"@{template.format(internal_id=escape_localpart(contact_id))}:{domain}")


def ghost_user_regex(template: str, domain: str) -> str:
    """The exclusive namespace regex covering every ghost the template can produce."""
    before, after = template.split("{internal_id}", 1)
    return f"@{re.escape(before)}.+{re.escape(after)}:{re.escape(domain)}"


def ghost_matcher(template: str, domain: str) -> Callable[[str], bool]:
    """Whether a Matrix ID is one of the bridge's ghosts (the namespace of
    :func:`ghost_user_regex`)."""
    pattern = re.compile(ghost_user_regex(template, domain))
    return lambda user_id: pattern.fullmatch(user_id) is not None
