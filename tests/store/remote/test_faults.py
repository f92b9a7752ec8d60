"""Faults between inferd and a real registry: dropped connections, wrong bytes, 5xx answers.

Whatever happens, the local store never shows a blob whose bytes do not match its digest, and
a failed pull leaves no manifest, cache record or temporary file behind.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from inferd.errors import IntegrityError, Unavailable
from inferd.packaging import push
from inferd.store import ModelStore
from inferd.store.remote import RegistrySettings

from ..conftest import make_model_dir, raw_npy
from .conftest import Stores
from .proxy import Faults, fault_proxy
from .registry import Registry

WEIGHTS = raw_npy(b"".join(hashlib.sha256(i.to_bytes(4, "big")).digest() for i in range(60_000)))


@pytest.fixture
def pushed(store: ModelStore, repo: str, tmp_path: Path) -> tuple[str, str]:
    """A model in the open registry: ``(repository path without host, weights digest)``."""
    push(store, make_model_dir(tmp_path / "big", weights=WEIGHTS), f"{repo}:v1")
    return repo.split("/", 1)[1], f"sha256:{hashlib.sha256(WEIGHTS).hexdigest()}"


def _clean(store: ModelStore, digest: str, before: frozenset[str] = frozenset()) -> None:
    """Nothing half-written is visible: no blob for ``digest``, no temp files, no records, and
    no blob the failed pull or push stored (the store held ``before``)."""
    assert not store.layout.blobs.exists(digest)
    assert list(store.layout.blobs.temp_files()) == []
    assert list(store.layout.read_index().cached()) == []
    assert set(store.layout.blobs.digests()) == before


@pytest.mark.parametrize("ignore_range", [False, True], ids=["range", "range-ignored"])
def test_a_pull_cut_mid_blob_resumes_and_verifies(
    open_registry: Registry, settings: RegistrySettings, pushed: tuple[str, str],
    tmp_path: Path, remote_store: Stores, ignore_range: bool,
) -> None:  # fmt: skip
    name, weights = pushed
    faults = Faults(target=weights, drops=2, ignore_range=ignore_range)
    with fault_proxy(open_registry.host, faults) as proxy:
        store = remote_store(tmp_path / "home", settings.with_insecure([proxy]))
        model = store.materialize(f"{proxy}/{name}:v1")
    assert (model.path / "model.bin").read_bytes() == WEIGHTS
    ranges = [r for method, path, r in faults.seen if weights in path and method == "GET"]
    assert len(ranges) == 3
    assert ranges[0] == ""
    assert ranges[1].startswith("bytes=") and ranges[1] != "bytes=0-"


def test_a_pull_that_keeps_dropping_fails_cleanly(
    open_registry: Registry, settings: RegistrySettings, pushed: tuple[str, str],
    tmp_path: Path, remote_store: Stores,
) -> None:  # fmt: skip
    name, weights = pushed
    faults = Faults(target=weights, drops=-1)
    with fault_proxy(open_registry.host, faults) as proxy:
        store = remote_store(tmp_path / "home", settings.with_insecure([proxy]))
        with pytest.raises(Unavailable, match=f"registry {proxy} kept dropping") as info:
            store.fetch(f"{proxy}/{name}:v1")
    assert f"the download of {weights}: " in info.value.message  # then why, in words
    assert "Error)" not in info.value.message  # not httpx's class name
    _clean(store, weights)
    assert not (store.models.exists() and any(store.models.iterdir()))


def test_a_failed_pull_keeps_only_the_blobs_that_were_there(
    open_registry: Registry, settings: RegistrySettings, pushed: tuple[str, str],
    tmp_path: Path, remote_store: Stores,
) -> None:  # fmt: skip
    """The store already holds a version sharing the model's files but its weights: they
    stay; the card this pull stored before the weights' connection kept dropping goes."""
    name, weights = pushed
    with fault_proxy(open_registry.host, Faults(target=weights, drops=-1)) as proxy:
        store = remote_store(tmp_path / "home", settings.with_insecure([proxy]))
        push(store, make_model_dir(tmp_path / "mine"), "mine:v1")
        before = frozenset(store.layout.blobs.digests())
        with pytest.raises(Unavailable, match="kept dropping"):
            store.fetch(f"{proxy}/{name}:v1")
    _clean(store, weights, before)
    assert store.pull("mine:v1", tmp_path / "out").is_dir()


