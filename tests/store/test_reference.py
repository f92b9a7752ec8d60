"""The reference grammar: ``[registry/]name[:tag][@sha256:digest]``."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from inferd.errors import InvalidReference
from inferd.reference import NAME_RE, TAG_RE, Reference, check_image_reference

from .conftest import TRAVERSAL

DIGEST = "sha256:" + "ab" * 32

VALID = [
    ("fraud", Reference("fraud", "latest", None, None)),
    ("fraud:v2", Reference("fraud", "v2", None, None)),
    ("team/fraud:prod", Reference("team/fraud", "prod", None, None)),
    ("ab_c__d-e--f/g.h:T_1.x-y", Reference("ab_c__d-e--f/g.h", "T_1.x-y", None, None)),
    ("x.y", Reference("x.y", "latest", None, None)),
    (f"fraud@{DIGEST}", Reference("fraud", None, DIGEST, None)),
    (f"fraud:v2@{DIGEST}", Reference("fraud", "v2", DIGEST, None)),
    ("localhost/fraud", Reference("fraud", "latest", None, "localhost")),
    ("localhost:5000/fraud:v1", Reference("fraud", "v1", None, "localhost:5000")),
    ("ghcr.io/acme/fraud:v1", Reference("acme/fraud", "v1", None, "ghcr.io")),
    ("127.0.0.1:5000/x@" + DIGEST, Reference("x", None, DIGEST, "127.0.0.1:5000")),
    ("m:" + "t" * 128, Reference("m", "t" * 128, None, None)),
    # IPv6 literals in brackets, as container runtimes take them
    ("[::1]:5000/risk/fraud:v1", Reference("risk/fraud", "v1", None, "[::1]:5000")),
    ("[::1]/fraud@" + DIGEST, Reference("fraud", None, DIGEST, "[::1]")),
    ("[2001:DB8::1]:443/fraud:v1", Reference("fraud", "v1", None, "[2001:DB8::1]:443")),
]


@pytest.mark.parametrize(("text", "expected"), VALID)
def test_valid_references_parse_and_print_back(text: str, expected: Reference) -> None:
    ref = Reference.parse(text)
    assert ref == expected
    if expected.tag == "latest" and ":latest" not in text:
        assert str(ref) == text + ":latest"
    else:
        assert str(ref) == text


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("Fraud", "lower-case"),
        ("fraud:", "tag"),
        ("fraud:.v1", "tag"),
        ("fraud@sha256:abc", "64"),
        ("fraud@" + DIGEST.upper(), "digest"),
        ("a//b", "lower-case"),
        ("_:_", "lower-case"),
        ("fraud:v1:v2", "lower-case"),
        ("localhost:99999/fraud:v1", "registry port 99999 is not a TCP port (1-65535)"),
        ("127.0.0.1:0/fraud:v1", "registry port 0 is not a TCP port"),
        ("[::1]:70000/fraud:v1", "registry port 70000 is not a TCP port"),
        ("[1:2]:5000/fraud:v1", "'[1:2]:5000' is not a valid registry host"),  # not an address
        ("[::1:5000/fraud:v1", "'[::1:5000' is not a valid registry host"),
        ("[fe80::1%eth0]/fraud:v1", "is not a valid registry host"),  # no zones, as runtimes
        ("[::ffff:10.0.0.1]/fraud", "is not a valid registry host"),  # nor embedded IPv4
        ("::1:5000/fraud:v1", "is not a valid registry host"),  # brackets are required
    ],
)
def test_invalid_references_name_the_problem(text: str, reason: str) -> None:
    with pytest.raises(InvalidReference) as info:
        Reference.parse(text)
    assert repr(text) in info.value.message
    assert reason in info.value.message


@pytest.mark.parametrize("text", TRAVERSAL)
def test_traversal_corpus_is_refused_by_parse(text: str) -> None:
    assert len(TRAVERSAL) >= 30
    with pytest.raises(InvalidReference):
        Reference.parse(text)


def test_destination_must_be_a_tag() -> None:
    with pytest.raises(InvalidReference, match="takes name:tag, not a digest"):
        Reference.parse_tagged(f"fraud@{DIGEST}")


@given(st.text(max_size=80))
def test_any_accepted_string_is_grammatical_and_path_free(text: str) -> None:
    try:
        ref = Reference.parse(text)
    except InvalidReference:
        return
    assert NAME_RE.fullmatch(ref.name)
    assert ref.tag is None or TAG_RE.fullmatch(ref.tag)
    for part in ref.name.split("/"):
        assert part not in ("", ".", "..")
    assert "\\" not in text and "\x00" not in text


@pytest.mark.parametrize(
    "image",
    [
        "[fd00::1]:5000/team/vllm:0.6",
        "[::1]/vllm",
        "[2001:DB8::1]:443/inferd/server@" + DIGEST,
    ],
)
def test_an_image_reference_takes_an_ipv6_registry_host_in_brackets(image: str) -> None:
    # as model references do ([::1]:5000/fraud:v1) and container runtimes do
    assert check_image_reference(image) == image


@pytest.mark.parametrize(
    ("image", "reason"),
    [
        ("[fd00::1:5000/team/vllm", "registry host '[fd00::1:5000' is not an IPv6 address"),
        ("[zz]:5000/vllm", "registry host '[zz]:5000' is not an IPv6 address"),
        ("[1:2:3:4:5:6:7:8:9]/vllm", "is not an IPv6 address in brackets"),
        ("[fd00::1]x/vllm", "registry host '[fd00::1]x' is not an IPv6 address"),
        ("[fd00::1]:5000", "no path after it"),
        ("team/[::1]/vllm", "brackets only enclose the IPv6 address of the registry host"),
        ("fd00::1]:5000/vllm", "brackets only enclose the IPv6 address of the registry host"),
        ("[::1]:70000/vllm", "port 70000 is not a TCP port"),
    ],
)
def test_malformed_brackets_in_an_image_reference_name_the_problem(image: str, reason: str) -> None:
    with pytest.raises(ValueError, match="is not an image reference") as raised:
        check_image_reference(image)
    assert reason in str(raised.value)
