"""The ``inferd`` command line.

Commands register themselves on ``main`` when their module loads, and a module loads only when
one of its commands runs or help lists them (``_app.COMMAND_MODULES``), so that a command pays
only for what it uses: ``inferd serve`` starts without the registry, table or Kubernetes code.
"""

from inferd.cli._app import main

__all__ = ["main"]
