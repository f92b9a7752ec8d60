"""Error hygiene (RELIABILITY R27): hundreds of user mistakes sent to a real ``inferd serve``
over REST (data and control plane) and gRPC (data and control plane), and every error answer
scanned for what must never reach a client: a traceback or a Python class, an absolute
filesystem path (the server's home, the temp dirs, the venv and site-packages, the checkout, or
any absolute path of two or more segments), or the control token. A user mistake is never a
500 (over gRPC never INTERNAL or UNKNOWN).

What a request itself carried (its path, its JSON strings) may come back in the message that
names the problem, so those echoes are removed before the scan; API routes (``/v2/...``) that
messages point to are not filesystem paths. The scan is :mod:`.hygiene`'s, which ``make fuzz``
applies to schemathesis's answers too.
"""

from __future__ import annotations

import contextlib
import json
import re
import select
import socket
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote, unquote

import grpc
import pytest

from inferd.protocols._generated import inference_pb2 as pb

from .conftest import IDENTITY_MODELS, ServeProcess, make_home, start_serve, wait_ready
from .hygiene import findings, server_paths, strings

pytestmark = pytest.mark.slow

#: Small limits, so the over-limit cases are cheap and mid-size bodies take the decode thread
#: (over 4 KiB) and the decoding process (over 16 KiB) as well as the event loop.
LIMITS = """\
limits:
  max_body_bytes: 262144
  max_buffered_request_bytes: 1048576
  max_tensor_elements: 4096
  max_bytes_elements: 64
  max_inputs: 4
  inline_decode_bytes: 4096
  process_decode_bytes: 16384
"""
PAD = 20_000  # whitespace after a JSON body: past process_decode_bytes
OVER = 300_000  # past max_body_bytes


@dataclass
class Scan:
    """What must not appear, and what was seen: statuses and problems per case."""

    literals: list[str]
    token: str
    statuses: Counter[str] = field(default_factory=Counter)
    problems: list[str] = field(default_factory=list)

    def check(self, case: str, status: str, succeeded: bool, text: str, echoes: list[str]) -> None:
        self.statuses[status] += 1
        bad = findings(text, echoes, self.literals, self.token)
        if succeeded:
            bad.append("a user mistake was answered as a success")
        if status in {"500", "INTERNAL", "UNKNOWN"}:
            bad.append(f"a user mistake got {status}")
        if bad:
            self.problems.append(f"{case} -> {status}: {'; '.join(bad)}: {text[:300]!r}")

    def summary(self, what: str) -> str:
        seen = ", ".join(f"{s}: {n}" for s, n in sorted(self.statuses.items()))
        return f"R27 error hygiene, {what}: {sum(self.statuses.values())} cases; statuses {seen}"


@pytest.mark.parametrize(
    ("text", "echoes", "found"),
    [
        ('{"error":"model \'nope\' not found"}', [], []),
        ('Traceback (most recent call last):\n  File "x.py", line 3, in f', [], ["a traceback"]),
        ("Unexpected <class 'google.protobuf.message.DecodeError'>", [], ["a traceback"]),
        ("cannot open /srv/inferd/home/store/blobs", [], ["absolute path"]),
        ("cannot open '/srv/x'", [], ["absolute path"]),
        ("invalid reference '/etc/passwd'", ["/etc/passwd"], []),
        ("model '/etc/passwd' not found", ["/etc/passwd:predict"], []),
        ("see $INFERD_HOME/server-<port>.token; use /v2/models/m/infer", [], []),
        ("application/json, http://127.0.0.1:8/x/y, a/b/c", [], []),
        ("token SECRET-TOKEN-0123456789", [], ["the control token"]),
        ("blob under /home/u/.inferd", ["/home/u/.inferd/x"], ["server path"]),
    ],
)
def test_the_scan_finds_what_it_looks_for(text: str, echoes: list[str], found: list[str]) -> None:
    got = findings(text, echoes, ["/home/u/.inferd"], "SECRET-TOKEN-0123456789")
    assert [any(f.startswith(want) for f in got) for want in found] == [True] * len(found)
    assert bool(got) == bool(found), got


