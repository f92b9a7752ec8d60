"""The sandbox worker of the python runtime: isolated, limited, and restarted when it dies.

Every model here is real user code in a real worker process: the segfault is a real SIGSEGV
(``ctypes.string_at(0)``), the out-of-memory a real allocation past RLIMIT_AS, the network test
a real connect to a real loopback listener.
"""

from __future__ import annotations

import errno
import os
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from inferd.backoff import restart_delay
from inferd.card import ModelCard
from inferd.config import SandboxSettings
from inferd.errors import InternalError, InvalidArgument, ModelRaised, Unavailable
from inferd.runtimes import LoadOptions, get_runtime
from inferd.sandbox.model import SandboxedModel
from inferd.sandbox.process import worker_environment

Sandboxed = Callable[..., SandboxedModel]

#: A user model whose predict runs ``ACTION`` on the first element of input ``x`` and echoes
#: ``x`` otherwise; ``{action}`` is filled in by each test.
TEMPLATE = """
import ctypes, errno, os, socket, time
import numpy as np

class Model:
    def load(self, path):
        self.path = path
    def predict(self, inputs):
        x = inputs["x"]
        if int(x.ravel()[0]) == 13:
{action}
        return {{"y": x, "pid": np.array([os.getpid()])}}
"""


@pytest.fixture
def sandboxed(tmp_path: Path) -> Iterator[Sandboxed]:
    """``sandboxed(action, **settings)``: a trusted model whose predict on 13 runs ``action``."""
    models: list[SandboxedModel] = []

    def load(action: str = "pass", **settings: Any) -> SandboxedModel:
        directory = tmp_path / f"m{len(models)}"
        directory.mkdir()
        body = TEMPLATE.format(action=textwrap.indent(textwrap.dedent(action), " " * 12))
        (directory / "model.py").write_text(body)
        options = LoadOptions(trust_code=True, sandbox=SandboxSettings(**settings))
        card = ModelCard(name="m", runtime="python", entrypoint="model:Model")
        model = get_runtime("python").load(directory, card, options)
        assert isinstance(model, SandboxedModel)
        models.append(model)
        return model

    yield load
    for model in models:
        model.close()


def x(value: int) -> dict[str, np.ndarray]:
    return {"x": np.array([value], dtype=np.int64)}


def predict_13(model: SandboxedModel) -> dict[str, np.ndarray]:
    return model.predict(x(13))


def test_user_code_runs_in_a_worker_process_not_the_server(sandboxed: Sandboxed) -> None:
    model = sandboxed()
    pid = int(model.predict(x(1))["pid"][0])
    # The model runs as pid 2 of a PID namespace of its own (after its init); the server knows
    # the worker by its pid outside, which is neither the server's nor the model's inside.
    assert pid == 2
    assert model.pid not in (None, os.getpid(), pid)


def test_the_worker_cannot_reach_a_loopback_listener(sandboxed: Sandboxed) -> None:
    with socket.create_server(("127.0.0.1", 0)) as listener:
        listener.setblocking(False)
        port = listener.getsockname()[1]
        model = sandboxed(
            f"""
            try:
                socket.create_connection(("127.0.0.1", {port}), timeout=2).close()
                return {{"errno": np.array([0])}}
            except OSError as exc:
                return {{"errno": np.array([exc.errno or -1])}}
            """
        )
        assert int(predict_13(model)["errno"][0]) == errno.ENETUNREACH
        with pytest.raises(BlockingIOError):
            listener.accept()  # nothing ever arrived


def test_the_model_directory_is_read_only(sandboxed: Sandboxed, tmp_path: Path) -> None:
    model = sandboxed(
        """
        codes = []
        for attempt in (
            lambda: (self.path / "new.txt").write_text("x"),
            lambda: open(self.path / "model.py", "a").close(),
            lambda: os.chmod(self.path / "model.py", 0o777),
            lambda: (self.path / "sub").mkdir(),
            lambda: (self.path / "model.py").unlink(),
        ):
            try:
                attempt()
                codes.append(0)
            except OSError as exc:
                codes.append(exc.errno)
        return {"errno": np.array(codes)}
        """
    )
    before = {p.name: p.stat().st_mode for p in (tmp_path / "m0").iterdir()}
    assert predict_13(model)["errno"].tolist() == [errno.EROFS] * 5
    assert {p.name: p.stat().st_mode for p in (tmp_path / "m0").iterdir()} == before


