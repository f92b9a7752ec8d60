"""The root ``inferd`` command group and what every command shares.

Commands live in modules named for what they touch (``store_cmds``, ``serve_cmds``…), register
themselves on :data:`main`, and delegate to the library; no business logic lives here.
"""

from __future__ import annotations

import errno
import functools
import importlib
import os
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, ParamSpec, TypeVar

import click
import orjson

from inferd import __version__
from inferd.errors import Code, InferdError

if TYPE_CHECKING:
    from click.decorators import FC
    from rich.console import Console
    from rich.table import Table

    from inferd.deploy.gpu_plan import Scale

P = ParamSpec("P")
R = TypeVar("R")

#: Exit status per error code: one status per failure class, so scripts can tell "not found"
#: from "bad input" from "could not connect". docs/cli.md lists them (a test keeps it in step).
#: 0 is success; 1 is what is left: an internal error or anything unexpected.
EXIT_CODES: dict[Code, int] = {
    Code.INTERNAL: 1,
    Code.INVALID_ARGUMENT: 2,
    Code.NOT_FOUND: 3,
    Code.ALREADY_EXISTS: 4,
    Code.DATA_LOSS: 5,
    Code.UNAUTHENTICATED: 6,
    Code.PERMISSION_DENIED: 6,
    Code.UNAVAILABLE: 7,
    Code.RESOURCE_EXHAUSTED: 7,
    Code.DEADLINE_EXCEEDED: 8,
    Code.PAYLOAD_TOO_LARGE: 9,
    Code.UNSUPPORTED: 10,
    Code.CANCELLED: 130,  # as a shell reports a command stopped by Ctrl-C (128 + SIGINT)
}


#: The exit status of a command whose output's reader went away, as a shell reports a command
#: ended by SIGPIPE (128 + 13).
CLOSED_PIPE = 141


def exit_status(error: InferdError) -> int:
    """The exit status a command that failed with ``error`` ends with."""
    return EXIT_CODES[error.code]


def stdout() -> Console:
    return _console()(highlight=False, soft_wrap=True)


def stderr() -> Console:
    return _console()(stderr=True, highlight=False, soft_wrap=True)


@functools.cache
def _console() -> type[Console]:
    """rich's Console, but output whose reader went away exits :data:`CLOSED_PIPE`, not 1."""
    from rich.console import Console  # deferred: `inferd serve` prints nothing through rich

    class PipedConsole(Console):
        def on_broken_pipe(self) -> None:
            closed_pipe()

    return PipedConsole


def closed_pipe() -> NoReturn:
    """End the command whose output's reader went away (``inferd ls | head -1``): quietly, as
    :data:`CLOSED_PIPE`. Python's own flush at exit would fail again and print, so what is
    left to write goes nowhere."""
    os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    raise SystemExit(CLOSED_PIPE)


def print_whole(table: Table) -> None:
    """Print ``table`` on stdout at its natural width: rich would cut names with '…' and wrap
    cells onto more lines to fit a terminal or a pipe's 80 columns, and each row must stay one
    line holding what other commands take (``inferd keys list | awk``)."""
    from rich.measure import Measurement

    console = stdout()
    wide = console.options.update_width(sys.maxsize)
    console.width = max(console.width, Measurement.get(console, wide, table).maximum)
    console.print(table)


def emit_json(value: Any) -> None:
    """Print one JSON document on stdout (for ``--json``)."""
    sys.stdout.write(orjson.dumps(value, option=orjson.OPT_INDENT_2, default=str).decode())
    sys.stdout.write("\n")


def rfc3339(seconds: float) -> str:
    """A point in time given in seconds since the epoch as every ``--json`` prints one: RFC 3339
    in UTC, ``2026-12-07T10:30:24.500000+00:00`` (as the store's ``created`` and ``time``)."""
    from datetime import UTC, datetime

    return datetime.fromtimestamp(seconds, UTC).isoformat()


def rollout_json(status: Mapping[str, Any]) -> dict[str, Any]:
    """A rollout's status or history page from the admin API (its times in seconds since the
    epoch, which the dashboard plots) with its times in RFC 3339, as ``--json`` prints it."""
    doc = dict(status)
    for key in ("started_at", "updated_at"):
        if isinstance(doc.get(key), int | float):
            doc[key] = rfc3339(doc[key])
    doc["decisions"] = [
        {**r, "time": rfc3339(r["time"])} if isinstance(r.get("time"), int | float) else r
        for r in doc.get("decisions", [])
    ]
    return doc


