"""``inferd up``'s gateway behind API keys and TLS: the spec's ``gateway.auth`` and
``gateway.tls`` turned into a :class:`~inferd.protocols.access.frontdoor.FrontDoor`, and that
door put on both ports.

What a Triton or KServe user expects, and never silently open once keys are configured:

* no ``auth.keys_file`` and no ``$INFERD_HOME/keys.json``: the gateway is open (as Triton and
  KServe are without a mesh in front), and its banner says so;
* ``auth.keys_file`` named: it must exist at start (else inferd up refuses to start), and every
  request but health needs a key from it;
* not named: ``$INFERD_HOME/keys.json`` (where ``inferd keys create`` writes) is watched; once it
  exists, keys are required, from the next request on, without a restart;
* once required, never open again while inferd up runs (a removed file leaves no valid key).

Relative paths are relative to the spec file's directory. Replicas stay plain HTTP on loopback
behind the gateway; ``--demo-traffic`` sends without a key or TLS, so it is refused with either.
"""

from __future__ import annotations

from pathlib import Path

from inferd.config import AuthSettings, TlsSettings
from inferd.control.gateway.grpc_gateway import GrpcGateway
from inferd.errors import InvalidArgument
from inferd.protocols.access.frontdoor import FrontDoor
from inferd.protocols.access.keyfile import default_keys_file


def gateway_front_door(
    auth: AuthSettings,
    tls: TlsSettings | None,
    *,
    home: Path,
    spec_dir: Path,
    demo_traffic: bool = False,
) -> FrontDoor:
    """The door of ``inferd up``'s gateway (see the module docstring); problems raise
    InvalidArgument before anything listens."""
    if auth.keys_file is not None:
        auth = auth.model_copy(update={"keys_file": spec_dir / auth.keys_file.expanduser()})
    if tls is not None:
        tls = TlsSettings(
            cert_file=spec_dir / tls.cert_file.expanduser(),
            key_file=spec_dir / tls.key_file.expanduser(),
        )
    try:
        door = FrontDoor.from_settings(auth, tls, default_keys=default_keys_file(home))
    except InvalidArgument as exc:  # name the setting: the file's name alone may not say it
        if exc.message.startswith("TLS"):  # CertificateFiles' problems all say so
            setting = "gateway.tls"
        elif auth.keys_file is not None:
            setting = "gateway.auth.keys_file"
        else:
            raise
        raise InvalidArgument(
            f"{setting}: {exc.message} (relative paths are relative to the spec file's directory)"
        ) from None
    if demo_traffic and (door.certificates is not None or (door.keys and door.keys.enforcing)):
        raise InvalidArgument(
            "--demo-traffic sends requests without an API key or TLS trust; leave it out when "
            "the gateway requires keys or serves TLS"
        )
    return door


def secure_grpc(front: GrpcGateway, door: FrontDoor) -> None:
    """Put ``door`` on the gateway's gRPC port (before it starts)."""
    front.credentials = door.grpc_credentials()
    if door.keys is not None:
        front.check = door.check_grpc_call
