"""Progress bars on stderr for the store commands' large transfers (push, pull, tag).

Drawn only for a person watching (stderr is a terminal, no ``--quiet`` or ``--json``), and
removed when the transfer ends. Local writes get a bar only above
:data:`PROGRESS_THRESHOLD_BYTES`; network transfers always do.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from rich.progress import BarColumn, DownloadColumn, Progress, TransferSpeedColumn

from inferd.cli._app import stderr

#: Files smaller than this are written (push, pull) too fast for a progress bar to help.
PROGRESS_THRESHOLD_BYTES = 64 * 1024 * 1024


def bars_wanted(*, quiet: bool, as_json: bool) -> bool:
    """Whether to draw progress bars: only for a person watching (stderr is a terminal)."""
    return not (quiet or as_json) and sys.stderr.isatty()


@contextmanager
def progress_bar(
    enabled: bool, label: str = "pushing", threshold: int = PROGRESS_THRESHOLD_BYTES
) -> Iterator[Callable[[int, int], None] | None]:
    """A ``progress(done, total)`` callback drawing a bar labelled ``label`` on stderr once a
    transfer of at least ``threshold`` bytes reports; None when not ``enabled``."""
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
            if total < threshold:
                return
            if not task:
                task.append(bar.add_task(label, total=total))
            bar.update(task[0], completed=done)

        yield update
