"""The pure helpers: geo URIs, waveform scaling, file sniffing."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bridge.content.models import MediaKind
from bridge.mapping.geo import geo_uri, parse_geo_uri
from bridge.mapping.matrix_bodies import is_animated_webp, is_ogg_opus
from bridge.mapping.media_transfer import blob_size_bound
from bridge.mapping.waveform import waveform_to_gateway, waveform_to_matrix
from bridge.media import encrypt_media


@pytest.mark.parametrize("uri, expected", [
    ("geo:51.5008,-0.1247", (51.5008, -0.1247)),
    ("geo:51.5008,-0.1247,30;u=35", (51.5008, -0.1247)),
    ("GEO:-33.8,151.2;crs=wgs84", (-33.8, 151.2)),
    ("geo:0,0?z=5", (0.0, 0.0)),
    ("geo:90,180", (90.0, 180.0)),
    ("geo:91,0", None),
    ("geo:0,181", None),
    ("geo:abc,def", None),
    ("geo:1", None),
    ("https://maps.example/?q=1,2", None),
    ("", None),
])
def test_parse_geo_uri(uri, expected) -> None:
    assert parse_geo_uri(uri) == expected


@given(st.floats(-90, 90), st.floats(-180, 180))
def test_geo_uri_round_trip_to_the_centimetre(latitude, longitude) -> None:
    parsed = parse_geo_uri(geo_uri(latitude, longitude))
    assert parsed is not None
    assert abs(parsed[0] - latitude) < 1e-6 and abs(parsed[1] - longitude) < 1e-6


def test_waveform_scaling() -> None:
    assert waveform_to_gateway([]) == b""
    assert waveform_to_gateway([0, 512, 1024]) == bytes([0, 50, 100])
    # Peaks survive the reduction to 64 samples; junk and out-of-range values are tamed.
    reduced = waveform_to_gateway([0] * 127 + [1024])
    assert len(reduced) == 64 and reduced[-1] == 100 and sum(reduced[:-1]) == 0
    assert waveform_to_gateway(["x", None, -5, 5000, float("nan"), True]) == bytes(
        [0, 0, 0, 100, 0, 0])
    assert waveform_to_matrix(bytes([0, 50, 100])) == [0, 512, 1024]


@given(st.binary(max_size=64).map(lambda b: bytes(x % 101 for x in b)))
def test_waveform_round_trip_is_lossless(samples) -> None:
    assert waveform_to_gateway(waveform_to_matrix(samples)) == samples


def test_sniffing() -> None:
    assert not is_ogg_opus(b"OggS" + b"\x00" * 30 + b"vorbis")
    assert is_ogg_opus(b"OggS" + b"\x00" * 24 + b"OpusHead")
    header = b"RIFF\x00\x00\x00\x00WEBPVP8X\x0a\x00\x00\x00"
    assert is_animated_webp(header + b"\x02" + b"\x00" * 9)
    assert not is_animated_webp(header + b"\x10" + b"\x00" * 9)


@given(st.integers(0, 5000))
def test_blob_size_bound_is_exact(length) -> None:
    assert len(encrypt_media(MediaKind.DOCUMENT, b"x" * length).blob) == blob_size_bound(length)


def test_parse_probe() -> None:
    from bridge.mapping.probe import MediaShape, parse_probe

    assert parse_probe(b'{"streams": [{"width": 64, "height": 48}],'
                       b' "format": {"duration": "2.4"}}') == MediaShape(64, 48, 2)
    assert parse_probe(b'{"streams": [], "format": {"duration": "0.2"}}') == MediaShape(0, 0, 1)
    for junk in (b"", b"[]", b"null", b'{"streams": [5], "format": {"duration": "nan"}}',
                 b'{"streams": [{"width": true, "height": -3}], "format": []}'):
        assert parse_probe(junk) == MediaShape()