@dataclass
class Target:
    server: ServeProcess
    home: Path
    token: str
    literals: list[str]

    def scan(self) -> Scan:
        return Scan(self.literals, self.token)


@pytest.fixture(scope="module")
def target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Target]:
    root = tmp_path_factory.mktemp("hygiene")
    home = make_home(root)
    config = root / "limits.yaml"
    config.write_text(LIMITS)
    models = ("fraud:v1", *(f"{name}:v1" for name in IDENTITY_MODELS))
    server = start_serve(home, "--config", str(config), *models)
    try:
        wait_ready(server.url)
        token = (home / f"server-{server.control_port}.token").read_text().strip()
        literals = [*server_paths(home), str(root), str(tmp_path_factory.getbasetemp())]
        yield Target(server, home, token, literals)
    finally:
        code = server.terminate()
        if server.proc.stderr is not None:
            server.proc.stderr.close()
    assert code == 0, "".join(server.log[-20:])


# -- REST ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Http:
    """One request; ``raw`` replaces the whole request with these bytes."""

    label: str
    method: str
    target: str
    body: bytes = b""
    headers: tuple[tuple[str, str], ...] = ()
    raw: bytes | None = None

    def wire(self) -> tuple[bytes, bytes]:
        if self.raw is not None:
            return self.raw, b""
        given = {name.lower() for name, _ in self.headers}
        head = [f"{self.method} {self.target} HTTP/1.1"]
        head += [] if "host" in given else ["Host: 127.0.0.1"]
        head += [] if "content-length" in given else [f"Content-Length: {len(self.body)}"]
        head += ["Connection: close", *(f"{n}: {v}" for n, v in self.headers)]
        return ("\r\n".join(head) + "\r\n\r\n").encode("latin-1"), self.body

    def echoes(self) -> list[str]:
        said = [self.target, unquote(self.target), *map(unquote, self.target.split("/"))]
        with contextlib.suppress(ValueError, RecursionError):
            said += strings(json.loads(self.body))
        return said


def exchange(port: int, request: Http) -> tuple[int, bytes]:
    """Send ``request`` and read the answer to the close: (status, body); status 0 when the
    server closed without one."""
    head, body = request.wire()
    reply = b""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        try:
            sock.sendall(head)
            for start in range(0, len(body), 65536):
                if select.select([sock], [], [], 0)[0]:
                    break  # answered before the whole body went: stop sending, read it
                sock.sendall(body[start : start + 65536])
        except (BrokenPipeError, ConnectionResetError):
            pass
        try:
            while chunk := sock.recv(65536):
                reply += chunk
        except ConnectionResetError:
            pass
    if not reply:
        return 0, b""
    status_line, _, rest = reply.partition(b"\r\n")
    return int(status_line.split(b" ", 2)[1]), rest.partition(b"\r\n\r\n")[2]


def run_http(port: int, cases: list[Http], scan: Scan) -> None:
    for case in cases:
        status, body = exchange(port, case)
        text = body.decode("utf-8", "replace")
        if status == 0:
            scan.statuses["closed"] += 1
            continue
        scan.check(case.label, str(status), status < 400, text, case.echoes())


def tensor(**changes: object) -> dict[str, object]:
    base: dict[str, object] = {
        "name": "input", "shape": [1, 8], "datatype": "FP32", "data": [0.5] * 8,
    }  # fmt: skip
    base.update(changes)
    return {"inputs": [{k: v for k, v in base.items() if v is not ...}]}