def test_wrong_bytes_for_a_digest_are_refused_and_never_stored(
    open_registry: Registry, settings: RegistrySettings, pushed: tuple[str, str],
    tmp_path: Path, remote_store: Stores,
) -> None:  # fmt: skip
    name, weights = pushed
    with fault_proxy(open_registry.host, Faults(target=weights, corrupt=True)) as proxy:
        store = remote_store(tmp_path / "home", settings.with_insecure([proxy]))
        with pytest.raises(IntegrityError, match=f"blob {weights} is corrupt"):
            store.pull(f"{proxy}/{name}:v1", tmp_path / "out")
    _clean(store, weights)
    assert not (tmp_path / "out" / "model.bin").exists()


def test_a_stored_blob_damaged_on_disk_is_fetched_again_by_the_next_pull(
    open_registry: Registry, settings: RegistrySettings, pushed: tuple[str, str],
    tmp_path: Path, remote_store: Stores,
) -> None:  # fmt: skip
    """A blob already stored is never downloaded again, so a damaged copy failed every later
    pull for good (exit 5, no way out). Found damaged, it is removed: the next pull fetches it."""
    name, weights = pushed
    ref = f"{open_registry.host}/{name}:v1"
    store = remote_store(tmp_path / "home", settings)
    store.pull(ref, tmp_path / "first")
    path = store.layout.blobs.path(weights)
    os.chmod(path, 0o644)
    with path.open("r+b") as handle:
        handle.seek(100_000)  # past the .npy header, which admission reads first
        handle.write(b"\xff")
    with pytest.raises(IntegrityError, match="removed from the store: pull or push the version"):
        store.pull(ref, tmp_path / "second")
    assert store.pull(ref, tmp_path / "third").is_dir()
    assert (tmp_path / "third" / "model.bin").read_bytes() == WEIGHTS


def test_a_manifest_that_does_not_match_its_digest_is_refused(
    open_registry: Registry, settings: RegistrySettings, store: ModelStore, repo: str,
    model: Path, tmp_path: Path, remote_store: Stores,
) -> None:  # fmt: skip
    digest = push(store, model, f"{repo}:v1").digest
    name = repo.split("/", 1)[1]
    with fault_proxy(open_registry.host, Faults(target=digest, corrupt=True)) as proxy:
        other = remote_store(tmp_path / "home", settings.with_insecure([proxy]))
        with pytest.raises(IntegrityError, match=f"blob {digest} is corrupt"):
            other.resolve(f"{proxy}/{name}@{digest}")
    assert not other.layout.blobs.exists(digest)


def test_5xx_answers_are_retried_with_backoff(
    open_registry: Registry, settings: RegistrySettings, pushed: tuple[str, str],
    tmp_path: Path, remote_store: Stores,
) -> None:  # fmt: skip
    name, _ = pushed
    faults = Faults(unavailable=2)
    with fault_proxy(open_registry.host, faults) as proxy:
        store = remote_store(tmp_path / "home", settings.with_insecure([proxy]))
        assert store.resolve(f"{proxy}/{name}:v1").card.runtime == "sklearn"
        faults.unavailable = 99
        patient = dataclasses.replace(settings, attempts=2).with_insecure([proxy])
        impatient = remote_store(tmp_path / "home2", patient)
        with pytest.raises(Unavailable, match="HTTP 503 UNAVAILABLE busy"):
            impatient.resolve(f"{proxy}/{name}:v1")


@dataclasses.dataclass
class Ended:
    status: int
    stderr: list[str]
    seconds: float
    """From SIGINT to the process's exit."""