json_option = click.option(
    "--json", "as_json", is_flag=True, help="Print machine-readable JSON instead of a table."
)

#: A file named on the command line (a spec, an overlay, a nodes file): the command that reads
#: it reports one that is missing, against its own option.
FILE = click.Path(dir_okay=False, path_type=Path)


def scale_option(default: Scale, description: str) -> Callable[[FC], FC]:
    """``--scale replicas|max``: what a GPU plan sizes for, the spec's replicas or autoscaling's
    maximum; the command receives it as a :data:`~inferd.deploy.gpu_plan.Scale`."""
    return click.option(
        "--scale",
        type=click.Choice(["replicas", "max"]),
        default=default,
        show_default=True,
        help=description,
    )


#: OS errors about a path the user gave (an output file, a keys file, a directory) that cannot
#: be created, read or written: bad input, said in one line, not a traceback.
_PATH_ERRNOS = frozenset(
    {
        errno.ENOENT, errno.ENOTDIR, errno.EISDIR, errno.EEXIST, errno.EACCES, errno.EPERM,
        errno.EROFS, errno.ENAMETOOLONG, errno.ELOOP,
    }
)  # fmt: skip

#: OS errors of a disk that is full for this process (the disk, a quota, or a file-size limit:
#: ``ulimit -f``): the class of a pull beyond the free disk space.
_FULL_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG})


def handles_errors(func: Callable[P, R]) -> Callable[P, R]:
    """Turn an :class:`InferdError`, or an OS error naming a path (:data:`_PATH_ERRNOS`), into
    a one-line message and a meaningful exit status; Ctrl-C (KeyboardInterrupt) into
    ``cancelled`` and 130, as a shell reports it, once what the command was doing stopped."""

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return func(*args, **kwargs)
        except InferdError as exc:
            _say_error(exc.message)
            raise SystemExit(exit_status(exc)) from None
        except KeyboardInterrupt:
            _say_error("cancelled (interrupted)")
            raise SystemExit(EXIT_CODES[Code.CANCELLED]) from None
        except OSError as exc:
            if exc.errno in _FULL_ERRNOS:  # a file, the store or standard output
                where = "" if exc.filename is None else f"{str(exc.filename)!r}: "
                fix = (
                    "raise the file-size limit (ulimit -f) and retry"
                    if exc.errno == errno.EFBIG
                    else "free some space and retry"
                )
                _say_error(f"{where}{exc.strerror} while writing; {fix}")
                raise SystemExit(EXIT_CODES[Code.PAYLOAD_TOO_LARGE]) from None
            if exc.filename is None or exc.errno not in _PATH_ERRNOS:
                raise
            why = exc.strerror
            if exc.errno == errno.EEXIST and not Path(exc.filename).is_dir():
                why = "not a directory"  # a mkdir where a file stands: say what is wrong
            _say_error(f"{str(exc.filename)!r}: {why}")
            raise SystemExit(EXIT_CODES[Code.INVALID_ARGUMENT]) from None

    return wrapper


def _say_error(message: str) -> None:
    from rich.text import Text  # deferred with rich's Console (see stderr)

    # The message is data, never markup: "[/x]" in a user's string must print as is.
    stderr().print(Text.assemble(("error:", "red"), " ", message))


#: The module (under ``inferd.cli``) that registers each top-level command. A command's module
#: is imported when that command runs or help lists it, not before: ``inferd serve`` then
#: imports no registry client, table renderer or Kubernetes code (issue 18, start-up time and
#: memory). tests/cli/test_lazy_commands.py keeps this in step with what the modules register.
COMMAND_MODULES: dict[str, str] = {
    "apply": "control_cmds",
    "cost": "cost_cmds",
    "doctor": "gpu_cmds",
    "down": "control_cmds",
    "gc": "store_cmds",
    "gpu": "gpu_cmds",
    "history": "store_cmds",
    "inspect": "store_cmds",
    "k8s": "k8s_cmds",
    "keys": "keys_cmds",
    "login": "registry_cmds",
    "logout": "registry_cmds",
    "ls": "store_cmds",
    "ps": "control_cmds",
    "pull": "store_cmds",
    "push": "store_cmds",
    "rm": "store_cmds",
    "rollout": "rollout_cmds",
    "serve": "serve_cmds",
    "spec": "control_cmds",
    "tag": "store_cmds",
    "up": "control_cmds",
}

