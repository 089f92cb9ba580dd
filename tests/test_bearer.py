"""The Bearer scheme is case-insensitive (RFC 9110 §11.1); the token itself is not."""

from bridge.bearer import bearer_token


def test_the_scheme_in_any_case() -> None:
    for header in ("Bearer abc", "bearer abc", "BEARER abc", "  Bearer   abc "):
        assert bearer_token(header) == "abc"


def test_other_schemes_and_empty_tokens_are_none() -> None:
    for header in ("", "Bearer", "Bearer ", "Basic abc", "Bearerabc", "Token abc"):
        assert bearer_token(header) is None
    assert bearer_token("Bearer ABC") == "ABC"
