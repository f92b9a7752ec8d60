"""TLS from a certificate file and a key file, reloaded when they change, without dropping a
connection.

A listener is given one SSL context (:meth:`CertificateFiles.server_context`) for its whole
life. That context's SNI callback runs at the start of every handshake; when the files have
changed since it last looked (at most every ``check_interval_s``), it builds a **fresh**
context from them (``load_cert_chain`` on a new ``SSLContext``, which refuses a key that does
not match its certificate) and from then on hands each new handshake to the newest good
context. Connections already open keep the session they negotiated: nothing about them
changes. Files that do not load (half-written, mismatched) leave the last good certificate in
use; the failure is logged once per version of the files, and they are looked at again until
they load.

gRPC does the same through its own hook (:meth:`CertificateFiles.grpc_credentials`): grpc
calls the fetcher before each new handshake, and it answers with the new pair when the files
changed and load.
"""

from __future__ import annotations

import logging
import os
import ssl
import stat
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from inferd.errors import InvalidArgument

if TYPE_CHECKING:
    import grpc

log = logging.getLogger(__name__)

#: How often, at most, the certificate files are looked at (on handshakes only).
CHECK_INTERVAL_S = 1.0

_Identity = tuple[tuple[int, int, int], tuple[int, int, int]]


def server_context(cert_file: Path, key_file: Path) -> ssl.SSLContext:
    """A server-side context for HTTP/1.1 over TLS 1.2 or later from the PEM files; raises
    InvalidArgument naming the problem (never the key's bytes)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    # ssl's own errors do not say which file (its FileNotFoundError has no filename): each file
    # is opened here first, so a missing or unreadable one is named.
    for role, file in (("certificate", cert_file), ("key", key_file)):
        try:
            with Path(file).open("rb"):
                pass
        except FileNotFoundError:
            raise InvalidArgument(f"TLS: the {role} file {str(file)!r} does not exist") from None
        except OSError as exc:
            raise InvalidArgument(
                f"TLS: cannot read the {role} file {str(file)!r}: {exc.strerror}"
            ) from None
    try:
        # Never OpenSSL's passphrase prompt: it waits on the terminal (at start, or on the
        # event loop when a rotated key is encrypted) and fails obscurely without one.
        context.load_cert_chain(cert_file, key_file, password=_no_passphrase)
    except _Encrypted:
        raise InvalidArgument(
            f"TLS: the key file {str(key_file)!r} is encrypted with a passphrase; inferd reads "
            f"unencrypted PEM keys (decrypt it: openssl pkey -in {key_file} -out PLAIN.key)"
        ) from None
    except ssl.SSLError as exc:
        raise InvalidArgument(f"TLS: {_unusable(cert_file, key_file, exc)}") from None
    except OSError as exc:
        raise InvalidArgument(f"TLS: cannot read {cert_file} or {key_file}: {exc}") from None
    context.set_alpn_protocols(["http/1.1"])
    return context


def warn_if_exposed(key_file: Path) -> None:
    """Log a warning when other local users may read the private key in ``key_file`` (any of
    them could impersonate the server); a read-only filesystem (a Kubernetes secret, 0644 by
    default) is the platform's to guard."""
    try:
        if os.statvfs(key_file).f_flag & os.ST_RDONLY:
            return
        mode = stat.S_IMODE(key_file.stat().st_mode)
    except OSError:
        return
    if mode & 0o044:
        log.warning(
            "TLS: the key file %s is readable by group or others (mode %04o): any local user "
            "may read the private key and impersonate this server; run `chmod 600 %s`",
            key_file,
            mode,
            key_file,
        )


class _Encrypted(Exception):
    """Raised in place of a passphrase."""


def _no_passphrase() -> str:
    raise _Encrypted


def _unusable(cert_file: Path, key_file: Path, exc: ssl.SSLError) -> str:
    """Which of the two files ``load_cert_chain`` refused, and why (its own message is
    ``PEM lib`` for either file)."""
    if exc.reason == "KEY_VALUES_MISMATCH":
        return f"the key file {str(key_file)!r} does not match the certificate in {cert_file}"
    try:
        ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT).load_verify_locations(cafile=cert_file)
    except (ssl.SSLError, ValueError):
        return f"the certificate file {str(cert_file)!r} holds no PEM certificate"
    if exc.reason is None:  # "PEM lib": no PEM block of the kind wanted
        return f"the key file {str(key_file)!r} holds no PEM private key"
    return f"cannot use certificate {cert_file} with key {key_file}: {exc.reason}"


