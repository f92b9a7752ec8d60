"""The log of ``inferd serve`` and ``inferd up``."""

from __future__ import annotations

import logging

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
#: HTTP clients that log every request they send at INFO (httpx) or below (httpcore): at INFO
#: they would bury inferd's own events under ``inferd up``'s replica health probes (one a
#: second per replica, forever) and each request of a registry pull.
QUIET_LOGGERS = ("httpx", "httpcore")


def configure_logging() -> None:
    """The log of ``inferd serve`` and ``inferd up``: INFO and up to stderr in
    :data:`LOG_FORMAT`, but only WARNING and up from :data:`QUIET_LOGGERS`."""
    logging.basicConfig(level=logging.INFO, format=LOG_FORMAT)
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