GOOD = tensor()
#: Inference bodies that are wrong for the fraud model (``input``: FP32 [-1, 8]).
INFER_BODIES: dict[str, bytes | dict[str, object]] = {
    "empty": b"", "not-json": b"{bad", "truncated": b'{"inputs":[{"name":"input"',
    "array": b"[]", "null": b"null", "string": b'"x"', "overflow": b"1e999",
    "deep": b"[" * 5000, "bad-utf8": b'{"inputs":[{"name":"\xff\xfe"}]}',
    "surrogate": b'{"inputs":[{"name":"\\udcff","shape":[1],"datatype":"FP32","data":[1]}]}',
    "no-inputs": {}, "inputs-object": {"inputs": {}}, "inputs-empty": {"inputs": []},
    "input-number": {"inputs": [1]}, "no-name": tensor(name=...),
    "unknown-input": tensor(name="nope"), "path-input": tensor(name="/etc/passwd"),
    "nul-name": tensor(name="in\x00put"), "int8": tensor(datatype="INT8"),
    "fp128": tensor(datatype="FP128"), "datatype-number": tensor(datatype=5),
    "no-datatype": tensor(datatype=...), "bytes": tensor(datatype="BYTES", data=["a"] * 8),
    "shape-7": tensor(shape=[1, 7], data=[0.5] * 7), "shape-negative": tensor(shape=[-1, 8]),
    "shape-string": tensor(shape="1,8"), "shape-float": tensor(shape=[1.5, 8]),
    "shape-huge": tensor(shape=[2**62, 8]), "no-shape": tensor(shape=...),
    "rank-10": tensor(shape=[1] * 9 + [8]),
    "too-many-elements": tensor(shape=[1000, 8], data=[0.5] * 8000),
    "count-short": tensor(data=[0.5] * 7), "strings": tensor(data=["a"] * 8),
    "ragged": tensor(data=[[0.5] * 4, [0.5] * 3]), "data-null": tensor(data=None),
    "objects": tensor(data=[{}] * 8), "nan-strings": tensor(data=["NaN"] * 8),
    "huge-ints": json.dumps(tensor(data=[10**400] * 8)).encode(),
    "no-data": tensor(data=...), "five-inputs": {"inputs": GOOD["inputs"] * 5},  # type: ignore[operator]
    "unknown-output": {**GOOD, "outputs": [{"name": "nope"}]},
    "path-output": {**GOOD, "outputs": [{"name": "/etc/passwd"}]},
    "outputs-string": {**GOOD, "outputs": "x"},
    "parameters-number": {**GOOD, "parameters": 5},
    "binary-size-no-header": tensor(data=..., parameters={"binary_data_size": 32}),
}  # fmt: skip


def _bytes(body: bytes | dict[str, object]) -> bytes:
    return body if isinstance(body, bytes) else json.dumps(body).encode()


def _binary(json_doc: dict[str, object], tail: bytes, length: str | None = None) -> Http:
    head = json.dumps(json_doc).encode()
    length = str(len(head)) if length is None else length
    return Http(
        f"binary {length!r} {tail[:8]!r}", "POST", "/v2/models/fraud/infer", head + tail,
        (("Inference-Header-Content-Length", length), ("Content-Type", "application/octet-stream")),
    )  # fmt: skip


