"""Stopping the control plane's background tasks (loops, rollouts, scaling changes, shadows)."""

from __future__ import annotations

import asyncio
from typing import Any


async def cancel_and_wait(*tasks: asyncio.Task[Any] | None) -> None:
    """Cancel ``tasks`` (``None`` skipped) and wait until every one has finished.

    What they return or raise is dropped: on shutdown one task's failure must not keep the
    others, or whatever stops after them, from stopping.
    """
    running = [t for t in tasks if t is not None]
    for task in running:
        task.cancel()
    await asyncio.gather(*running, return_exceptions=True)
