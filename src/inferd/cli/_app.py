"""The root ``inferd`` command group and what every command shares.

Commands live in modules named for what they touch (``store_cmds``, ``serve_cmds``…), register
themselves on :data:`main`, and delegate to the library; no business logic lives here.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from typing import Any, ParamSpec, TypeVar

import click
import orjson
from rich.console import Console
from rich.text import Text

from inferd import __version__
from inferd.errors import Code, InferdError

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


def exit_status(error: InferdError) -> int:
    """The exit status a command that failed with ``error`` ends with."""
    return EXIT_CODES[error.code]


def stdout() -> Console:
    return Console(highlight=False, soft_wrap=True)


def stderr() -> Console:
    return Console(stderr=True, highlight=False, soft_wrap=True)


def emit_json(value: Any) -> None:
    """Print one JSON document on stdout (for ``--json``)."""
    sys.stdout.write(orjson.dumps(value, option=orjson.OPT_INDENT_2, default=str).decode())
    sys.stdout.write("\n")


json_option = click.option(
    "--json", "as_json", is_flag=True, help="Print machine-readable JSON instead of a table."
)


def handles_errors(func: Callable[P, R]) -> Callable[P, R]:
    """Turn an :class:`InferdError` into a one-line message and a meaningful exit status."""

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return func(*args, **kwargs)
        except InferdError as exc:
            # The message is data, never markup: "[/x]" in a user's string must print as is.
            stderr().print(Text.assemble(("error:", "red"), " ", exc.message))
            raise SystemExit(exit_status(exc)) from None

    return wrapper


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="inferd")
def main() -> None:
    """inferd — ship models like images, serve them over the Open Inference Protocol."""