def data_plane_cases(home: Path) -> list[Http]:
    cases: list[Http] = []
    # Where: the model, a version, an unknown version and model, names shaped like paths.
    places = ["fraud", "fraud/versions/v1", "fraud/versions/v9", "nope", "nope/versions/v1",
              quote("../../etc/passwd", safe=""), quote(str(home), safe=""), ".."]  # fmt: skip
    for place in places:
        for name, body in INFER_BODIES.items():
            cases.append(Http(f"infer {place} {name}", "POST", f"/v2/models/{place}/infer",
                              _bytes(body)))  # fmt: skip
    for name, body in INFER_BODIES.items():  # again, decoded in a thread and in the process
        for pad in (5_000, PAD):
            cases.append(Http(f"infer padded {pad} {name}", "POST", "/v2/models/fraud/infer",
                              _bytes(body) + b" " * pad))  # fmt: skip
    # The binary extension: a header length that lies, raw sizes that disagree.
    raw_input = tensor(data=..., parameters={"binary_data_size": 32})
    for length in ["-1", "abc", "", "1e3", "9" * 30, "100000", " 12", "0", "5"]:
        cases.append(_binary(raw_input, b"\0" * 32, length))
    for size in [31, 33, 64, -1, "x", 2**63]:
        doc = tensor(data=..., parameters={"binary_data_size": size})
        cases.append(_binary(doc, b"\0" * 32))
    # BYTES that are not UTF-8 where the model needs text; length prefixes that lie.
    strings = {"name": "x", "shape": [1, 2], "datatype": "BYTES"}
    for tail in [b"\2\0\0\0\xff\xfe\1\0\0\0a", b"\2\0\0", b"\xe8\3\0\0abc", b"\1\0\0\0\x80" * 2,
                 b"\4\0\0\0\xed\xa0\x80a\1\0\0\0b", b""]:  # fmt: skip
        doc = {"inputs": [{**strings, "parameters": {"binary_data_size": len(tail)}}]}
        bin_case = _binary(doc, tail)
        cases.append(Http(f"bytes {tail[:8]!r}", "POST", "/v2/models/id-bytes/infer",
                          bin_case.body, bin_case.headers))  # fmt: skip
    many = {"inputs": [{"name": "x", "shape": [1, 100], "datatype": "BYTES", "data": ["a"] * 100}]}
    cases.append(Http("bytes 100 elements", "POST", "/v2/models/id-bytes/infer", _bytes(many)))
    for data in ([1, 2], [[None, None]], ["a"], [{"b64": "zz"}, "a"]):
        doc = {"inputs": [{**strings, "data": data}]}
        cases.append(Http(f"bytes json {data}", "POST", "/v2/models/id-bytes/infer", _bytes(doc)))
    fp16 = {"inputs": [{"name": "x", "shape": [1, 2], "datatype": "FP16", "data": ["a", 1]}]}
    cases.append(Http("fp16 json", "POST", "/v2/models/id-fp16/infer", _bytes(fp16)))
    # Media types the protocol does not speak.
    for media in ["application/x-pickle", "multipart/form-data; boundary=x", "text/html",
                  "application/x-protobuf", "image/png"]:  # fmt: skip
        cases.append(Http(f"media {media}", "POST", "/v2/models/fraud/infer", _bytes(GOOD),
                          (("Content-Type", media),)))  # fmt: skip
    cases.append(Http("gzip", "POST", "/v2/models/fraud/infer", _bytes(GOOD),
                      (("Content-Encoding", "gzip"),)))  # fmt: skip
    # Other wire formats of the data plane, with bad bodies and models that cannot serve them.
    llm_bodies: list[bytes | dict[str, object]] = [
        b"{bad", b"[]", {}, {"text_input": 5}, {"text_input": "hi", "parameters": "x"},
        {"model": "fraud", "messages": [{"role": "user", "content": "hi"}]},
        {"model": "/etc/passwd", "prompt": "hi"}, {"model": "fraud", "input": "x"},
        {"instances": [[1, 2]]}, {"instances": "x"}, {"inputs": 5},
    ]  # fmt: skip
    for model in ["fraud", "nope", quote("/etc/passwd", safe="")]:
        for route in ["generate", "generate_stream"]:
            for body in llm_bodies:
                cases.append(Http(f"{route} {model} {body!r:.40}", "POST",
                                  f"/v2/models/{model}/{route}", _bytes(body)))  # fmt: skip
        for body in llm_bodies:
            cases.append(Http(f"v1 predict {model} {body!r:.40}", "POST",
                              f"/v1/models/{model}:predict", _bytes(body)))  # fmt: skip
    for route in ["chat/completions", "completions", "embeddings"]:
        for body in llm_bodies:
            cases.append(Http(f"openai {route} {body!r:.40}", "POST", f"/v1/{route}",
                              _bytes(body)))  # fmt: skip
    # Wrong methods on every route, and paths that are no route.
    gets = ["/v2/health/live", "/v2/health/ready", "/v2", "/v2/models/fraud", "/v2/models/stats",
            "/v2/models/fraud/ready", "/v2/models/fraud/stats", "/metrics", "/v2/openapi.json",
            "/v1/models"]  # fmt: skip
    posts = ["/v2/models/fraud/infer", "/v2/models/fraud/versions/v1/infer",
             "/v2/models/fraud/generate", "/v1/models/fraud:predict", "/v1/chat/completions",
             "/v1/completions", "/v1/embeddings"]  # fmt: skip
    for route in gets + posts:
        for method in ["GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE", "FOO"]:
            if method != ("GET" if route in gets else "POST"):
                cases.append(Http(f"{method} {route}", method, route))
    for path in ["/", "/v3", "/v2/models", "/v2/models/fraud/nope", "/v2/models/fraud/versions",
                 "/v2/repository/index", "/v2/repository/models/fraud/load", "/etc/passwd",
                 "/../../etc/passwd", "/%2e%2e/%2e%2e/etc/passwd", "//etc/passwd", "/.env",
                 "/static/../../../etc/passwd", "/dashboard/../../etc/passwd", "/.git/config",
                 "/v2/models/fraud/infer/extra", quote(str(home)), f"/v2/models/{'a' * 5000}",
                 "/v2/models/%ff%fe/ready", "/v2/models/%00/ready", "/v2/models/nope?x=%ff",
                 "/v2/models/fraud/versions/..%2F..%2Fetc/ready", "*",
                 "http://evil/v3"]:  # fmt: skip
        cases.append(Http(f"GET {path[:60]}", "GET", path))
    # Framing: what a broken client or a scanner sends.
    infer = b"POST /v2/models/fraud/infer HTTP/1.1\r\nHost: localhost\r\n"
    for raw in [b"GARBAGE\r\n\r\n", b"GET / HTTP/9.9\r\n\r\n", b"\x16\x03\x01\x00\xa5\x01\r\n\r\n",
                infer + b"Content-Length: abc\r\n\r\n", infer + b"Content-Length: -1\r\n\r\n",
                infer + b"Content-Length: 5\r\nContent-Length: 6\r\n\r\nhello!",
                infer + b"Content-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
                infer + b"Transfer-Encoding: chunked\r\n\r\nzz\r\n",
                infer + b"Transfer-Encoding: chunked\r\n\r\n" + b"10000\r\n" + b"x" * OVER,
                infer + b"Bad Header Line\r\n\r\n", infer + b"X-A: \x00\r\n\r\n",
                infer + b"X-Big: " + b"a" * 70_000 + b"\r\n\r\n",
                infer + b"".join(b"X-%d: 1\r\n" % i for i in range(300)) + b"\r\n",
                b"GET /" + b"a" * 70_000 + b" HTTP/1.1\r\n\r\n",
                infer + b"Content-Length: %d\r\n\r\n" % OVER]:  # fmt: skip
        cases.append(Http(f"raw {raw[:40]!r}", "", "", raw=raw))
    cases.append(Http("over-size", "POST", "/v2/models/fraud/infer", b" " * OVER))
    cases.append(Http("over-size binary", "POST", "/v2/models/fraud/infer", b"\0" * OVER,
                      (("Inference-Header-Content-Length", "2"),)))  # fmt: skip
    return cases


