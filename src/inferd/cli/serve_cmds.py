"""Server commands: ``inferd serve REF…``."""

from __future__ import annotations

import gc
import os
import re
from pathlib import Path
from typing import Any

import click

from inferd.cli._app import exit_status, handles_errors, main
from inferd.cli._sizes import parse_size
from inferd.config import LLAMA_CPP_MAX_SEQUENCES, MAX_MODEL_LEN, WAITING_SEQS, ServerSettings
from inferd.errors import InferdError, InvalidArgument
from inferd.reference import Reference
from inferd.settings_file import ENV_PREFIX, load_settings, unread_variables
from inferd.store import ModelStore
from inferd.store.layout import ensure_home

#: How a path starts that no model reference starts with.
_PATH_STARTS = ("./", "../", "/", "~/")
#: A TCP port, 0 picking a free one (as `inferd up --port` takes it).
_PORT = click.IntRange(0, 65535)
#: ``INFERD_*`` variables read elsewhere than the server's settings (the store, registries, the
#: engines ``inferd up`` starts, clients): not warned about as unread.
_OTHER_VARIABLES = tuple(
    ENV_PREFIX + name
    for name in ("HOME", "ALLOWED_REGISTRIES", "INSECURE_REGISTRIES", "REGISTRY_CA",
                 "MAX_BLOB_BYTES", "HISTORY_INTERVAL", "HISTORY_SPAN", "LLAMA_SERVER", "VLLM",
                 "KEY")
)  # fmt: skip
#: The flag of each setting a flag sets (dotted), which its errors name.
_FLAGS = {
    "memory_budget_bytes": "--memory-budget",
    "limits": "--max-body-bytes",  # limits' own check: the body cap against the read budget
    "tracing.endpoint": "--otlp-endpoint/OTEL_EXPORTER_OTLP_ENDPOINT",
    "auth.keys_file": "--keys-file",
    "tls.cert_file": "--tls-cert",
    "tls.key_file": "--tls-key",
}


