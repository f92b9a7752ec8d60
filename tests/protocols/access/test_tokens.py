"""Token shapes and the stored scrypt hash."""

from __future__ import annotations

import pytest

from inferd.protocols.access.tokens import (
    hash_secret,
    new_token,
    parse_hash,
    parse_token,
    verify_secret,
)


def test_a_new_token_round_trips_through_its_text() -> None:
    token = new_token()
    text = str(token)
    assert text.startswith("inferd_") and len(text) == len("inferd_") + 12 + 1 + 43
    assert parse_token(text) == token


@pytest.mark.parametrize(
    "text",
    [
        "",
        "inferd_",
        "Bearer inferd_0123456789ab_" + "a" * 43,
        "inferd_0123456789AB_" + "a" * 43,  # upper-case id
        "inferd_0123456789a_" + "a" * 43,  # short id
        "inferd_0123456789ab_" + "a" * 42,  # short secret
        "inferd_0123456789ab_" + "a" * 44,
        "inferd_0123456789ab_" + "a" * 42 + "=",
        "xinferd_0123456789ab_" + "a" * 43,
        "inferd_0123456789ab_" + "a" * 42 + "\n",
        "inferd_0123456789ab_" + "é" * 43,
    ],
)
def test_anything_but_a_token_shape_is_none(text: str) -> None:
    assert parse_token(text) is None


def test_the_stored_hash_is_salted_scrypt_and_verifies_only_its_secret() -> None:
    secret = new_token().secret
    first, second = hash_secret(secret), hash_secret(secret)
    assert first.startswith("scrypt$16384$8$1$")
    assert first != second  # a salt of its own
    assert secret not in first
    assert verify_secret(secret, parse_hash(first))
    assert verify_secret(secret, parse_hash(second))
    assert not verify_secret(new_token().secret, parse_hash(first))


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("bcrypt$x", "not a scrypt"),
        ("scrypt$16384$8$1$AAAA", "not a scrypt"),
        ("scrypt$x$8$1$AAAAAAAAAAA=$AAAAAAAAAAAAAAAAAAAAAA==", "do not parse"),
        ("scrypt$16384$8$1$!!!!$AAAAAAAAAAAAAAAAAAAAAA==", "do not parse"),
        ("scrypt$1000$8$1$AAAAAAAAAAA=$AAAAAAAAAAAAAAAAAAAAAA==", "out of range"),
        ("scrypt$1048576$8$1$AAAAAAAAAAA=$AAAAAAAAAAAAAAAAAAAAAA==", "out of range"),
        ("scrypt$16384$8$1$AAAA$AAAAAAAAAAAAAAAAAAAAAA==", "too short"),
    ],
)
def test_a_bad_stored_hash_is_refused_with_its_problem(text: str, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        parse_hash(text)
