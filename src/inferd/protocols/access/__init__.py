"""Access to the data plane: API keys (:mod:`.keyfile`, :mod:`.keyring`), checked on REST
(:mod:`.http`) and gRPC (:mod:`.grpc`), and TLS from certificate files (:mod:`.tls`).

:class:`~inferd.protocols.access.frontdoor.FrontDoor` bundles what one listener needs; both
``inferd serve`` and ``inferd up``'s gateway build theirs from
:class:`~inferd.config.AuthSettings` and :class:`~inferd.config.TlsSettings`.
"""