def control_cases(home: Path, token: str) -> list[Http]:
    cases: list[Http] = []
    auth = ("Authorization", f"Bearer {token}")
    routes = ["/v2/repository/index", "/v2/repository/models/fraud/load",
              "/v2/repository/models/nope/unload", "/v2/openapi.json"]  # fmt: skip
    refused = {
        "no token": (),
        "wrong": (("Authorization", "Bearer wrong"),),
        "short": (("Authorization", f"Bearer {token[:-1]}"),),
        "long": (("Authorization", f"Bearer {token}x"),),
        "basic": (("Authorization", token),),
        "lower, wrong": (("Authorization", "bearer wrong"),),  # the scheme in any case (RFC 9110)
        "empty": (("Authorization", "Bearer "),),
        "origin": (auth, ("Origin", "http://evil.example")),
        "rebound host": (auth, ("Host", "evil.example")),
    }
    for route in routes[:3]:
        for name, headers in refused.items():
            cases.append(Http(f"control {route} {name}", "POST", route, b"{}", headers))
    references = ["nosuch:v1", "fraud:v9", "/etc/passwd", "../../../etc/passwd", "file:///etc",
                  f"file://{home}", str(home), str(home / "store"), "~/.ssh/id_rsa",
                  "fraud@sha256:" + "0" * 64, "fraud@sha256:zz", "localhost:1/fraud:v1",
                  "example.com/fraud:v1", "127.0.0.1:22/fraud:v1", " ", "FRAUD:V1",
                  "fraud:" + "v" * 300, "fraud:v1\x00", "fraud:\u00e9",
                  "c:\\windows\\fraud"]  # fmt: skip
    models = ["fraud", "nope", quote("../../etc", safe=""), quote(str(home), safe="")]
    for model in models:
        for reference in references:
            body = {"parameters": {"reference": reference}}
            route = f"/v2/repository/models/{model}/load"
            label = f"load {model[:30]} {reference[:40]!r}"
            cases.append(Http(label, "POST", route, _bytes(body), (auth,)))
    cases.append(Http("load nope ''", "POST", "/v2/repository/models/nope/load",
                      _bytes({"parameters": {"reference": ""}}), (auth,)))  # fmt: skip
    bodies: list[bytes | dict[str, object]] = [b"{bad", b"[]", b"null", b"\xff", b"[" * 5000]
    wrong: dict[str, list[bytes | dict[str, object]]] = {
        routes[0]: [{"ready": "yes"}, {"ready": 1}, {"ready": None}],
        routes[1]: [{"parameters": 5}, {"parameters": {"reference": 5}},
                    {"parameters": {"reference": ["fraud:v1"]}}, {"parameters": [1]}],
        routes[2]: [],
    }  # fmt: skip
    for route in routes[:3]:
        for body in bodies + wrong[route]:
            cases.append(Http(f"control {route} {body!r:.30}", "POST", route, _bytes(body),
                              (auth,)))  # fmt: skip
        for method in ["GET", "PUT", "DELETE"]:
            cases.append(Http(f"control {method} {route}", method, route, b"", (auth,)))
    cases.append(Http("unload nope", "POST", "/v2/repository/models/nope/unload", b"", (auth,)))
    for path in ["/v2/repository", "/v2/repository/models/fraud", "/v2/models/fraud/infer",
                 "/etc/passwd", "/v2/repository/models/fraud/load/x"]:  # fmt: skip
        cases.append(Http(f"control GET {path}", "GET", path, b"", (auth,)))
    cases.append(Http("control over-size", "POST", "/v2/repository/index", b" " * OVER, (auth,)))
    return cases


