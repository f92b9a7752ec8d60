"""``inferd keys create|list|revoke``: the API keys a data plane requires.

Keys live in a keys file (default ``$INFERD_HOME/keys.json``; ``--keys-file`` names another),
which ``inferd up``'s gateway and ``inferd serve --keys-file`` watch: a key created or revoked
applies to them within a second, without a restart. Only a hash of each secret is stored, so
``create`` prints the token once and it cannot be shown again.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, get_args

import click
from pydantic import TypeAdapter, ValidationError
from rich.table import Table
from rich.text import Text

from inferd.cli._app import emit_json, handles_errors, json_option, main, print_whole, stderr
from inferd.config import store_settings
from inferd.errors import InvalidArgument
from inferd.protocols.access.keyfile import (
    Deployment,
    KeyName,
    KeyRecord,
    Scope,
    create_key,
    default_keys_file,
    read_keys,
    revoke_key,
)

keys_file_option = click.option(
    "--keys-file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="The keys file (default: $INFERD_HOME/keys.json, which inferd up's gateway watches).",
)


def _path(keys_file: Path | None) -> Path:
    return keys_file if keys_file is not None else default_keys_file(store_settings().root)


@main.group()
def keys() -> None:
    """API keys for the data plane (inferd up's gateway, inferd serve --keys-file)."""


@keys.command("create")
@click.argument("name")
@click.option(
    "--deployment",
    "deployments",
    multiple=True,
    metavar="NAME",
    help="A deployment the key may use (under inferd serve: a model name); repeatable. "
    "Default: every deployment.",
)
@click.option(
    "--scope",
    "scopes",
    multiple=True,
    type=click.Choice(get_args(Scope)),
    help="infer: call models; read: /metrics, the dashboard and /api/*. Repeatable. "
    "Default: infer.",
)
@click.option(
    "--rps",
    type=click.FloatRange(min=0, min_open=True),
    help="Requests per second allowed (bursts of one second's worth); beyond: 429.",
)
@keys_file_option
@json_option
@handles_errors
def create(
    name: str,
    *,
    deployments: tuple[str, ...],
    scopes: tuple[Scope, ...],
    rps: float | None,
    keys_file: Path | None,
    as_json: bool,
) -> None:
    """Create the key NAME and print its token (the only time it is shown).

    The token goes to stdout alone, so `KEY=$(inferd keys create ci)` keeps it; clients send it
    as `Authorization: Bearer <token>` (gRPC: `authorization` metadata).
    """
    if deployments and "read" in scopes:
        raise InvalidArgument(
            "--scope read covers /metrics, the dashboard and /api/*, which show every "
            "deployment: a key limited with --deployment could use none of them; create the "
            "read key without --deployment"
        )
    _check(name, KeyName, f"key name {name!r}: " + _KEY_NAME_RULE)
    for deployment in deployments:
        _check(deployment, Deployment, f"--deployment {deployment!r}: " + _DEPLOYMENT_RULE)
    path = _path(keys_file)
    record, token = create_key(
        path, name, deployments=deployments or None, scopes=scopes or ("infer",), rps=rps
    )
    if as_json:
        emit_json({**record.summary(), "token": str(token), "keys_file": str(path)})
        return
    click.echo(str(token))
    stderr().print(
        Text(
            f"created key {record.name!r} ({_describe(record)}) in {path}; the token above is "
            "shown only now. Servers watching this file require keys from it."
        )
    )


@keys.command("list")
@keys_file_option
@json_option
@handles_errors
def list_keys(*, keys_file: Path | None, as_json: bool) -> None:
    """Every key's name, id, deployments, scopes and rate (never a secret)."""
    records = read_keys(_path(keys_file))
    if as_json:
        emit_json([r.summary() for r in records])
        return
    table = Table(box=None, header_style="bold")
    for column in ("NAME", "ID", "DEPLOYMENTS", "SCOPES", "RPS", "CREATED"):
        table.add_column(column)
    for r in records:
        table.add_row(
            r.name,
            r.id,
            ", ".join(r.deployments) if r.deployments else "all",
            ", ".join(r.scopes),
            f"{r.rps:g}" if r.rps is not None else "-",
            r.created,
        )
    print_whole(table)


@keys.command("revoke")
@click.argument("name")
@keys_file_option
@json_option
@handles_errors
def revoke(name: str, *, keys_file: Path | None, as_json: bool) -> None:
    """Remove the key NAME (or with that id); servers watching the file refuse it from then on."""
    path = _path(keys_file)
    record = revoke_key(path, name)
    if as_json:
        emit_json({**record.summary(), "keys_file": str(path)})
        return
    stderr().print(Text(f"revoked key {record.name!r} (id {record.id}) in {path}"))


_KEY_NAME_RULE = (
    "letters, digits, '.', '_' and '-', starting with a letter or digit, at most 63 characters"
)
_DEPLOYMENT_RULE = (
    "a deployment name is lower-case letters and digits, separated by '.', '_', '__', '-' or "
    "'/' (team/fraud), at most 255 characters"
)


def _check(value: str, kind: Any, problem: str) -> None:
    """Refuse ``value`` unless it is a ``kind`` (the keys file's own type for it), saying
    ``problem`` rather than the type's regular expression."""
    try:
        TypeAdapter(kind).validate_python(value)
    except ValidationError:
        raise InvalidArgument(problem) from None


def _describe(record: KeyRecord) -> str:
    deployments = ", ".join(record.deployments) if record.deployments else "every deployment"
    rate = f"{record.rps:g} requests/s" if record.rps is not None else "no rate limit"
    return f"id {record.id}; {deployments}; scopes {', '.join(record.scopes)}; {rate}"
