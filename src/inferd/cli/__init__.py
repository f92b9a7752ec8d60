"""The ``inferd`` command line. Importing this package registers every command on ``main``."""

from inferd.cli import serve_cmds, store_cmds
from inferd.cli._app import main

__all__ = ["main", "serve_cmds", "store_cmds"]