#: Each command's summary as ``inferd --help`` lists it, so that help loads no command's
#: module (every module at once took 0.7 s of CPU); a test keeps it equal to each command's own.
COMMAND_SUMMARIES: dict[str, str] = {
    "apply": "Apply a spec to the running `inferd up`: weights, versions, replica counts.",
    "cost": (
        "What each version of the running `inferd up` costs, and how to size it (docs/cost.md)."
    ),
    "doctor": (
        "Report the GPUs NVML sees, onnxruntime's execution providers, and what inferd will use."
    ),
    "down": "Stop the running `inferd up`: it drains in-flight requests, then every replica stops.",
    "gc": "Delete blobs no tagged version references, and stale materialized models.",
    "gpu": "Plan GPU capacity.",
    "history": "Every tag move of model NAME: push, tag and rm, with who and when.",
    "inspect": (
        "Show the model card of REF, with its digest, size and creation time (when the version "
        "was first pushed here, else the card's declared time); a remote REF is pulled first."
    ),
    "k8s": "Render the spec for Kubernetes.",
    "keys": "API keys for the data plane (inferd up's gateway, inferd serve --keys-file).",
    "login": "Check credentials for registry HOST[:PORT] and store them in the Docker config file.",
    "logout": "Forget the stored credentials of registry HOST[:PORT].",
    "ls": "List tagged model versions (of NAME, if given; host[:port]/name lists a registry's).",
    "ps": "The replicas of the running `inferd up`: state, pid, port, restarts, uptime, weights.",
    "pull": "Write the verified files of model version REF into directory DEST.",
    "push": "Store PATH (a file or directory) as model version REF; print its digest.",
    "rm": "Remove tag REF (files stay until `inferd gc`).",
    "rollout": "Progressive rollouts of the running `inferd up` (canary, blue-green, A/B).",
    "serve": (
        "Serve model versions from the store over the Open Inference Protocol (REST and gRPC)."
    ),
    "spec": "Check and describe spec files (inferd.yaml).",
    "tag": "Point tag DST (name:tag) at the version SRC refers to.",
    "up": "Run a whole spec locally: replicas, the gateway and its dashboard, the admin API.",
}


class LazyGroup(click.Group):
    """A group whose commands register themselves when their module (``COMMAND_MODULES``) loads."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*self.commands, *COMMAND_MODULES})

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """The commands and their summaries, as click lists them, from :data:`COMMAND_SUMMARIES`
        rather than from each command (which would load its module)."""
        names = self.list_commands(ctx)
        limit = formatter.width - 6 - max(map(len, names))
        rows = [(name, self._summary(ctx, name, limit)) for name in names]
        with formatter.section("Commands"):
            formatter.write_dl(rows)

    def _summary(self, ctx: click.Context, name: str, limit: int) -> str:
        summary = COMMAND_SUMMARIES.get(name)
        if summary is not None:  # shortened as click shortens a command's own help
            return click.Command(name, help=summary).get_short_help_str(limit)
        command = self.get_command(ctx, name)  # one registered outside the map
        return command.get_short_help_str(limit) if command is not None else ""

    def invoke(self, ctx: click.Context) -> Any:
        """Ctrl-C before a command's own error handling runs (while its module and the
        libraries it needs import: seconds on a cold start) is ``cancelled`` and 130 too, not
        click's ``Aborted!`` and 1. Output whose reader went away (``inferd ls | head -1``)
        ends the command quietly with 141, as a shell reports SIGPIPE, not 1 (an internal
        error's status)."""
        try:
            result = super().invoke(ctx)
            sys.stdout.flush()  # what is still buffered meets a closed pipe here, not at exit
        except KeyboardInterrupt:
            _say_error("cancelled (interrupted)")
            raise SystemExit(EXIT_CODES[Code.CANCELLED]) from None
        except BrokenPipeError:
            closed_pipe()
        return result

    def make_context(
        self,
        info_name: str | None,
        args: list[str],
        parent: click.Context | None = None,
        **extra: Any,
    ) -> click.Context:
        """``inferd --help`` and ``--version`` print here, before :meth:`invoke`."""
        try:
            return super().make_context(info_name, args, parent, **extra)
        except BrokenPipeError:
            closed_pipe()

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        module = COMMAND_MODULES.get(cmd_name)
        if cmd_name not in self.commands and module is not None:
            importlib.import_module(f"inferd.cli.{module}")
        return super().get_command(ctx, cmd_name)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="inferd")
def main() -> None:
    """inferd — ship models like images, serve them over the Open Inference Protocol."""