def test_rest_data_plane_errors_are_clean(target: Target) -> None:
    scan = target.scan()
    cases = data_plane_cases(target.home)
    run_http(target.server.port, cases, scan)
    print(scan.summary("REST data plane"))
    assert len(cases) >= 500
    assert not scan.problems, "\n".join(scan.problems)


def test_rest_control_plane_errors_are_clean(target: Target) -> None:
    assert target.server.control_port is not None
    scan = target.scan()
    cases = control_cases(target.home, target.token)
    run_http(target.server.control_port, cases, scan)
    print(scan.summary("REST control plane"))
    assert len(cases) >= 100
    assert scan.statuses["401"] >= 3 * 7 and scan.statuses["403"] >= 3 * 2
    assert not scan.problems, "\n".join(scan.problems)


# -- gRPC ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Rpc:
    label: str
    method: str
    request: bytes
    metadata: tuple[tuple[str, str], ...] = ()
    echoes: tuple[str, ...] = ()


def run_grpc(port: int, cases: list[Rpc], scan: Scan) -> None:
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        for case in cases:
            call = channel.unary_unary(f"/inference.GRPCInferenceService/{case.method}")
            # What the request said: its strings are the printable runs of its bytes.
            said = [run.decode() for run in re.findall(rb"[\x20-\x7e]{2,}", case.request)]
            try:
                call(case.request, metadata=case.metadata, timeout=30)
            except grpc.RpcError as error:
                code, details = error.code().name, error.details() or ""  # type: ignore[attr-defined]
                scan.check(case.label, code, False, details, [*case.echoes, *said])
            else:
                scan.check(case.label, "OK", True, "", [])


Input = pb.ModelInferRequest.InferInputTensor


def _infer(model: str, version: str, raw: list[bytes] | None, **tensor: object) -> bytes:
    """A ModelInfer request of one input (``input`` FP32 [1, 8] unless ``tensor`` says else;
    a value of ``...`` leaves that field out)."""
    spec: dict[str, object] = {"name": "input", "datatype": "FP32", "shape": [1, 8], **tensor}
    fields = {k: v for k, v in spec.items() if v is not ...}
    request = pb.ModelInferRequest(model_name=model, model_version=version)
    request.inputs.append(Input(**fields))  # type: ignore[arg-type]
    request.raw_input_contents.extend(raw or [])
    return request.SerializeToString()


