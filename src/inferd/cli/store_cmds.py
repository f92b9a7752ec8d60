"""Store commands: push, pull, tag, ls, inspect, rm, gc, history.

Each command parses its arguments, calls :class:`inferd.store.ModelStore` (push calls
:func:`inferd.packaging.push`), and prints either a human view (rich, on stdout; progress on
stderr) or, with ``--json``, one JSON document.
References may name a registry (``host[:port]/name:tag``); see ``registry_cmds`` for the
options that reach it.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import click
import yaml
from rich.table import Table

from inferd.cli._app import (
    emit_json,
    handles_errors,
    json_option,
    main,
    print_whole,
    stderr,
)
from inferd.cli._progress import bars_wanted, progress_bar
from inferd.cli._sizes import parse_size
from inferd.cli.registry_cmds import registry_options
from inferd.config import store_settings
from inferd.errors import InvalidArgument, ModelNotFound
from inferd.reference import split_registry
from inferd.store import ModelStore, Reference
from inferd.store.remote import RegistrySettings
from inferd.store.results import Transfer


def _store(registries: RegistrySettings | None = None) -> ModelStore:
    store = ModelStore.from_settings(store_settings(), registries)
    click.get_current_context().call_on_close(store.close)  # registry connections
    return store


def _transfer_json(transfer: Transfer | None) -> dict[str, int] | None:
    if transfer is None:
        return None
    keys = ("blobs", "transferred", "skipped", "mounted")
    return {**{key: getattr(transfer, key) for key in keys}, "bytes": transfer.bytes_transferred}


def _short(digest: str | None) -> str:
    return "-" if digest is None else digest.removeprefix("sha256:")[:12]


def _human(size: int) -> str:
    value = float(size)
    for unit in ("B", "kB", "MB"):
        if value < 1000:
            return f"{value:.0f} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    return f"{value:.1f} GB"


def _labels(
    _ctx: click.Context, _param: click.Parameter, values: tuple[str, ...]
) -> dict[str, str]:
    labels: dict[str, str] = {}
    for item in values:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"{item!r} is not key=value")
        labels[key] = value
    return labels


@main.command()
@click.argument("path", type=click.Path(exists=True, path_type=Path))
@click.argument("ref")
@click.option("--runtime", help="Runtime that loads the model (default: detected from content).")
@click.option(
    "--signature",
    "signature_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="YAML with runtime, entrypoint, inputs, outputs, labels, metrics "
    "(default: inferd.model.yaml beside or inside PATH).",
)
@click.option("--label", "labels", multiple=True, callback=_labels, help="Label key=value.")
@click.option(
    "--reference-data",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Training rows (.npy, .npz with one array per input, or CSV with a header) to store "
    "as the card's reference profile for drift metrics.",
)
@click.option("--source-revision", help="Code revision the model was built from.")
@click.option(
    "--base",
    metavar="REF",
    help="For a GGUF LoRA adapter: the model version it applies to (e.g. llm:base-1). The "
    "card pins it by digest; serving the adapter loads that base once and applies it.",
)
@click.option(
    "--trust-unsafe-format",
    is_flag=True,
    help="Accept files not admitted as data (pickles, unknown formats: they can run code when "
    "loaded); recorded in this store's history and in the card.",
)
@click.option("--quiet", "-q", is_flag=True, help="Print only the digest.")
@registry_options
@json_option
@handles_errors
def push(
    *,
    path: Path,
    ref: str,
    runtime: str | None,
    signature_file: Path | None,
    labels: dict[str, str],
    reference_data: Path | None,
    source_revision: str | None,
    base: str | None,
    trust_unsafe_format: bool,
    quiet: bool,
    registries: RegistrySettings,
    as_json: bool,
) -> None:
    """Store PATH (a file or directory) as model version REF; print its digest.

    REF is name[:tag] for the local store, or host[:port]/name:tag to upload to a registry
    (files already in the registry are not sent again). The same files and options give the
    same digest; SOURCE_DATE_EPOCH, if set, is recorded as the model's creation time.
    """
    from inferd import packaging  # deferred: numpy and the format readers cost ls… ~0.5 s

    show = bars_wanted(quiet=quiet, as_json=as_json)
    with progress_bar(show) as progress, progress_bar(show, "uploading", 0) as uploading:
        result = packaging.push(
            _store(registries),
            path,
            ref,
            runtime=runtime,
            trust_unsafe_format=trust_unsafe_format,
            labels=labels,
            source_revision=source_revision,
            progress=progress,
            metadata=signature_file,
            network_progress=uploading,
            reference_data=reference_data,
            created=packaging.source_date(os.environ),
            base=base,
        )
    profile = result.card.reference_profile
    if as_json:
        emit_json(
            {
                "reference": str(result.reference),
                "digest": result.digest,
                "runtime": result.card.runtime,
                "size": result.size,
                "files": result.files,
                "transfer": _transfer_json(result.transfer),
                "reference_rows": None if profile is None else profile.rows,
            }
        )
        return
    if not quiet:
        moved = result.transfer
        sent = "" if moved is None else f", {_human(moved.bytes_transferred)} sent"
        profiled = "" if profile is None else f", reference profile of {profile.rows} rows"
        stderr().print(
            f"pushed {result.reference} ({result.files} file{'s' * (result.files != 1)}, "
            f"{_human(result.size)}, "
            f"runtime {result.card.runtime}{profiled}{sent})"
        )
    click.echo(result.digest)


def _destination(_ctx: click.Context, _param: click.Parameter, value: str) -> Path:
    if not value:  # "$OUT" unset: Path("") is the working directory, which was not named
        raise click.BadParameter("it is empty; name a directory ('.' for the working one)")
    return Path(value)


@main.command()
@click.argument("ref")
@click.argument("dest", type=click.Path(file_okay=False), callback=_destination)
@click.option("--quiet", "-q", is_flag=True, help="Print nothing but errors.")
@registry_options
@json_option
@handles_errors
def pull(ref: str, dest: Path, quiet: bool, registries: RegistrySettings, as_json: bool) -> None:
    """Write the verified files of model version REF into directory DEST.

    A remote REF (host[:port]/name:tag) is downloaded into the local store first; files
    the store already holds are not downloaded again.
    """
    store = _store(registries)
    show = bars_wanted(quiet=quiet, as_json=as_json)
    with progress_bar(show, "downloading", 0) as downloading:
        transfer = store.fetch(ref, progress=downloading)
    with progress_bar(show, "pulling") as writing:
        store.pull_fetched(transfer, dest, progress=writing)
    if as_json:
        emit_json(
            {
                "reference": ref,
                "digest": transfer.digest,
                "path": str(dest),
                "transfer": _transfer_json(transfer),
            }
        )
    elif not quiet:
        remote = Reference.parse(ref).registry is not None
        received = f", {_human(transfer.bytes_transferred)} downloaded" if remote else ""
        click.echo(f"pulled {ref} ({_short(transfer.digest)}{received}) into {dest}")


@main.command()
@click.argument("src")
@click.argument("dst")
@registry_options
@json_option
@handles_errors
def tag(src: str, dst: str, registries: RegistrySettings, as_json: bool) -> None:
    """Point tag DST (name:tag) at the version SRC refers to.

    A remote DST (host[:port]/name:tag) uploads the version there; a remote SRC is
    downloaded first.
    """
    store = _store(registries)
    show = bars_wanted(quiet=False, as_json=as_json)
    source = Reference.parse(src)
    if source.registry is not None:  # download first, then tag exactly what came
        with progress_bar(show, "downloading", 0) as downloading:
            transfer = store.fetch(src, progress=downloading)
        src = str(Reference(source.name, None, transfer.digest, source.registry))
    with progress_bar(show, "uploading", 0) as uploading:
        resolved = store.tag(src, dst, progress=uploading)
    if as_json:
        emit_json({"reference": str(resolved.reference), "digest": resolved.digest})
    else:
        click.echo(f"{resolved.reference} -> {resolved.digest}")


@main.command(name="ls")
@click.argument("name", required=False)
@registry_options
@json_option
@handles_errors
def ls(name: str | None, registries: RegistrySettings, as_json: bool) -> None:
    """List tagged model versions (of NAME, if given; host[:port]/name lists a registry's).

    A damaged version (a blob missing or corrupt) is listed too, with a warning naming it.
    """
    entries = _store(registries).list(name)
    for e in entries:
        if e.error is not None:  # listed, not fatal: this is how a user finds what to remove
            remote = split_registry(e.name)[0] is not None  # a registry's: no `inferd rm`
            rm = "" if remote else f"remove it with `inferd rm {e.name}:{e.tag}` or "
            warning = f"warning: {e.name}:{e.tag} is damaged ({e.error}); {rm}push it again"
            stderr().print(warning, markup=False)
    if as_json:
        emit_json(
            [
                {
                    "name": e.name,
                    "tag": e.tag,
                    "digest": e.digest,
                    "runtime": e.runtime,
                    "size": e.size,
                    "created": None if e.created is None else e.created.isoformat(),
                    "error": e.error,
                }
                for e in entries
            ]
        )
        return
    if not entries:
        # Like `kubectl get`: an empty answer is not a failure, but say so where a person reads.
        stderr().print(f"no model versions of {name!r}" if name else "no model versions yet")
        return
    table = Table("NAME", "TAG", "DIGEST", "RUNTIME", "SIZE", "CREATED", box=None)
    for e in entries:
        created = "-" if e.created is None else e.created.strftime("%Y-%m-%d %H:%M:%S")
        runtime = e.runtime or "-"
        size = "-" if e.size is None else _human(e.size)
        table.add_row(e.name, e.tag, _short(e.digest), runtime, size, created)
    print_whole(table)


@main.command()
@click.argument("ref")
@registry_options
@json_option
@handles_errors
def inspect(ref: str, registries: RegistrySettings, as_json: bool) -> None:
    """Show the model card of REF, with its digest, size and creation time (when the version
    was first pushed here, else the card's declared time); a remote REF is pulled first."""
    store = _store(registries)
    resolved = store.resolve(ref)
    created = store.created(resolved)
    document = {
        "reference": ref,
        "digest": resolved.digest,
        "size": resolved.size,
        "created": None if created is None else created.isoformat(),
        "card": resolved.card.model_dump(mode="json"),
    }
    if as_json:
        emit_json(document)
    else:
        click.echo(yaml.safe_dump(document, sort_keys=False).rstrip())


@main.command()
@click.argument("ref")
@json_option
@handles_errors
def rm(ref: str, as_json: bool) -> None:
    """Remove tag REF (files stay until `inferd gc`)."""
    _store().untag(ref)
    if as_json:
        emit_json({"untagged": ref})
    else:
        click.echo(f"untagged {ref}")


@main.command()
@click.option(
    "--max-size",
    metavar="SIZE",
    help="Then evict least-recently-used materialized models and pulled versions (not "
    "tagged locally) until the store fits in SIZE (e.g. 10G, 10Gi, 512M).",
)
@json_option
@handles_errors
def gc(max_size: str | None, as_json: bool) -> None:
    """Delete blobs no tagged version references, and stale materialized models."""
    budget = None if max_size is None else parse_size(max_size)
    result = _store().gc(max_size=budget)
    if as_json:
        emit_json(dataclasses.asdict(result))  # every GcResult field, by its name
    else:
        evicted = (
            ""
            if budget is None
            else f"; evicted {result.versions_evicted} pulled versions, "
            f"{_human(result.bytes_used or 0)} in use"
        )
        kept = (  # else "removed 0 blobs" right after an rm reads as if nothing were unused
            f"; kept {result.blobs_kept} unreferenced blobs ({_human(result.bytes_kept)}) "
            "younger than 10 minutes (a push may be using them)"
            if result.blobs_kept
            else ""
        )
        click.echo(
            f"removed {result.blobs_removed} blobs ({_human(result.bytes_freed)}) and "
            f"{result.models_removed} materialized models{kept}{evicted}"
        )
    if budget is not None and (result.bytes_used or 0) > budget:
        stderr().print(
            f"warning: the store is still over {_human(budget)} ({_human(result.bytes_used or 0)}"
            " in use): locally tagged versions are never evicted, nor blobs younger than 10 "
            "minutes (a push may be using them), nor files being written (a pull or push in "
            "progress), nor versions a server is loading; `inferd rm NAME:TAG` what is no "
            "longer needed, then gc again",
            markup=False,
        )


@main.command()
@click.argument("name")
@json_option
@handles_errors
def history(name: str, as_json: bool) -> None:
    """Every tag move of model NAME: push, tag and rm, with who and when."""
    registry, local = split_registry(name)
    if registry is not None:
        raise InvalidArgument(
            f"{name!r} is in registry {registry}: a registry keeps no history of tag moves; "
            f"`inferd history {local}` lists those made in this store"
        )
    events = _store().history(name)
    if not events:  # never pushed or tagged here: a typo, not a model with no past
        raise ModelNotFound(name)
    if as_json:
        emit_json([e.to_json() for e in events])
        return
    table = Table("TIME", "TAG", "ACTION", "OLD", "NEW", "BY", box=None)
    for e in events:
        when = e.time.strftime("%Y-%m-%d %H:%M:%S")
        table.add_row(when, e.tag, e.action, _short(e.old), _short(e.new), f"{e.user}@{e.host}")
    print_whole(table)
