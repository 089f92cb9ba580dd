"""Typed names of the trust boundary."""

from __future__ import annotations

from typing import NewType

#: The Matrix user id of a bridged user.
UserId = NewType("UserId", str)

