"""The model-server process: what ``inferd serve`` runs.

- :mod:`~inferd.server.composition`: the composition root, :func:`build_server`, and the
  :class:`Server` it returns (bind, load, drain, stop);
- :mod:`~inferd.server.banner`: what the server prints once it is up;
- :mod:`~inferd.server.workers`: one process, or ``--workers N`` sharing a port;
- :mod:`~inferd.server.worker_metrics`: one ``/metrics`` for every worker of ``--workers N``;
- :mod:`~inferd.server.logs`: the log format of ``inferd serve`` and ``inferd up``.

It may import every package below the CLI's row except ``control`` and ``deploy`` (its
siblings): serving, protocols, runtimes, store, observe and the kernel
(docs/architecture.md).
"""

from inferd.server.composition import Server, build_server
from inferd.server.logs import configure_logging
from inferd.server.workers import run

__all__ = ["Server", "build_server", "configure_logging", "run"]
