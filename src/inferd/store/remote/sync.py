"""Moving one model version between the local OCI layout and a registry repository.

Blobs move in parallel (a pool of ``parallelism`` threads, :func:`~.cancel.run_all`: a failed
blob or a Ctrl-C stops the others promptly); the manifest moves last, so

- a push makes the tag visible in the registry only after every blob it names is there;
- a pull writes the manifest into the local store only after every blob it names was verified
  and renamed into place, so a local manifest always has its files;
- and only after every file passed admission or was trusted by this store's own users
  (:func:`inferd.store.trust.check_layers`): a refused version leaves no manifest behind,
  whatever its card claims.

A pull that fails (a blob that cannot be fetched or verified, a refused file, Ctrl-C) removes
the blobs it stored, so it leaves nothing new in the store; blobs that were there before stay,
as does any that a version recorded meanwhile references (checked under the store lock).
"""

from __future__ import annotations

from collections.abc import Mapping

from inferd.store import gc, media
from inferd.store.layout import OciLayout
from inferd.store.manifest import MAX_DOCUMENT_BYTES, Descriptor, Manifest
from inferd.store.progress import Meter, Progress
from inferd.store.remote.cancel import Cancellation, run_all
from inferd.store.remote.client import RegistryClient
from inferd.store.remote.downloads import check_room, download_blob
from inferd.store.remote.uploads import Outcome, upload_blob
from inferd.store.results import Transfer
from inferd.store.trust import check_layers


def _blobs(manifest: Manifest) -> list[Descriptor]:
    return [manifest.config, *(item.descriptor for item in manifest.layers)]


def push_version(
    layout: OciLayout,
    client: RegistryClient,
    repo: str,
    tag: str,
    digest: str,
    *,
    mounts: Mapping[str, str] | None = None,
    progress: Progress | None = None,
) -> Transfer:
    """Upload the local version ``digest`` to ``repo`` and tag it ``tag``.

    ``mounts`` maps a blob digest to another repository of the same registry known to hold it.
    """
    data = layout.blobs.read_bytes(digest, limit=MAX_DOCUMENT_BYTES)
    manifest = Manifest.parse(data, digest)
    blobs = _blobs(manifest)
    meter = Meter(sum(d.size for d in blobs), progress)
    known = mounts or {}
    parallelism = client.http.settings.parallelism

    def one(descriptor: Descriptor, cancellation: Cancellation) -> Outcome:
        return upload_blob(
            client.http,
            repo,
            descriptor,
            layout.blobs.path(descriptor.digest),
            cancellation=cancellation,
            mount_from=known.get(descriptor.digest),
            progress=meter,
        )

    outcomes = run_all(one, blobs, parallelism=parallelism, name="inferd-push")
    client.put_manifest(repo, tag, data, media.MANIFEST)
    return Transfer(
        digest=digest,
        blobs=len(blobs),
        transferred=outcomes.count(Outcome.UPLOADED),
        skipped=outcomes.count(Outcome.EXISTED),
        mounted=outcomes.count(Outcome.MOUNTED),
        bytes_transferred=meter.done,
    )


def pull_version(
    layout: OciLayout,
    client: RegistryClient,
    repo: str,
    reference: str,
    *,
    progress: Progress | None = None,
) -> Transfer:
    """Download version ``reference`` (a tag or digest) of ``repo`` into the local blobs."""
    remote = client.get_manifest(repo, reference)
    manifest = Manifest.parse(remote.data, remote.digest)
    blobs = _blobs(manifest)
    missing = [d for d in blobs if not layout.blobs.exists(d.digest)]
    # Unreferenced until recorded: kept from gc's grace period while the pull runs.
    renewal = gc.Renewal(layout.blobs, {d.digest for d in blobs}, renewed=0.0)
    meter = Meter(sum(d.size for d in missing), renewal.around(progress))
    layout.init()
    check_room(client.http.settings, layout.blobs.directory, missing)  # all of them, up front
    parallelism = client.http.settings.parallelism

    stored: list[str] = []  # appended from the pool's threads (list.append is atomic)

    def one(descriptor: Descriptor, cancellation: Cancellation) -> int:
        received = download_blob(
            client.http, repo, descriptor, layout.blobs, cancellation=cancellation, progress=meter
        )
        if received is None:
            return 0
        stored.append(descriptor.digest)
        return received

    try:
        received = sum(run_all(one, missing, parallelism=parallelism, name="inferd-pull"))
        check_layers(layout, manifest)
    except BaseException:
        gc.discard(layout, stored)
        raise
    layout.blobs.write_bytes(remote.data)
    return Transfer(
        digest=remote.digest,
        blobs=len(blobs),
        transferred=len(missing),
        skipped=len(blobs) - len(missing),
        bytes_transferred=received,
    )