class _Watch:
    """Whether the two files changed since the last good load, looked at most every interval."""

    def __init__(self, files: CertificateFiles, identity: _Identity | None) -> None:
        self._files = files
        self._loaded = identity
        self._logged: _Identity | None = None
        self._next_look = 0.0

    def changed(self) -> _Identity | None:
        """The files' new identity when it is time to look and they differ from the last
        good load, else None."""
        now = self._files.clock()
        if now < self._next_look:
            return None
        self._next_look = now + self._files.check_interval_s
        identity = self._files.identity()
        return identity if identity is not None and identity != self._loaded else None

    def loaded(self, identity: _Identity) -> None:
        self._loaded = identity
        log.info("TLS: certificate %s reloaded", self._files.cert_file)
        warn_if_exposed(self._files.key_file)

    def failed(self, identity: _Identity, problem: str) -> None:
        if identity != self._logged:
            self._logged = identity
            log.error("%s; the certificate loaded before stays in use", problem)


class CertificateFiles:
    """A certificate and its key on disk (see the module docstring). The files are loaded at
    once: a problem raises InvalidArgument here, at start."""

    def __init__(
        self,
        cert_file: Path,
        key_file: Path,
        *,
        clock: Callable[[], float] = time.monotonic,
        check_interval_s: float = CHECK_INTERVAL_S,
    ) -> None:
        self.cert_file = cert_file
        self.key_file = key_file
        self.clock = clock
        self.check_interval_s = check_interval_s
        identity = self.identity()
        self._listening = server_context(cert_file, key_file)
        warn_if_exposed(key_file)
        self._current = self._listening
        self._listening.sni_callback = self._handshake
        self._http = _Watch(self, identity)
        self._grpc_lock = threading.Lock()

    def identity(self) -> _Identity | None:
        """(inode, size, mtime) of both files; None while either is missing."""
        try:
            cert, key = self.cert_file.stat(), self.key_file.stat()
        except OSError:
            return None
        return (
            (cert.st_ino, cert.st_size, cert.st_mtime_ns),
            (key.st_ino, key.st_size, key.st_mtime_ns),
        )

    def server_context(self) -> ssl.SSLContext:
        """The context to listen with; every handshake gets the newest certificate."""
        return self._listening

    def _handshake(
        self, connection: ssl.SSLObject | ssl.SSLSocket, server_name: str | None, _: object
    ) -> None:
        identity = self._http.changed()
        if identity is not None:
            try:
                self._current = server_context(self.cert_file, self.key_file)
                self._http.loaded(identity)
            except InvalidArgument as exc:
                self._http.failed(identity, exc.message)
        if self._current is not self._listening:
            connection.context = self._current

    def grpc_credentials(self) -> grpc.ServerCredentials:
        """Credentials for a gRPC port that pick up changed files before each handshake."""
        import grpc  # deferred: grpc loads only in a process that binds a gRPC port (issue 18)

        cert, key = self._pair()
        watch = _Watch(self, self.identity())

        def fetch() -> grpc.ServerCertificateConfiguration | None:
            # grpc calls this from its own threads.
            with self._grpc_lock:
                identity = watch.changed()
                if identity is None:
                    return None
                try:
                    server_context(self.cert_file, self.key_file)  # the pair must match
                    new_cert, new_key = self._pair()
                except InvalidArgument as exc:
                    watch.failed(identity, exc.message)
                    return None
                if self.identity() != identity:  # changed while being read: look again
                    return None
                watch.loaded(identity)
                return grpc.ssl_server_certificate_configuration([(new_key, new_cert)])

        return grpc.dynamic_ssl_server_credentials(
            grpc.ssl_server_certificate_configuration([(key, cert)]), fetch
        )

    def _pair(self) -> tuple[bytes, bytes]:
        try:
            return self.cert_file.read_bytes(), self.key_file.read_bytes()
        except OSError as exc:
            raise InvalidArgument(f"TLS: cannot read {exc.filename}: {exc.strerror}") from None