def grpc_data_cases(home: Path) -> list[Rpc]:
    cases: list[Rpc] = []
    z32 = [b"\0" * 32]
    floats = pb.InferTensorContents(fp32_contents=[0.5] * 8)
    tensors: dict[str, tuple[list[bytes] | None, dict[str, object]]] = {
        "none": (None, {}), "raw-31": ([b"\0" * 31], {}), "raw-33": ([b"\0" * 33], {}),
        "two-raw": (z32 * 2, {}), "int8": ([b"\0" * 8], {"datatype": "INT8"}),
        "fp128": (z32, {"datatype": "FP128"}), "shape-7": ([b"\0" * 28], {"shape": [1, 7]}),
        "rank-10": (z32, {"shape": [1] * 9 + [8]}),
        "too-many": ([b"\0" * 32000], {"shape": [1000, 8]}),
        "huge-shape": (z32, {"shape": [2**62, 8]}), "negative": (z32, {"shape": [-1, 8]}),
        "unknown-input": (z32, {"name": "nope"}), "path-input": (z32, {"name": "/etc/passwd"}),
        "contents-and-raw": (z32, {"contents": floats}),
        "contents-short": (None, {"contents": pb.InferTensorContents(fp32_contents=[0.5] * 7)}),
        "wrong-contents": (None, {"contents": pb.InferTensorContents(int_contents=[1] * 8)}),
    }  # fmt: skip
    places = [("fraud", ""), ("fraud", "v1"), ("fraud", "v9"), ("nope", ""),
              ("../../etc/passwd", ""), (str(home), ""), ("fraud", "/etc")]  # fmt: skip
    for model, version in places:
        for name, (raw, fields) in tensors.items():
            request = _infer(model, version, raw, **fields)
            label = f"infer {model[:30]}:{version} {name}"
            cases.append(Rpc(label, "ModelInfer", request, echoes=(model, version)))
    strings: dict[str, object] = {"name": "x", "datatype": "BYTES", "shape": [1, 1]}
    for tail in [b"\2\0\0\0\xff\xfe", b"\2\0\0", b"\xe8\3\0\0abc", b"\3\0\0\0\xed\xa0\x80"]:
        cases.append(
            Rpc(f"bytes raw {tail!r}", "ModelInfer", _infer("id-bytes", "", [tail], **strings))
        )
    for value in [b"\xff\xfe", b"\xed\xa0\x80", b"\x80"]:
        contents = pb.InferTensorContents(bytes_contents=[value])
        request = _infer("id-bytes", "", None, contents=contents, **strings)
        cases.append(Rpc(f"bytes contents {value!r}", "ModelInfer", request))
    many = pb.InferTensorContents(bytes_contents=[b"a"] * 100)
    request = _infer("id-bytes", "", None, **{**strings, "contents": many, "shape": [1, 100]})
    cases.append(Rpc("bytes 100", "ModelInfer", request))
    unknown_output = pb.ModelInferRequest.FromString(_infer("fraud", "", z32))
    unknown_output.outputs.add(name="/etc/passwd")
    cases.append(Rpc("unknown output", "ModelInfer", unknown_output.SerializeToString()))
    # Names of what is not there, shaped like paths or not.
    for name in ["nope", "../../etc/passwd", str(home), "\x00", "a" * 5000]:
        for method, message in [("ModelMetadata", pb.ModelMetadataRequest),
                                ("ModelStatistics", pb.ModelStatisticsRequest)]:  # fmt: skip
            for version in ["", "v9"]:
                request = message(name=name, version=version).SerializeToString()
                cases.append(Rpc(f"{method} {name[:30]!r}:{version}", method, request,
                                 echoes=(name,)))  # fmt: skip
    # Bytes that are no message of the method, every method; repository RPCs on the data plane.
    methods = ["ServerLive", "ServerReady", "ModelReady", "ServerMetadata", "ModelMetadata",
               "ModelInfer", "ModelStatistics"]  # fmt: skip
    for method in methods:
        # Field 1 is a string in the messages that have fields: not UTF-8 is not a message.
        invalid_utf8 = [] if method.startswith("Server") else [b"\x0a\x02\xff\xfe"]
        for garbage in [b"\xff\xff\xff", b"\x0a\xff\xff\xff\xff\x0f", b"\x12\x05ab", *invalid_utf8]:
            cases.append(Rpc(f"garbage {method} {garbage!r}", method, garbage))
    for method in ["RepositoryIndex", "RepositoryModelLoad", "RepositoryModelUnload"]:
        cases.append(Rpc(f"data-plane {method}", method, b""))
    cases.append(Rpc("unknown method", "NoSuchMethod", b""))
    cases.append(Rpc("over-size", "ModelInfer", _infer("fraud", "", [b"\0" * OVER])))
    return cases


