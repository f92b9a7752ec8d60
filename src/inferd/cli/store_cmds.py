"""Store commands: push, pull, tag, ls, inspect, rm, gc, history.

Each command parses its arguments, calls :class:`inferd.store.ModelStore`, and prints either a
human view (rich, on stdout; progress on stderr) or, with ``--json``, one JSON document.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click
import yaml
from rich.progress import BarColumn, DownloadColumn, Progress, TransferSpeedColumn
from rich.table import Table

from inferd.cli._app import emit_json, handles_errors, json_option, main, stderr, stdout
from inferd.config import store_settings
from inferd.store import ModelStore

#: Files smaller than this push too fast for a progress bar to help.
PROGRESS_THRESHOLD_BYTES = 64 * 1024 * 1024


def _store() -> ModelStore:
    return ModelStore.from_settings(store_settings())


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


@contextmanager
def _progress(enabled: bool) -> Iterator[Callable[[int, int], None] | None]:
    """A ``progress(done, total)`` callback drawing a bar on stderr for large pushes."""
    if not enabled:
        yield None
        return
    with Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        console=stderr(),
        transient=True,
    ) as bar:
        task: list[Any] = []

        def update(done: int, total: int) -> None:
            if total < PROGRESS_THRESHOLD_BYTES:
                return
            if not task:
                task.append(bar.add_task("pushing", total=total))
            bar.update(task[0], completed=done)

        yield update


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
@click.option("--source-revision", help="Code revision the model was built from.")
@click.option(
    "--trust-unsafe-format",
    is_flag=True,
    help="Accept pickle-based files (they can run code when loaded); recorded in the card.",
)
@click.option("--quiet", "-q", is_flag=True, help="Print only the digest.")
@json_option
@handles_errors
def push(
    *,
    path: Path,
    ref: str,
    runtime: str | None,
    signature_file: Path | None,
    labels: dict[str, str],
    source_revision: str | None,
    trust_unsafe_format: bool,
    quiet: bool,
    as_json: bool,
) -> None:
    """Store PATH (a file or directory) as model version REF (name[:tag]); print its digest."""
    show = not (quiet or as_json) and sys.stderr.isatty()
    with _progress(show) as progress:
        result = _store().push(
            path,
            ref,
            runtime=runtime,
            trust_unsafe_format=trust_unsafe_format,
            labels=labels,
            source_revision=source_revision,
            progress=progress,
            metadata=signature_file,
        )
    if as_json:
        emit_json(
            {
                "reference": str(result.reference),
                "digest": result.digest,
                "runtime": result.card.runtime,
                "size": result.size,
                "files": result.files,
            }
        )
        return
    if not quiet:
        stderr().print(
            f"pushed {result.reference} ({result.files} file{'s' * (result.files != 1)}, "
            f"{_human(result.size)}, "
            f"runtime {result.card.runtime})"
        )
    click.echo(result.digest)


@main.command()
@click.argument("ref")
@click.argument("dest", type=click.Path(file_okay=False, path_type=Path))
@json_option
@handles_errors
def pull(ref: str, dest: Path, as_json: bool) -> None:
    """Write the verified files of model version REF into directory DEST."""
    store = _store()
    resolved = store.resolve(ref)
    store.pull(ref, dest)
    if as_json:
        emit_json({"reference": ref, "digest": resolved.digest, "path": str(dest)})
    else:
        click.echo(f"pulled {ref} ({_short(resolved.digest)}) into {dest}")


@main.command()
@click.argument("src")
@click.argument("dst")
@json_option
@handles_errors
def tag(src: str, dst: str, as_json: bool) -> None:
    """Point tag DST (name:tag) at the version SRC refers to."""
    resolved = _store().tag(src, dst)
    if as_json:
        emit_json({"reference": str(resolved.reference), "digest": resolved.digest})
    else:
        click.echo(f"{resolved.reference} -> {resolved.digest}")


@main.command(name="ls")
@click.argument("name", required=False)
@json_option
@handles_errors
def ls(name: str | None, as_json: bool) -> None:
    """List tagged model versions (of NAME, if given)."""
    entries = _store().list(name)
    if as_json:
        emit_json(
            [
                {
                    "name": e.name,
                    "tag": e.tag,
                    "digest": e.digest,
                    "runtime": e.runtime,
                    "size": e.size,
                    "created": e.created.isoformat(),
                }
                for e in entries
            ]
        )
        return
    table = Table("NAME", "TAG", "DIGEST", "RUNTIME", "SIZE", "CREATED", box=None)
    for e in entries:
        created = e.created.strftime("%Y-%m-%d %H:%M:%S")
        table.add_row(e.name, e.tag, _short(e.digest), e.runtime, _human(e.size), created)
    stdout().print(table)


@main.command()
@click.argument("ref")
@json_option
@handles_errors
def inspect(ref: str, as_json: bool) -> None:
    """Show the model card of REF, with its digest and size."""
    resolved = _store().resolve(ref)
    document = {
        "reference": ref,
        "digest": resolved.digest,
        "size": resolved.size,
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
@json_option
@handles_errors
def gc(as_json: bool) -> None:
    """Delete blobs no tagged version references, and stale materialized models."""
    result = _store().gc()
    if as_json:
        emit_json(
            {
                "blobs_removed": result.blobs_removed,
                "bytes_freed": result.bytes_freed,
                "models_removed": result.models_removed,
            }
        )
    else:
        click.echo(
            f"removed {result.blobs_removed} blobs ({_human(result.bytes_freed)}) and "
            f"{result.models_removed} materialized models"
        )


@main.command()
@click.argument("name")
@json_option
@handles_errors
def history(name: str, as_json: bool) -> None:
    """Every tag move of model NAME: push, tag and rm, with who and when."""
    events = _store().history(name)
    if as_json:
        emit_json([e.to_json() for e in events])
        return
    table = Table("TIME", "TAG", "ACTION", "OLD", "NEW", "BY", box=None)
    for e in events:
        when = e.time.strftime("%Y-%m-%d %H:%M:%S")
        table.add_row(when, e.tag, e.action, _short(e.old), _short(e.new), f"{e.user}@{e.host}")
    stdout().print(table)
