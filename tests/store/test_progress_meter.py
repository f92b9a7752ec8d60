"""The meter parallel blob transfers share: its ``progress(done, total)`` calls come one at a
time and in order, so a bar never goes backwards and never draws twice (the CLI's bar adds its
task on the first call: two first calls at once drew a second bar stuck at 0)."""

from __future__ import annotations

import threading
import time

from inferd.store.progress import Meter

THREADS, STEPS = 8, 50


def test_parallel_counts_report_one_at_a_time_in_order() -> None:
    seen: list[int] = []
    inside = threading.Semaphore(1)
    overlaps: list[int] = []

    def progress(done: int, total: int) -> None:
        if not inside.acquire(blocking=False):
            overlaps.append(done)
            return
        try:
            time.sleep(0.0005)  # as long as drawing a bar: long enough for others to arrive
            seen.append(done)
        finally:
            inside.release()

    meter = Meter(THREADS * STEPS, progress)
    start = threading.Barrier(THREADS)

    def worker() -> None:
        start.wait()
        for _ in range(STEPS):
            meter(1)

    threads = [threading.Thread(target=worker) for _ in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert overlaps == []
    assert seen == sorted(seen)
    assert seen[-1] == THREADS * STEPS == meter.done