def test_the_worker_cannot_undo_its_isolation(sandboxed: Sandboxed) -> None:
    """No capabilities: no remount read-write, no joining the host's network namespace."""
    model = sandboxed(
        """
        libc = ctypes.CDLL(None, use_errno=True)
        remount = libc.mount(None, str(self.path).encode(), None, 0x20 | 0x1000, None)
        remount_errno = ctypes.get_errno()
        try:  # the host's network namespace: not even its handle opens
            fd = os.open("/proc/1/ns/net", os.O_RDONLY)
            joined, setns_errno = libc.setns(fd, 0x40000000), ctypes.get_errno()
        except OSError as exc:
            joined, setns_errno = -1, exc.errno
        caps = [l for l in open("/proc/self/status") if l.startswith(("CapEff", "CapBnd"))]
        return {
            "results": np.array([remount, remount_errno, joined, setns_errno]),
            "caps": np.array([int(l.split()[1], 16) for l in caps]),
        }
        """
    )
    outputs = predict_13(model)
    remount, remount_errno, joined, setns_errno = outputs["results"].tolist()
    assert (remount, remount_errno) == (-1, errno.EPERM)
    assert joined == -1 and setns_errno in (errno.EPERM, errno.EACCES)
    assert outputs["caps"].tolist() == [0, 0]


def test_open_files_are_limited(sandboxed: Sandboxed) -> None:
    model = sandboxed(
        """
        opened = []
        try:
            while len(opened) < 10_000:
                opened.append(os.open("/dev/null", os.O_RDONLY))
            code = 0
        except OSError as exc:
            code = exc.errno
        for fd in opened:
            os.close(fd)
        return {"opened": np.array([len(opened)]), "errno": np.array([code])}
        """,
        max_open_files=32,
    )
    outputs = predict_13(model)
    assert int(outputs["errno"][0]) == errno.EMFILE
    assert 0 < int(outputs["opened"][0]) < 32


def test_a_segfault_fails_that_call_with_unavailable_and_the_worker_restarts(
    sandboxed: Sandboxed,
) -> None:
    model = sandboxed("ctypes.string_at(0)")
    first = model.pid
    with pytest.raises(Unavailable, match=r"worker crashed \(SIGSEGV\); it is being restarted"):
        predict_13(model)
    outputs = model.predict(x(1))
    np.testing.assert_array_equal(outputs["y"], [1])
    assert int(outputs["pid"][0]) != first


def test_allocating_past_the_memory_cap_fails_that_call_and_restarts(
    sandboxed: Sandboxed,
) -> None:
    cap = 1024**3
    model = sandboxed("np.ones(4 * 1024**3, dtype=np.uint8)", max_address_space_bytes=cap)
    with pytest.raises(Unavailable, match=f"ran out of memory \\(address-space limit {cap}"):
        predict_13(model)
    np.testing.assert_array_equal(model.predict(x(2))["y"], [2])


def test_a_runaway_loop_is_stopped_by_the_cpu_limit(sandboxed: Sandboxed) -> None:
    model = sandboxed("while True: pass", max_cpu_seconds=1)
    with pytest.raises(Unavailable, match=r"used up its CPU-time limit \(1 s per call\)"):
        predict_13(model)
    np.testing.assert_array_equal(model.predict(x(3))["y"], [3])


def test_a_hung_worker_is_killed_after_the_call_timeout(sandboxed: Sandboxed) -> None:
    model = sandboxed("time.sleep(60)", call_timeout_s=1)
    started = time.monotonic()
    killed = r"stopped answering \(within 1 s, sandbox.call_timeout_s\) and was killed"
    with pytest.raises(Unavailable, match=killed):
        predict_13(model)
    assert time.monotonic() - started < 10
    np.testing.assert_array_equal(model.predict(x(4))["y"], [4])


