"""What one data-plane listener needs for access: keys, whether metrics are public, TLS."""

from __future__ import annotations

import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from inferd.config import AuthSettings, TlsSettings
from inferd.protocols.access.hosts import binds_loopback, both, rebinding_screen
from inferd.protocols.access.tls import CertificateFiles

if TYPE_CHECKING:
    import grpc

    from inferd.protocols.access.keyring import KeyRing
    from inferd.protocols.http import Router
    from inferd.protocols.http.refusal import Screen


@dataclass(frozen=True, slots=True)
class FrontDoor:
    """API keys (None: none required) and TLS (None: plain) of a data plane. The default is an
    open, plain door: what a replica behind ``inferd up``'s gateway gets."""

    keys: KeyRing | None = None
    public_metrics: bool = False
    certificates: CertificateFiles | None = None

    @classmethod
    def from_settings(
        cls, auth: AuthSettings, tls: TlsSettings | None, *, default_keys: Path | None = None
    ) -> FrontDoor:
        """Keys from ``auth.keys_file`` (which must exist), else from ``default_keys`` once it
        exists, else none; certificates from ``tls``. Problems raise InvalidArgument."""
        keys = None
        if auth.keys_file is not None or default_keys is not None:
            # Deferred: the key file's parser and hashing load only where keys may be used.
            from inferd.protocols.access.keyring import KeyRing

            if auth.keys_file is not None:
                keys = KeyRing(auth.keys_file.expanduser(), required=True)
            elif default_keys is not None:
                keys = KeyRing(default_keys, required=False)
        certificates = (
            CertificateFiles(tls.cert_file.expanduser(), tls.key_file.expanduser())
            if tls is not None
            else None
        )
        return cls(keys, auth.public_metrics, certificates)

    @property
    def requires_keys(self) -> bool:
        """Whether a request needs a key now."""
        return self.keys is not None and self.keys.enforcing

    @property
    def scheme(self) -> str:
        return "https" if self.certificates is not None else "http"

    def describe(self) -> str:
        """One line for the operator: what a client needs to get in."""
        tls = "TLS" if self.certificates is not None else "plain HTTP"
        if self.keys is None:
            return f"{tls}, no API keys (anyone who can connect may call every endpoint)"
        state = "required" if self.keys.enforcing else "required once it exists"
        metrics = "public" if self.public_metrics else "need the read scope"
        return f"{tls}, API keys from {self.keys.path} {state}; metrics {metrics}"

    def router(self, router: Router) -> Router:
        """``router`` behind the keys (unchanged without keys)."""
        if self.keys is None:
            return router
        from inferd.protocols.access.http import protect  # deferred with KeyRing (from_settings)

        return protect(router, self.keys, public_metrics=self.public_metrics)

    def screen(self, router: Router, *, bind_host: str | None = None) -> Screen | None:
        """The check of a request's head before its body is read, for the listener serving
        ``router`` on ``bind_host``: a foreign ``Host`` while no key is required, the listener
        being on loopback (:mod:`~inferd.protocols.access.hosts`), then a request naming no key
        (:func:`~inferd.protocols.access.http.keyless_screen`). None: nothing to check."""
        keyless = None
        if self.keys is not None:
            from inferd.protocols.access.http import keyless_screen  # deferred: see router

            keyless = keyless_screen(router, self.keys, public_metrics=self.public_metrics)
        if bind_host is None or not binds_loopback(bind_host):
            return keyless
        return both(rebinding_screen(lambda: self.requires_keys), keyless)

    def ssl_context(self) -> ssl.SSLContext | None:
        return self.certificates.server_context() if self.certificates is not None else None

    def grpc_credentials(self) -> grpc.ServerCredentials | None:
        return self.certificates.grpc_credentials() if self.certificates is not None else None

    def grpc_handlers(
        self, handlers: dict[str, grpc.RpcMethodHandler]
    ) -> dict[str, grpc.RpcMethodHandler]:
        """A servicer's unary handlers, each checking the call's key first."""
        # Deferred: grpc loads only in a process that binds a gRPC port (issue 18).
        from inferd.protocols.access.grpc import guard_handlers

        return handlers if self.keys is None else guard_handlers(handlers, self.keys)

    async def check_grpc_call(
        self, metadata: Mapping[str, str], deployment: str, method: str
    ) -> None:
        """The per-call check of a gRPC servicer that routes by itself (the gateway's proxy):
        ``metadata`` the call's text metadata, ``deployment`` the name it gives (``""``: none),
        ``method`` the bare name (``ModelInfer``). Raises the :mod:`inferd.errors` error to
        answer with."""
        if self.keys is not None:
            from inferd.protocols.access.grpc import authorize_call  # deferred: see grpc_handlers

            await authorize_call(self.keys, metadata.get("authorization"), method, deployment)