@main.command()
@click.argument("references", nargs=-1)
@click.option("--host", help="Data-plane bind address (default 127.0.0.1).")
@click.option("--port", type=_PORT, help="Data-plane REST port (default 8080; 0 picks one).")
@click.option("--grpc-port", type=_PORT, help="gRPC port (default 8081).")
@click.option("--control-port", type=_PORT, help="Control-plane port, loopback (default 8082).")
@click.option("--control-grpc-port", type=_PORT, help="Control-plane gRPC port (default 8083).")
@click.option(
    "--no-control",
    is_flag=True,
    help="No control plane at all (no load/unload, no token file): models are fixed at start.",
)
@click.option(
    "--no-grpc",
    is_flag=True,
    help="No gRPC listeners, data or control plane (over --grpc-port and --control-grpc-port): "
    "REST only. gRPC is then never loaded (about 14 MB less memory and a faster start).",
)
@click.option(
    "--allow-empty",
    is_flag=True,
    help="Keep serving when no reference loads (or none is given), for later control-plane "
    "loads. Without it, a server with nothing to serve exits with the reason.",
)
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Processes sharing the port (SO_REUSEPORT).",
)
@click.option(
    "--drain-delay",
    type=click.FloatRange(min=0),
    metavar="SECONDS",
    help="After SIGTERM, keep serving new connections and requests this long with readiness "
    "already 503, so load balancers stop sending before the drain (default 0; a second signal "
    "ends it early). Then new connections get 503 + Retry-After while in-flight work drains.",
)
@click.option(
    "--max-batch-size",
    type=click.IntRange(1, 65536),
    help="Rows per batch (1 disables batching).",
)
@click.option(
    "--max-queue-delay-ms",
    type=click.FloatRange(min=0),
    help="Longest a request waits for a batch.",
)
@click.option(
    "--max-queue-size", type=click.IntRange(min=1), help="Queued requests beyond this get 503."
)
@click.option(
    "--max-queue-wait-ms",
    type=click.FloatRange(min=0),
    help="Longest a request waits for its batch to start: one that waits (or, by the recent "
    "batches' pace, would wait) longer gets 503 and never runs. 0 (default): no limit.",
)
@click.option(
    "--max-body-bytes", type=click.IntRange(min=1024), help="Largest request body accepted."
)
@click.option("--device", type=click.Choice(["cpu", "cuda", "auto"]), help="Where models run.")
@click.option(
    "--max-num-seqs",
    type=click.IntRange(min=1, max=LLAMA_CPP_MAX_SEQUENCES),
    help="Language models: sequences generated at once per version (llama.cpp slots; default 8).",
)
@click.option(
    "--max-waiting-seqs",
    type=click.IntRange(min=WAITING_SEQS[0], max=WAITING_SEQS[1]),
    help="Language models: generations waiting for a slot per version before more get 503 "
    f"(default {WAITING_SEQS[0]}, at least that: one request's n choices must all fit).",
)
@click.option(
    "--max-model-len",
    type=click.IntRange(min=16, max=MAX_MODEL_LEN),
    help="Language models: context per sequence, prompt plus generated tokens (default: the "
    "model's trained context, at most 4,096; more than it was trained for is refused).",
)
@click.option(
    "--memory-budget",
    metavar="SIZE",
    help="Host memory for loaded models, e.g. 8G or 512M. Each version is charged the resident "
    "memory its load added (an estimate); least recently used idle versions unload beyond it "
    "and load again on their next request. Per process: each of --workers N has its own.",
)
@click.option(
    "--trust-code",
    "trust_code",
    multiple=True,
    metavar="NAME[:TAG]",
    help="Let this model's own code run (python runtime), in an isolated worker; repeatable. "
    "Each trusted load is recorded in the store history.",
)
@click.option(
    "--keys-file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Require an API key from this file (inferd keys create --keys-file) on the data "
    "plane, REST and gRPC; health stays open. Keys created or revoked apply without a restart.",
)
@click.option(
    "--public-metrics",
    is_flag=True,
    help="With --keys-file: serve /metrics without a key (else it needs the read scope).",
)
@click.option(
    "--tls-cert",
    type=click.Path(dir_okay=False, path_type=Path),
    help="PEM certificate chain: serve the data plane (REST and gRPC) over TLS.",
)
@click.option(
    "--tls-key",
    type=click.Path(dir_okay=False, path_type=Path),
    help="PEM private key of --tls-cert. Both files are reloaded when they change.",
)
@click.option(
    "--otlp-endpoint",
    # OpenTelemetry's SDKs read the traces URL first; click takes the first variable set.
    envvar=["OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT"],
    metavar="URL",
    help="Export traces of v2 inference to this OTLP/HTTP collector (base URL, e.g. "
    "http://localhost:4318; spans go to URL/v1/traces, or to URL when it ends in /v1/traces). "
    "Needs inferd[tracing]. [env: OTEL_EXPORTER_OTLP_TRACES_ENDPOINT, else "
    "OTEL_EXPORTER_OTLP_ENDPOINT]",
)
@click.option(
    "--trace-sample-rate",
    type=click.FloatRange(0, 1),
    help="Share of requests without a traceparent that start a trace (default 1).",
)
@click.option(
    "--access-log",
    is_flag=True,
    help="Log one line per request (REST and gRPC) to stderr, logger inferd.access: time, "
    "client, method, path, protocol, status, bytes, milliseconds, trace id. [env: "
    "INFERD_ACCESS_LOG=text|json]",
)
@click.option(
    "--access-log-format",
    type=click.Choice(["text", "json"]),
    help="The access log's lines: text (default) or json, one object a line; implies --access-log.",
)
@click.option(
    "--config",
    "config_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="YAML settings file (flags > INFERD_* environment > this file).",
)
@handles_errors
def serve(
    references: tuple[str, ...],
    *,
    host: str | None,
    port: int | None,
    grpc_port: int | None,
    control_port: int | None,
    control_grpc_port: int | None,
    no_control: bool,
    no_grpc: bool,
    allow_empty: bool,
    workers: int,
    drain_delay: float | None,
    max_batch_size: int | None,
    max_queue_delay_ms: float | None,
    max_queue_size: int | None,
    max_queue_wait_ms: float | None,
    max_body_bytes: int | None,
    device: str | None,
    max_num_seqs: int | None,
    max_waiting_seqs: int | None,
    max_model_len: int | None,
    memory_budget: str | None,
    trust_code: tuple[str, ...],
    keys_file: Path | None,
    public_metrics: bool,
    tls_cert: Path | None,
    tls_key: Path | None,
    otlp_endpoint: str | None,
    trace_sample_rate: float | None,
    access_log: bool,
    access_log_format: str | None,
    config_file: Path | None,
) -> None:
    """Serve model versions from the store over the Open Inference Protocol (REST and gRPC).

    The first reference given for a name is its default version, e.g.
    ``inferd serve fraud:v1``. SIGTERM or Ctrl-C turns readiness off, serves on for
    --drain-delay, drains in-flight requests (new connections get 503), then exits. When no
    reference loads, it exits with the first failure's status and reason, unless --allow-empty.

    Remote references (``host/name:tag``) are pulled from their registries; control-plane loads
    may fetch only from those and from INFERD_ALLOWED_REGISTRIES (comma-separated).
    """
    overrides: dict[str, Any] = {
        "host": host,
        "port": port,
        "grpc_port": grpc_port,
        "control_port": control_port,
        "control_grpc_port": control_grpc_port,
        "device": device,
        "memory_budget_bytes": parse_size(memory_budget) if memory_budget else None,
        "trust_code": trust_code or None,
        "allow_empty": allow_empty or None,
        "drain_delay_s": drain_delay,
        "batching": _present(
            max_batch_size=max_batch_size,
            max_queue_delay_ms=max_queue_delay_ms,
            max_queue_size=max_queue_size,
            max_queue_wait_ms=max_queue_wait_ms,
        ),
        "limits": _present(max_body_bytes=max_body_bytes),
        "llm": _present(
            max_num_seqs=max_num_seqs,
            max_waiting_seqs=max_waiting_seqs,
            max_model_len=max_model_len,
        ),
        "auth": _present(keys_file=keys_file, public_metrics=public_metrics or None),
        "tls": _tls(tls_cert, tls_key),
        "tracing": _present(endpoint=otlp_endpoint),
        "access_log": access_log_format,
        # INFERD_HOME names the store for every command, so it is read like theirs (empty, as
        # a script's unset variable gives: the default home, not the working directory).
        "store": _present(home=os.environ.get(f"{ENV_PREFIX}HOME") or None),
    }
    settings = load_settings(ServerSettings, file=config_file, overrides=overrides, flags=_FLAGS)
    settings = _traced(settings, trace_sample_rate)
    if access_log and settings.access_log is None:  # a format set elsewhere is kept
        settings = settings.model_copy(update={"access_log": "text"})
    for warning in unread_variables(ServerSettings, os.environ, _OTHER_VARIABLES):
        click.echo(f"warning: {warning}", err=True)
    if settings.auth.public_metrics and settings.auth.keys_file is None:
        given = "--public-metrics" if public_metrics else "auth.public_metrics"
        raise InvalidArgument(
            f"{given} goes with --keys-file (or auth.keys_file): without keys, "
            "/metrics and every other route are open already"
        )
    if not references and not settings.allow_empty:
        raise InvalidArgument(
            "give at least one model reference, or --allow-empty to start with none"
        )
    ensure_home(settings.store.root)
    store = ModelStore(settings.store.root)
    for reference in references:
        mistake = path_given(reference, store)
        if mistake is not None:
            raise InvalidArgument(mistake)
    if no_control:
        settings = settings.model_copy(update={"control_port": None})
    if no_grpc:
        settings = settings.model_copy(update={"grpc_port": None, "control_grpc_port": None})
    # Until Server.start has frozen them, start-up allocates what lives as long as the process
    # (modules, settings, routes): collector passes over it find nothing to free and cost ~30 ms
    # of the start. Server.start collects once, freezes, and turns the collector back on; the
    # finally does it when run() returns or fails before that.
    gc.disable()
    try:
        from inferd.server import configure_logging, run

        configure_logging()
        status = run(settings, list(references), workers, exit_status)
    finally:
        gc.enable()
    raise SystemExit(status)


