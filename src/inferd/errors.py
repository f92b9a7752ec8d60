"""The one exception tree of inferd.

Every error inferd raises on purpose derives from :class:`InferdError` and carries a
transport-neutral :class:`Code`. Transports (REST, gRPC, the CLI) map codes to their own status
values through a table; they never inspect exception classes. Messages are built from the
arguments, name the problem, and never contain stack traces, filesystem paths or secrets.

    InferdError
    ├── InvalidArgument        (INVALID_ARGUMENT)  bad input from a user or client
    │   ├── InvalidReference    a model reference that breaks the grammar
    │   ├── InvalidTensor       a tensor whose datatype, shape or data disagree
    │   └── UnsafeFormat        a file not admitted as data, pushed or pulled without trust
    ├── NotFound               (NOT_FOUND)         unknown model, version, tag or blob
    ├── AlreadyExists          (ALREADY_EXISTS)
    ├── PayloadTooLarge        (PAYLOAD_TOO_LARGE)  body or tensor beyond a configured limit
    ├── Unsupported            (UNSUPPORTED)        e.g. a media type inferd does not speak
    ├── Unavailable            (UNAVAILABLE)        not ready, draining, or queue full (retry later)
    ├── RateLimited            (RESOURCE_EXHAUSTED) a client beyond its requests/s (retry later)
    ├── DeadlineExceeded       (DEADLINE_EXCEEDED)
    ├── Cancelled              (CANCELLED)          the client went away
    ├── DataLoss               (DATA_LOSS)          stored data that is damaged
    │   └── IntegrityError      a blob whose bytes disagree with its digest
    ├── Unauthenticated        (UNAUTHENTICATED)
    ├── PermissionDenied       (PERMISSION_DENIED)
    └── InternalError          (INTERNAL)           a bug, or a model that raised (logged only)
"""

from __future__ import annotations

import enum
import sys
from collections.abc import Mapping
from typing import ClassVar


class Code(enum.Enum):
    """Transport-neutral error codes (named after gRPC's canonical codes)."""

    INVALID_ARGUMENT = "INVALID_ARGUMENT"
    NOT_FOUND = "NOT_FOUND"
    ALREADY_EXISTS = "ALREADY_EXISTS"
    PAYLOAD_TOO_LARGE = "PAYLOAD_TOO_LARGE"
    UNSUPPORTED = "UNSUPPORTED"
    UNAVAILABLE = "UNAVAILABLE"
    RESOURCE_EXHAUSTED = "RESOURCE_EXHAUSTED"
    DEADLINE_EXCEEDED = "DEADLINE_EXCEEDED"
    CANCELLED = "CANCELLED"
    DATA_LOSS = "DATA_LOSS"
    UNAUTHENTICATED = "UNAUTHENTICATED"
    PERMISSION_DENIED = "PERMISSION_DENIED"
    INTERNAL = "INTERNAL"


class InferdError(Exception):
    """Base class: a message safe to show a client, and a code."""

    code: ClassVar[Code] = Code.INTERNAL

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidArgument(InferdError):
    code = Code.INVALID_ARGUMENT


class ContextLengthExceeded(InvalidArgument):
    """A prompt, plus the tokens asked for, over a language model's context."""


class InvalidReference(InvalidArgument):
    """A model reference (name, tag or digest) that breaks the grammar."""

    def __init__(self, reference: str, reason: str) -> None:
        super().__init__(f"invalid reference {reference!r}: {reason}")
        self.reference = reference


class InvalidTensor(InvalidArgument):
    """A tensor whose datatype, shape or data disagree with each other or the signature."""

    def __init__(self, tensor: str, reason: str) -> None:
        super().__init__(f"tensor {tensor!r}: {reason}")
        self.tensor = tensor


class UnsafeFormat(InvalidArgument):
    """A file the store does not admit as data: it can run code when loaded, or may.

    ``reason`` completes "'<file>' is …"; ``remedy`` says how a user who trusts it gets it in.
    """

    def __init__(
        self,
        file: str,
        fmt: str,
        reason: str,
        remedy: str = "pass --trust-unsafe-format if you trust its author",
    ) -> None:
        super().__init__(f"{file!r} is {reason}; refusing it ({remedy})")
        self.file = file
        self.format = fmt


class NotFound(InferdError):
    code = Code.NOT_FOUND


class ModelNotFound(NotFound):
    def __init__(self, name: str, version: str | None = None) -> None:
        what = f"model {name!r}" if version is None else f"model {name!r} version {version!r}"
        super().__init__(f"{what} not found")
        self.name = name
        self.version = version


class AlreadyExists(InferdError):
    code = Code.ALREADY_EXISTS


class PayloadTooLarge(InferdError):
    code = Code.PAYLOAD_TOO_LARGE


class Unsupported(InferdError):
    code = Code.UNSUPPORTED


class RetryLater(InferdError):
    """A refusal that says when to ask again: ``retry_after`` seconds (HTTP ``Retry-After``,
    gRPC ``retry-after`` trailing metadata)."""

    def __init__(self, message: str, retry_after: float = 1.0) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class Unavailable(RetryLater):
    """Retry later: not ready, draining, or a full queue."""

    code = Code.UNAVAILABLE


class WorkerRestarting(Unavailable):
    """A model's worker process died in the call (``death`` says how: "crashed (SIGSEGV)"…)
    and a restart is scheduled. A load whose warm-up gets this fails the version instead: it
    closes the model, which cancels the restart."""

    def __init__(self, message: str, death: str, retry_after: float) -> None:
        super().__init__(message, retry_after=retry_after)
        self.death = death


class RateLimited(RetryLater):
    """A client past its allowed rate (an API key's requests/s)."""

    code = Code.RESOURCE_EXHAUSTED


class DeadlineExceeded(InferdError):
    code = Code.DEADLINE_EXCEEDED


class Cancelled(InferdError):
    code = Code.CANCELLED


class DataLoss(InferdError):
    """Stored data that is damaged: a file of the store that no longer reads as what was
    written (e.g. a store's ``index.json`` that is not JSON)."""

    code = Code.DATA_LOSS


class IntegrityError(DataLoss):
    """Bytes that disagree with the digest that names them."""

    def __init__(self, digest: str, actual: str, *, removed: bool = False) -> None:
        message = f"blob {digest} is corrupt: its content hashes to {actual}"
        if removed:
            message += "; it was removed from the store: pull or push the version again"
        super().__init__(message)
        self.digest = digest
        self.actual = actual


class Unauthenticated(InferdError):
    code = Code.UNAUTHENTICATED


class PermissionDenied(InferdError):
    code = Code.PERMISSION_DENIED


class InternalError(InferdError):
    code = Code.INTERNAL


class ModelRaised(Exception):
    """A model's own code raised, not with an inferd error (a trusted model in its sandbox
    worker): what a framework's exception is to a model run in the server (a 500 naming no
    detail; a warm-up on guessed strings it refuses is skipped), its type named and its traceback
    in the server's log. Not an :class:`InferdError`: nothing in it is the client's to read."""


def rebuilt(kind: str, attributes: Mapping[str, object]) -> InferdError:
    """An error that crossed a process boundary as its class name here and its attributes (the
    message among them), raised again as the same class without calling its constructor (whose
    arguments differ by class and are not all kept). An unknown name gives InferdError."""
    found = getattr(sys.modules[__name__], kind, None)
    cls = found if isinstance(found, type) and issubclass(found, InferdError) else InferdError
    exc = cls.__new__(cls)
    exc.message = str(attributes.get("message", ""))
    Exception.__init__(exc, exc.message)
    vars(exc).update(attributes)
    return exc