def _load(model: str, reference: str | None = None, **other: str) -> bytes:
    request = pb.RepositoryModelLoadRequest(model_name=model)
    parameters = dict(other) if reference is None else {"reference": reference, **other}
    for key, value in parameters.items():
        request.parameters[key].string_param = value
    return request.SerializeToString()


def _unload(model: str) -> bytes:
    return pb.RepositoryModelUnloadRequest(model_name=model).SerializeToString()


def grpc_control_cases(home: Path, token: str) -> list[Rpc]:
    cases: list[Rpc] = []
    auth = ("authorization", f"Bearer {token}")
    calls = {
        "RepositoryIndex": pb.RepositoryIndexRequest().SerializeToString(),
        "RepositoryModelLoad": _load("fraud", "nosuch:v1"),
        "RepositoryModelUnload": _unload("nope"),
    }  # fmt: skip
    refused = {
        "no token": (),
        "wrong": (("authorization", "Bearer wrong"),),
        "short": (("authorization", f"Bearer {token[:-1]}"),),
        "long": (("authorization", f"Bearer {token}x"),),
        "basic": (("authorization", token),),
        "empty": (("authorization", "Bearer "),),
        "other key": (("x-token", token),),
    }
    for method, request in calls.items():
        for name, metadata in refused.items():
            cases.append(Rpc(f"{method} {name}", method, request, metadata))
        for garbage in [b"\xff\xff\xff", b"\x0a\x02\xff\xfe"]:
            cases.append(Rpc(f"{method} garbage {garbage!r}", method, garbage, (auth,)))
        cases.append(Rpc(f"{method} repository", method, b"\x0a\x04/etc", (auth,), ("/etc",)))
    references = ["nosuch:v1", "fraud:v9", "/etc/passwd", "../../../etc/passwd", f"file://{home}",
                  str(home), "fraud@sha256:" + "0" * 64, "localhost:1/fraud:v1", "fraud:v1\x00",
                  "example.com/fraud:v1", "c:\\windows\\fraud"]  # fmt: skip
    for model in ["fraud", "nope", "../../etc", str(home), ""]:
        for reference in references:
            cases.append(Rpc(f"load {model[:30]!r} {reference[:40]!r}", "RepositoryModelLoad",
                             _load(model, reference), (auth,), (model, reference)))  # fmt: skip
        by_path = _load(model, None, path=str(home))
        label = f"load {model[:30]!r} path parameter"
        cases.append(Rpc(label, "RepositoryModelLoad", by_path, (auth,), (model, str(home))))
        if model != "fraud":  # a real unload, not a mistake
            label = f"unload {model[:30]!r}"
            cases.append(Rpc(label, "RepositoryModelUnload", _unload(model), (auth,), (model,)))
    cases.append(Rpc("load nope ''", "RepositoryModelLoad", _load("nope", ""), (auth,)))
    return cases


def test_grpc_errors_are_clean(target: Target) -> None:
    server = target.server
    assert server.grpc_port is not None and server.control_grpc_port is not None
    scan = target.scan()
    data, control = grpc_data_cases(target.home), grpc_control_cases(target.home, target.token)
    run_grpc(server.grpc_port, data, scan)
    run_grpc(server.control_grpc_port, control, scan)
    print(scan.summary("gRPC data and control plane"))
    assert len(data) + len(control) >= 200
    assert scan.statuses["UNAUTHENTICATED"] >= 3 * 7
    assert not scan.problems, "\n".join(scan.problems)
