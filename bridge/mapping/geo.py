"""``geo:`` URIs (RFC 5870) to coordinates and back; pure functions."""

from __future__ import annotations

import math
import re

# geo:lat,long[,alt][;param=value...][?query]; coordinates are decimal degrees.
_NUMBER = r"[-+]?(?:\d+(?:\.\d*)?|\.\d+)"
_GEO_URI = re.compile(
    rf"geo:(?P<lat>{_NUMBER}),(?P<long>{_NUMBER})(?:,{_NUMBER})?(?:;[^?#]*)?(?:\?.*)?",
    re.IGNORECASE,
)


def parse_geo_uri(uri: str) -> tuple[float, float] | None:
    """(latitude, longitude) of a ``geo:`` URI, or None if it is not one or out of range."""
    match = _GEO_URI.fullmatch(uri.strip())
    if match is None:
        return None
    latitude, longitude = float(match["lat"]), float(match["long"])
    if not (math.isfinite(latitude) and math.isfinite(longitude)):
        return None
    if not (-90.0 <= latitude <= 90.0 and -180.0 <= longitude <= 180.0):
        return None
    return latitude, longitude


def geo_uri(latitude: float, longitude: float) -> str:
    """``geo:lat,long`` with enough digits to keep the position to the centimetre."""
    return f"geo:{_decimal(latitude)},{_decimal(longitude)}"


def _decimal(value: float) -> str:
    text = f"{value:.7f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text
