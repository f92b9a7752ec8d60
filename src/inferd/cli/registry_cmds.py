"""Registry commands: ``inferd login HOST`` and ``inferd logout HOST``, and the registry options.

Credentials go to the Docker config file (``$DOCKER_CONFIG/config.json`` or
``~/.docker/config.json``), so docker, podman, skopeo and oras share them with inferd. Login
checks them against the registry (``GET /v2/``) before saving, as ``docker login`` does.
"""

from __future__ import annotations

import dataclasses
import functools
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from inferd.cli._app import emit_json, handles_errors, json_option, main
from inferd.errors import InvalidArgument, Unauthenticated
from inferd.reference import registry_host_problem
from inferd.store.remote import Credentials, RegistrySettings, credentials
from inferd.store.remote.settings import checked_hosts

R = TypeVar("R")


def registry_settings(insecure: tuple[str, ...], ca_file: Path | None) -> RegistrySettings:
    """The environment's registry settings with the command line's on top."""
    for host in insecure:  # a URL or a path would match no registry: refused, not ignored
        checked_hosts([host], f"--insecure-registry {host!r}")
    settings = RegistrySettings.from_environ().with_insecure(insecure)
    return settings if ca_file is None else dataclasses.replace(settings, ca_file=ca_file)


def registry_options(func: Callable[..., R]) -> Callable[..., R]:
    """Add ``--insecure-registry HOST`` and ``--ca-file PEM``; pass ``registries`` instead."""

    @click.option(
        "--insecure-registry",
        "insecure",
        multiple=True,
        metavar="HOST[:PORT]",
        help="Allow plain HTTP to this registry (also INFERD_INSECURE_REGISTRIES, "
        "comma-separated).",
    )
    @click.option(
        "--ca-file",
        type=click.Path(exists=True, dir_okay=False, path_type=Path),
        help="PEM bundle to verify registry TLS with (also INFERD_REGISTRY_CA).",
    )
    @functools.wraps(func)
    @handles_errors  # a bad setting (INFERD_MAX_BLOB_BYTES…) is one error line, as in func
    def wrapper(*args: Any, insecure: tuple[str, ...], ca_file: Path | None, **kwargs: Any) -> R:
        return func(*args, registries=registry_settings(insecure, ca_file), **kwargs)

    return wrapper


def _prompt(what: str, *, hide_input: bool = False) -> str:
    """Ask for ``what``: on a terminal, or as a line of piped input. Input that ends first
    (no terminal, nothing piped) is one error saying what to pass, not click's "Aborted!"."""
    try:
        value: str = click.prompt(what.capitalize(), hide_input=hide_input, err=True)
    except click.Abort:
        if sys.stdin.isatty():
            raise  # Ctrl-C at the prompt
        raise InvalidArgument(
            f"cannot read the {what}: standard input ended (no terminal to prompt on); "
            "pass -u USER --password-stdin"
        ) from None
    return value


def _password(password_stdin: bool) -> str:
    if password_stdin:
        value = sys.stdin.read().rstrip("\r\n")
    else:
        value = _prompt("password", hide_input=True)
    if not value:
        raise InvalidArgument("the password is empty")
    return value


@main.command()
@click.argument("host")
@click.option(
    "--username",
    "-u",
    help="User name (prompted for on a terminal when omitted; needed with --password-stdin).",
)
@click.option(
    "--password-stdin", is_flag=True, help="Read the password (or token) from standard input."
)
@registry_options
@json_option
@handles_errors
def login(
    *,
    host: str,
    username: str | None,
    password_stdin: bool,
    registries: RegistrySettings,
    as_json: bool,
) -> None:
    """Check credentials for registry HOST[:PORT] and store them in the Docker config file."""
    problem = registry_host_problem(host)
    if problem is not None:  # else "http://host" would be reported unreachable, after a password
        raise InvalidArgument(problem)
    if password_stdin and not username:
        # Prompting would read the user name from the same stdin, taking the password's line.
        raise InvalidArgument("--password-stdin needs --username (-u): stdin holds the password")
    # Deferred: the HTTP client stack is for login only; push, pull, tag and ls take the
    # registry options from this module and load the client when a reference names a registry.
    from inferd.store.remote.client import RegistryClient
    from inferd.store.remote.transport import RegistryHttp

    user = username or _prompt("user name")
    login_as = Credentials(user, _password(password_stdin))
    http = RegistryHttp(host, registries, login_as)
    try:
        RegistryClient(http).ping()
    except Unauthenticated:  # not "run `inferd login`": that is what just ran
        raise Unauthenticated(
            f"registry {host} refused the credentials of {user}: check the user name and "
            "password (or token); nothing was stored"
        ) from None
    finally:
        http.close()
    credentials.store(registries.config_file, host, login_as)
    if as_json:
        emit_json({"registry": host, "username": user, "stored": True})
    else:
        click.echo(f"logged in to {host} as {user}")


@main.command()
@click.argument("host")
@json_option
@handles_errors
def logout(host: str, as_json: bool) -> None:
    """Forget the stored credentials of registry HOST[:PORT]."""
    removed = credentials.remove(RegistrySettings.from_environ().config_file, host)
    if as_json:
        emit_json({"registry": host, "removed": removed})
    else:
        click.echo(f"logged out of {host}" if removed else f"no credentials stored for {host}")