def test_the_interpreter_start_is_not_charged_to_the_call_timeout(
    sandboxed: Sandboxed, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A worker whose interpreter takes longer to start than the call timeout (a busy machine;
    here a sitecustomize that sleeps) still loads: the timeout bounds the load and each call."""
    slow = tmp_path / "slow-start"
    slow.mkdir()
    (slow / "sitecustomize.py").write_text("import time\ntime.sleep(1.5)\n")
    monkeypatch.setenv(
        "PYTHONPATH", os.pathsep.join(filter(None, [str(slow), os.environ.get("PYTHONPATH")]))
    )
    model = sandboxed(call_timeout_s=1)
    np.testing.assert_array_equal(model.predict(x(5))["y"], [5])


def test_consecutive_deaths_back_off(sandboxed: Sandboxed) -> None:
    model = sandboxed("ctypes.string_at(0)")
    with pytest.raises(Unavailable):
        predict_13(model)
    with pytest.raises(Unavailable) as second:
        predict_13(model)  # the immediate restart worked, and died again
    assert second.value.retry_after >= 1
    with pytest.raises(Unavailable, match="restarting it"):
        model.predict(x(1))  # within the 0.5 s backoff: refused at once, no worker yet
    deadline = time.monotonic() + 10
    while True:
        try:
            np.testing.assert_array_equal(model.predict(x(5))["y"], [5])
            break
        except Unavailable:
            assert time.monotonic() < deadline
            time.sleep(0.1)


@pytest.mark.parametrize(
    ("deaths", "delay"), [(1, 0.0), (2, 0.5), (3, 1.0), (4, 2.0), (8, 30.0), (50, 30.0)]
)
def test_restart_delay(deaths: int, delay: float) -> None:
    assert restart_delay(deaths) == delay


def test_an_exception_in_predict_keeps_the_worker(sandboxed: Sandboxed) -> None:
    model = sandboxed("raise ValueError('bad row')")
    pid = model.pid
    with pytest.raises(ModelRaised, match="the model's predict raised ValueError"):
        predict_13(model)
    assert model.pid == pid
    np.testing.assert_array_equal(model.predict(x(6))["y"], [6])


def test_python_objects_never_cross_the_boundary(sandboxed: Sandboxed) -> None:
    model = sandboxed('return {"y": np.array([{"a": 1}], dtype=object)}')
    with pytest.raises(
        InternalError, match="not an array: 'y' holds Python objects other than bytes"
    ):
        predict_13(model)


@pytest.mark.parametrize(
    ("output", "dtype"),
    [
        ('np.array(["2026-12-07"], dtype="datetime64[D]")', "datetime64[D]"),
        ('np.array([1], dtype="timedelta64[s]")', "timedelta64[s]"),
        ('np.zeros(1, dtype="V4")', "|V4"),
        ('np.zeros(1, dtype=[("a", "i4"), ("b", "f8")])', "[('a', '<i4'), ('b', '<f8')]"),
    ],
)
def test_an_output_of_no_plain_dtype_is_an_outputs_error_not_a_dead_worker(
    sandboxed: Sandboxed, output: str, dtype: str
) -> None:
    """It crossed as an .npy the server refused to read: 503, "worker exited with status 0",
    and a restart, for a model whose output is of a kind no tensor has."""
    model = sandboxed(f'return {{"y": {output}}}')
    pid = model.pid
    with pytest.raises(InternalError) as refused:
        predict_13(model)
    assert not isinstance(refused.value, Unavailable)
    assert refused.value.message.endswith(
        f"an output is not an array: 'y' is of dtype {dtype}, which is no tensor's "
        "(bool, integers, floats, complex, bytes or str)"
    ), refused.value.message
    assert model.pid == pid
    np.testing.assert_array_equal(model.predict(x(6))["y"], [6])


def test_tensors_of_every_kind_cross_intact(sandboxed: Sandboxed) -> None:
    inputs = {
        "x": np.array([[13, 2], [3, 4]], dtype=np.int64),
        "f16": np.arange(6, dtype=np.float16).reshape(2, 3),
        "fortran": np.asfortranarray(np.arange(6, dtype=np.float32).reshape(2, 3)),
        "flags": np.array([True, False]),
        "text": np.array(["a", "bc"]),
        "raw": np.array([[b"", b"\x00\xff"], [b"abc", b"d"]], dtype=object),
        "empty": np.zeros((0, 3), dtype=np.float64),
    }
    outputs = sandboxed("return dict(inputs)").predict(inputs)
    assert outputs.keys() == inputs.keys()
    for name, array in inputs.items():
        assert outputs[name].dtype == array.dtype, name
        np.testing.assert_array_equal(outputs[name], array)
    assert outputs["raw"].tolist() == inputs["raw"].tolist()
    assert outputs["fortran"].flags.f_contiguous
    assert outputs["x"].flags.writeable


def test_a_load_that_crashes_is_refused(tmp_path: Path) -> None:
    (tmp_path / "model.py").write_text(
        "import ctypes\nclass Model:\n    def load(self, path): ctypes.string_at(0)\n"
        "    def predict(self, inputs): return inputs\n"
    )
    card = ModelCard(name="m", runtime="python", entrypoint="model:Model")
    with pytest.raises(InvalidArgument, match=r"failed: its worker crashed \(SIGSEGV\)"):
        get_runtime("python").load(tmp_path, card, LoadOptions(trust_code=True))


def test_the_server_environment_stays_with_the_server(
    sandboxed: Sandboxed, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("INFERD_CONTROL_TOKEN", "secret")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "secret")
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    model = sandboxed('return {"env": np.array(sorted(os.environ))}')
    names = set(predict_13(model)["env"].tolist())
    assert "OMP_NUM_THREADS" in names
    assert not names & {"INFERD_CONTROL_TOKEN", "AWS_SECRET_ACCESS_KEY"}
    assert worker_environment({"PATH": "/bin", "HOME": "/root", "CUDA_VISIBLE_DEVICES": "0"}) == {
        "PATH": "/bin",
        "CUDA_VISIBLE_DEVICES": "0",
    }


REFUSAL_SCRIPT = """
import sys
from pathlib import Path
from inferd.card import ModelCard
from inferd.errors import InferdError
from inferd.runtimes import LoadOptions, get_runtime
from inferd.config import SandboxSettings
card = ModelCard(name="m", runtime="python", entrypoint="model:Model")
options = LoadOptions(trust_code=True, sandbox=SandboxSettings(allow_unisolated=sys.argv[2] == "1"))
try:
    model = get_runtime("python").load(Path(sys.argv[1]), card, options)
except InferdError as exc:
    print(type(exc).__name__, exc.message)
else:
    print("loaded", model.predict({"x": __import__("numpy").array([7])})["y"].tolist())
    model.close()
"""


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to drop CAP_SYS_ADMIN with setpriv")
@pytest.mark.parametrize("allow", [False, True])
def test_without_cap_sys_admin_trusted_code_is_refused_unless_allowed(
    tmp_path: Path, allow: bool
) -> None:
    (tmp_path / "model.py").write_text(
        "class Model:\n    def predict(self, inputs): return {'y': inputs['x']}\n"
    )
    result = subprocess.run(
        ["setpriv", "--bounding-set", "-sys_admin", sys.executable, "-c", REFUSAL_SCRIPT,
         str(tmp_path), "1" if allow else "0"],
        capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    if allow:
        assert result.stdout.strip() == "loaded [7]"
    else:
        assert result.stdout.startswith("PermissionDenied the python runtime refused to run")
        assert "isolation is not available here: Operation not permitted" in result.stdout
        assert "CAP_SYS_ADMIN" in result.stdout
        assert "INFERD_SANDBOX__ALLOW_UNISOLATED=true" in result.stdout
