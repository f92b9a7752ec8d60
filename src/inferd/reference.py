"""Model references: ``[registry/]name[:tag][@sha256:digest]``.

Names follow the OCI distribution grammar (lower-case path components joined by ``/``), tags the
OCI tag grammar, digests are ``sha256:`` plus 64 lower-case hex digits. A reference is parsed
completely or refused; nothing is normalised, decoded or guessed, so a string that reaches the
store is exactly one that the grammar allows. Names and tags are map keys, never path components.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from typing import Annotated

from pydantic import AfterValidator

from inferd.errors import InvalidReference

DEFAULT_TAG = "latest"
#: Many registries cap the repository name at 255 characters; so does inferd.
MAX_NAME_LENGTH = 255

_COMPONENT = r"[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*"
NAME_RE = re.compile(rf"{_COMPONENT}(?:/{_COMPONENT})*")
TAG_RE = re.compile(r"[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}")
DIGEST_RE = re.compile(r"sha256:[a-f0-9]{64}")
# An IPv6 address in brackets as container runtimes take it (distribution/reference): hex
# digits and ':' only, so no zone and no embedded IPv4; :func:`_is_host` checks it is an address.
_IPV6 = r"\[(?P<ipv6>[a-fA-F0-9:]+)\]"
# A registry host: DNS labels, an IPv4 address or a bracketed IPv6 one, with an optional port.
_HOST_RE = re.compile(
    r"(?:(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*"
    rf"|{_IPV6})(?::[0-9]{{1,5}})?"
)
#: The TCP ports a registry can listen on (a host's ``:PORT``; 0 is no port to connect to).
MIN_PORT, MAX_PORT = 1, 65535


def _name_problem(name: str) -> str | None:
    if not name:
        return "the name is empty"
    if len(name) > MAX_NAME_LENGTH:
        return f"the name is longer than {MAX_NAME_LENGTH} characters"
    if NAME_RE.fullmatch(name) is None:
        return (
            "a name is lower-case letters and digits, separated by '.', '_', '__' or '-', "
            "in path components joined by '/'"
        )
    return None


def validate_name(name: str) -> str:
    """Return ``name`` if it is a valid repository name, else raise :class:`InvalidReference`."""
    problem = _name_problem(name)
    if problem is not None:
        # `inferd ls fraud:v1`, as `docker images fraud:v1` takes it: say what is extra.
        base = re.split("[:@]", name, maxsplit=1)[0]
        if base != name and _name_problem(base) is None:
            problem = f"this takes a model name without a tag or digest, here {base!r}"
        raise InvalidReference(name, problem)
    return name


def validate_digest(digest: str, *, reference: str | None = None) -> str:
    """Return ``digest`` if it is ``sha256:`` followed by 64 lower-case hex digits."""
    if DIGEST_RE.fullmatch(digest) is None:
        raise InvalidReference(
            reference if reference is not None else digest,
            "a digest is 'sha256:' followed by 64 lower-case hex digits",
        )
    return digest


def _is_host(text: str) -> bool:
    """Whether ``text`` is ``HOST[:PORT]`` (:data:`_HOST_RE`, a bracketed IPv6 address valid)."""
    match = _HOST_RE.fullmatch(text)
    if match is None:
        return False
    if match["ipv6"] is not None:
        try:
            ipaddress.IPv6Address(match["ipv6"])
        except ValueError:
            return False
    return True


def _is_registry(component: str) -> bool:
    # The rule container tools use: the first component names a host when it looks like one.
    return "." in component or ":" in component or component == "localhost"


def split_registry(text: str) -> tuple[str | None, str]:
    """``host:5000/team/fraud`` -> ``("host:5000", "team/fraud")``; no host -> ``(None, text)``."""
    first, slash, rest = text.partition("/")
    if slash and _is_registry(first):
        return first, rest
    return None, text


def registry_prefix_problem(prefix: str) -> str | None:
    """Why ``prefix`` cannot stand before model names as their registry (``HOST[:PORT]`` or
    ``HOST[:PORT]/PATH``, as ``inferd k8s render --registry`` takes it); None when it can.

    A first component without a '.' or a port, other than localhost, would be read as a path on
    Docker Hub by every container runtime, so it is refused rather than rendered.
    """
    host, _, path = prefix.strip("/").partition("/")
    if not (_is_registry(host) and _is_host(host) and (not path or not _name_problem(path))):
        return (
            f"registry {prefix!r} is not HOST[:PORT] or HOST[:PORT]/PATH (a host has a '.' or a "
            "port, or is localhost or an IPv6 address in brackets), e.g. registry.example.com, "
            "localhost:5000/team or [::1]:5000"
        )
    port = _bad_port(host)
    if port is not None:
        return (
            f"registry {prefix!r} has port {port}, which is not a TCP port "
            f"({MIN_PORT}-{MAX_PORT}), e.g. registry.example.com:5000"
        )
    return None


def registry_host_problem(host: str) -> str | None:
    """Why ``host`` is not a registry's ``HOST[:PORT]`` as ``inferd login`` takes it (no scheme,
    no path: it is the key of the stored credentials); None when it is."""
    if not _is_host(host):
        return (
            f"registry {host!r} is not HOST[:PORT] (no scheme or path: DNS labels, an IPv4 "
            "address or an IPv6 address in brackets, and an optional port), e.g. "
            "registry.example.com, localhost:5000 or [::1]:5000"
        )
    port = _bad_port(host)
    if port is not None:
        return (
            f"registry {host!r} is not HOST[:PORT]: port {port} is not a TCP port "
            f"({MIN_PORT}-{MAX_PORT})"
        )
    return None


def port_of(host: str) -> int | None:
    """The port of ``HOST:PORT`` (digits after the last ':'), None when ``host`` names none."""
    _, colon, port = host.rpartition(":")
    return int(port) if colon and port.isascii() and port.isdigit() else None


def _bad_port(host: str) -> int | None:
    """The port ``host`` names when it is not a TCP port (None: no port, or a good one)."""
    port = port_of(host)
    return port if port is not None and not MIN_PORT <= port <= MAX_PORT else None


@dataclass(frozen=True, slots=True)
class Reference:
    """A parsed reference. ``tag`` defaults to ``latest`` unless only a digest was given."""

    name: str
    tag: str | None = DEFAULT_TAG
    digest: str | None = None
    registry: str | None = None

    @classmethod
    def parse(cls, text: str) -> Reference:
        """Parse ``[registry/]name[:tag][@sha256:digest]``; raise :class:`InvalidReference`."""
        if not text:
            raise InvalidReference(text, "the reference is empty")
        if not text.isascii() or not text.isprintable():
            raise InvalidReference(text, "only printable ASCII characters are allowed")
        remainder, at, digest = text.partition("@")
        if at:
            validate_digest(digest, reference=text)
        registry: str | None = None
        first, slash, rest = remainder.partition("/")
        if slash and _is_registry(first):
            if not _is_host(first):
                raise InvalidReference(text, f"{first!r} is not a valid registry host")
            port = _bad_port(first)
            if port is not None:
                raise InvalidReference(
                    text, f"registry port {port} is not a TCP port ({MIN_PORT}-{MAX_PORT})"
                )
            registry, remainder = first, rest
        name, colon, tag = remainder.rpartition(":")
        if not colon:
            name, tag = remainder, ""
        elif "/" in tag:
            raise InvalidReference(text, "a tag cannot contain '/'")
        problem = _name_problem(name)
        if problem is not None:
            raise InvalidReference(text, problem)
        if colon and TAG_RE.fullmatch(tag) is None:
            raise InvalidReference(
                text,
                "a tag is up to 128 letters, digits, '_', '.' or '-', not starting with '.' or '-'",
            )
        resolved_tag: str | None = tag if colon else (None if at else DEFAULT_TAG)
        return cls(name=name, tag=resolved_tag, digest=digest if at else None, registry=registry)

    @classmethod
    def parse_tagged(cls, text: str) -> Reference:
        """Parse a reference that must name a tag (a destination of push or tag, what rm
        removes)."""
        ref = cls.parse(text)
        if ref.digest is not None:
            raise InvalidReference(
                text, "this takes name:tag, not a digest: push and tag write a tag, rm removes one"
            )
        return ref

    @property
    def tagged(self) -> str:
        """``name:tag`` — the ``org.opencontainers.image.ref.name`` of this reference."""
        return f"{self.name}:{self.tag or DEFAULT_TAG}"

    def __str__(self) -> str:
        text = self.name if self.registry is None else f"{self.registry}/{self.name}"
        if self.tag is not None:
            text += f":{self.tag}"
        if self.digest is not None:
            text += f"@{self.digest}"
        return text


#: A container image reference as container runtimes parse it (the grammar of
#: github.com/distribution/reference, which docker, containerd and CRI-O use):
#: ``[HOST[:PORT]/]PATH[:TAG][@sha256:DIGEST]``, e.g. ``registry.example.com:5000/inferd:0.1``;
#: HOST may be an IPv6 address in brackets, as in model references (``[fd00::1]:5000/vllm:0.6``).
_IMAGE_REFERENCE = re.compile(
    r"""
    (?P<name>
      (?:                                             # the registry, ended by '/' (optional):
        (?P<host>
          (?:
            [A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?          # a DNS label (or an IPv4 octet)
            (?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*  # more of them, after '.'
          | \[[a-fA-F0-9:]+\]                               # or an IPv6 address in brackets
          )
          (?::[0-9]+)?                                     # :PORT (its range is checked apart)
        )
        /
      )?
      # PATH: components of lower-case letters and digits joined by '.', '_', '__' or '-'s
      [a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*           # the first component
      (?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*     # more of them, after '/'
    )
    (?::[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?           # :TAG, up to 128 characters (optional)
    (?:@sha256:[a-f0-9]{64})?                         # @DIGEST (optional)
    """,
    re.VERBOSE,
)


def _bracket_problem(text: str) -> str | None:
    """Why the brackets in image reference ``text`` are wrong; None when it has none or they
    enclose the IPv6 address of its registry host (``[fd00::1]:5000/team/vllm:0.6``), the only
    place brackets may stand."""
    if "[" not in text and "]" not in text:
        return None
    host, slash, path = text.partition("/")
    if host.startswith("[") and not slash:
        return f"{host!r} names a registry host but no path after it, e.g. '{host}/team/vllm:0.6'"
    if not host.startswith("[") or "[" in path or "]" in path:
        return (
            "brackets only enclose the IPv6 address of the registry host, before the first "
            "'/', e.g. '[fd00::1]:5000/team/vllm:0.6'"
        )
    if not _is_host(host):
        return (
            f"its registry host {host!r} is not an IPv6 address in brackets with an optional "
            "port ([ADDRESS] or [ADDRESS]:PORT, hex digits and ':'), e.g. '[fd00::1]:5000'"
        )
    return None


def check_image_reference(text: str) -> str:
    """``text`` when it is a container image reference; else ValueError naming the problem."""
    bracket_problem = _bracket_problem(text)
    if bracket_problem is not None:
        raise ValueError(f"{text!r} is not an image reference: {bracket_problem}")
    match = _IMAGE_REFERENCE.fullmatch(text)
    if match is None:
        raise ValueError(
            f"{text!r} is not an image reference: [HOST[:PORT]/]PATH[:TAG][@sha256:DIGEST], "
            "a path of lower-case letters and digits joined by '.', '_', '-' or '/', "
            "e.g. 'registry.example.com/inferd/server:0.1.0'"
        )
    if len(match["name"]) > MAX_NAME_LENGTH:
        raise ValueError(
            f"{text!r} is not an image reference: its name is longer than {MAX_NAME_LENGTH} "
            "characters"
        )
    port = None if match["host"] is None else _bad_port(match["host"])
    if port is not None:
        raise ValueError(
            f"{text!r} is not an image reference: port {port} is not a TCP port "
            f"({MIN_PORT}-{MAX_PORT})"
        )
    return text


#: A pydantic field holding a container image reference (a pod's ``image``).
ImageReference = Annotated[str, AfterValidator(check_image_reference)]
