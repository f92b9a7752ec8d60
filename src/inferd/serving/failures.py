"""What the server's log says when a model fails a batch with an error that is not the
client's: one line when the cause is already told, a traceback when it is not.

A sandboxed model's own code that raised (:class:`~inferd.errors.ModelRaised`) has had
its traceback printed by its worker, the model's frames and not inferd's, and an
:class:`~inferd.errors.InternalError` (outputs that are no arrays, or not the signature's) names
its problem: for those the log gets one line naming the version, the batch and the error, and
the traceback through inferd's own frames goes to debug. Any other exception was raised by code
running in the server (a runtime, a framework): its traceback is where the cause is.
"""

from __future__ import annotations

import logging

from inferd.errors import InternalError, ModelRaised

log = logging.getLogger("inferd.serving.batcher")


def log_batch_failure(label: str, rows: int, error: BaseException) -> None:
    """Log that ``label`` failed on a batch of ``rows`` rows with ``error`` (see the module)."""
    if isinstance(error, ModelRaised | InternalError):
        log.error("%s failed on a batch of %d rows: %s", label, rows, error)
        log.debug("%s: where the batch failed", label, exc_info=error)
    else:
        log.error("%s failed on a batch of %d rows", label, rows, exc_info=error)
