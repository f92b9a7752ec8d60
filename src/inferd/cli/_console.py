"""The ``inferd`` console script (pyproject ``[project.scripts]``).

Ctrl-C while Python imports the command line (click, rich, orjson and inferd's modules: a third
of a second warm, seconds cold) raised KeyboardInterrupt outside every handler of the commands:
a traceback, and death by SIGINT. The import happens here, inside a handler, so a command
interrupted at any point after the interpreter's own start ends as one interrupted later does:
``error: cancelled (interrupted)`` on stderr and status 130 (128 + SIGINT, as a shell reports
it). This module imports nothing that takes time.
"""

import sys

#: ``_app.EXIT_CODES[Code.CANCELLED]``, which is not imported yet when this is needed.
CANCELLED = 130


def main() -> None:
    """Import the command line and run it; Ctrl-C at any point is ``cancelled`` and 130."""
    try:
        from inferd.cli._app import main as cli

        cli(prog_name="inferd")
    except KeyboardInterrupt:
        sys.stderr.write("error: cancelled (interrupted)\n")
        raise SystemExit(CANCELLED) from None