def _tls(cert: Path | None, key: Path | None) -> dict[str, Path] | None:
    if (cert is None) != (key is None):
        raise InvalidArgument("--tls-cert and --tls-key go together: give both or neither")
    return {"cert_file": cert, "key_file": key} if cert and key else None


def _traced(settings: ServerSettings, sample_rate: float | None) -> ServerSettings:
    """``settings`` with ``--trace-sample-rate`` over the tracing a flag, the environment or
    the settings file switched on, and ``inferd-serve`` as its service name unless one is set."""
    tracing = settings.tracing
    if tracing is None:
        if sample_rate is not None:
            raise InvalidArgument(
                "--trace-sample-rate needs --otlp-endpoint (or its variable, or tracing.endpoint "
                "in the settings)"
            )
        return settings
    update: dict[str, Any] = {} if sample_rate is None else {"sample_rate": sample_rate}
    if "service_name" not in tracing.model_fields_set:
        update["service_name"] = "inferd-serve"
    return settings.model_copy(update={"tracing": tracing.model_copy(update=update)})


def _present(**values: Any) -> dict[str, Any] | None:
    """Only the flags given, so unset ones leave lower-priority sources alone."""
    given = {k: v for k, v in values.items() if v is not None}
    return given or None


def path_given(reference: str, store: ModelStore) -> str | None:
    """What is wrong when ``reference`` names a file or directory that exists, as a user who
    expects ``inferd serve ./model`` to serve files gives it (the reference's own error, "'.'
    is not a valid registry host" or "version 'latest' not found", does not say so); None when
    it names none, or names a version in the local store as well. A reference written as a
    path (``./``, ``../``, ``/`` or ``~/`` first) that names nothing is one too."""
    path = Path(reference)
    if not path.exists():
        if not reference.startswith(_PATH_STARTS):
            return None
        return (
            f"{reference!r} is a path (to nothing here), not a model reference: inferd serve "
            "takes a version from the store. Push the model first: inferd push PATH NAME:TAG, "
            "then inferd serve NAME:TAG"
        )
    try:
        if Reference.parse(reference).registry is not None:
            return None  # a remote reference: pulled, never read from the working directory
        store.resolve(reference)
        return None
    except InferdError:
        pass
    base = path.stem if path.is_file() else path.resolve().name
    name = re.sub(r"[^a-z0-9]+", "-", base.lower()).strip("-") or "model"
    kind = "a directory" if path.is_dir() else "a file"
    return (
        f"{reference!r} is {kind}, not a model reference: inferd serve takes a version from the "
        f"store. Push it first: inferd push {reference} {name}:v1, then inferd serve {name}:v1"
    )