#: Starts ``inferd`` with SIGINT handled as a terminal's Ctrl-C is, whatever pytest inherited:
#: a shell's background job ignores SIGINT, and so would a child started from it.
_WITH_SIGINT = (
    "import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_DFL); "
    "os.execv(sys.argv[1], sys.argv[1:])"
)


def _inferd(*args: str, home: Path) -> subprocess.Popen[bytes]:
    """A real ``inferd`` process (Ctrl-C is a signal to a process, not to a function call)."""
    env = {**os.environ, "INFERD_HOME": str(home)}
    inferd = str(Path(sys.executable).parent / "inferd")
    command = [sys.executable, "-c", _WITH_SIGINT, inferd, *args]
    return subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _interrupt_once(process: subprocess.Popen[bytes], faults: Faults) -> Ended:
    """Send SIGINT once the fault proxy has been moving the target's bytes for a moment;
    return how the process ended."""
    deadline = time.monotonic() + 30
    while not faults.moving.wait(0.05):
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, "the transfer never reached the target blob"
    time.sleep(0.3)
    process.send_signal(signal.SIGINT)
    interrupted = time.monotonic()
    try:
        _, stderr = process.communicate(timeout=8)
    finally:
        process.kill()
        process.communicate()
    return Ended(process.returncode, stderr.decode().splitlines(), time.monotonic() - interrupted)


@pytest.mark.parametrize("fault", ["slow", "stall"])
def test_ctrl_c_stops_a_pull_at_once_and_leaves_nothing_half_written(
    open_registry: Registry, docker_config: Path, pushed: tuple[str, str], tmp_path: Path,
    fault: str,
) -> None:  # fmt: skip
    """A registry that trickles the weights (or stops sending them): Ctrl-C ends the pull
    within about a second, exit 130 and one line, without a temporary file or a record."""
    name, weights = pushed
    faults = Faults(target=weights, slow=fault == "slow", stall=fault == "stall")
    home = tmp_path / "home"
    with fault_proxy(open_registry.host, faults) as proxy:
        pulling = _inferd(
            "pull", f"{proxy}/{name}:v1", str(tmp_path / "out"), "--insecure-registry", proxy,
            home=home,
        )  # fmt: skip
        ended = _interrupt_once(pulling, faults)
    assert (ended.status, ended.stderr) == (130, ["error: cancelled (interrupted)"])
    assert ended.seconds < 3  # its interpreter's exit included
    _clean(ModelStore(home), weights)
    assert not (tmp_path / "out").exists()


def test_ctrl_c_stops_a_push_at_once(
    open_registry: Registry, docker_config: Path, repo: str, tmp_path: Path
) -> None:
    """A registry that reads the weights slowly: Ctrl-C ends the upload within about a second,
    the tag never appears in the registry and the blobs the push had packaged locally are
    removed again."""
    weights = raw_npy(os.urandom(12 * 1024 * 1024))  # more than the socket buffers take in
    model = make_model_dir(tmp_path / "big", weights=weights)
    faults = Faults(target=f"sha256:{hashlib.sha256(weights).hexdigest()}", slow=True)
    name = repo.split("/", 1)[1]
    with fault_proxy(open_registry.host, faults) as proxy:
        pushing = _inferd(
            "push", str(model), f"{proxy}/{name}:v1", "--insecure-registry", proxy,
            home=tmp_path / "home",
        )  # fmt: skip
        ended = _interrupt_once(pushing, faults)
    assert (ended.status, ended.stderr) == (130, ["error: cancelled (interrupted)"])
    assert ended.seconds < 3  # its interpreter's exit included
    with pytest.raises(urllib.error.HTTPError) as missing:
        urllib.request.urlopen(f"{open_registry.url}/v2/{name}/manifests/v1", timeout=5)
    missing.value.close()
    assert missing.value.code == 404
    _clean(ModelStore(tmp_path / "home"), faults.target)
