"""Payload logging: what clients asked and models answered, kept in a sink for audit and drift
analysis (a deployment's ``logging:``; docs/gateway.md#payload-logging).

:class:`PayloadLog` (:mod:`.log`) follows the topology and takes each exchange off the request
path into a bounded queue per deployment (:mod:`.writer`), drained into a rotated JSONL file or
an HTTP endpoint receiving KServe-compatible CloudEvents (:mod:`.sinks`, :mod:`.events`).
"""

from inferd.control.gateway.payloads.log import PayloadLog

__all__ = ["PayloadLog"]
