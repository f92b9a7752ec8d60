"""How inferd writes the address of something it listens on for a client to use."""

from __future__ import annotations


def url_host(host: str) -> str:
    """``host`` as a client writes it in a URL: a wildcard bind address (``0.0.0.0``, ``::``)
    becomes loopback, and an IPv6 address gets its brackets."""
    if host in ("0.0.0.0", "::"):  # noqa: S104 - naming the wildcard, not binding it
        return "127.0.0.1"
    return f"[{host}]" if ":" in host else host
