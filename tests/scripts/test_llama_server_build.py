"""``scripts/llama-server`` builds llama.cpp's server once however many callers ask at the same
time: a second call used to delete the tree the first was compiling into (two test runs, or a
helper's run beside ``make test``), and the first build failed. Run here with a stand-in
interpreter and cmake, so no compiler is needed."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

SCRIPT = Path(__file__).parents[2] / "scripts" / "llama-server"

#: Answers the script's two interpreter calls: the version, and ``pip download`` of the sdist.
FAKE_PYTHON = """#!/usr/bin/env bash
set -euo pipefail
if [ "$1" = "-c" ]; then echo 9.9.9; exit 0; fi
dest="${@: -1}"
src="$(mktemp -d)"
mkdir -p "$src/llama_cpp_python-9.9.9/vendor/llama.cpp"
tar -czf "$dest/llama_cpp_python-9.9.9.tar.gz" -C "$src" llama_cpp_python-9.9.9
"""

#: Configure writes a token into the build tree; a build checks, after "compiling" a while,
#: that its tree is still the one it started in, as make fails when its tree is deleted.
FAKE_CMAKE = """#!/usr/bin/env bash
set -euo pipefail
if [ "$1" = "-S" ]; then mkdir -p "$4"; echo "$$-$RANDOM" > "$4/CMakeCache.txt"; exit 0; fi
build="$2"
token="$(cat "$build/CMakeCache.txt")"
echo build >> "$BUILD_LOG"
sleep 1
[ "$(cat "$build/CMakeCache.txt" 2>/dev/null)" = "$token" ] || { echo "tree replaced" >&2; exit 2; }
mkdir -p "$build/bin"
printf '#!/bin/sh\\n' > "$build/bin/llama-server"
chmod +x "$build/bin/llama-server"
"""


def _tool(path: Path, text: str) -> Path:
    path.write_text(text)
    path.chmod(0o755)
    return path


def test_callers_at_once_share_one_build(tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    _tool(bin_dir / "cmake", FAKE_CMAKE)
    log = tmp_path / "builds.log"
    env = {
        **os.environ,
        "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
        "PYTHON": str(_tool(tmp_path / "python", FAKE_PYTHON)),
        "INFERD_BUILD_CACHE": str(tmp_path / "cache"),
        "BUILD_LOG": str(log),
    }
    calls = [
        subprocess.Popen([str(SCRIPT)], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        for _ in range(2)
    ]
    done = [call.communicate(timeout=60) for call in calls]
    for call, (out, err) in zip(calls, done, strict=True):
        assert call.returncode == 0, err.decode()
        assert Path(out.decode().strip()).is_file()
    assert log.read_text().splitlines() == ["build"]


def test_a_built_server_is_only_named(tmp_path: Path) -> None:
    binary = tmp_path / "cache" / "llama-server-9.9.9" / "build" / "bin" / "llama-server"
    binary.parent.mkdir(parents=True)
    _tool(binary, "#!/bin/sh\n")
    (tmp_path / "cache" / "llama-server-9.9.9" / ".built").touch()
    env = {
        **os.environ,
        "PYTHON": str(_tool(tmp_path / "python", FAKE_PYTHON)),
        "INFERD_BUILD_CACHE": str(tmp_path / "cache"),
    }
    out = subprocess.run([str(SCRIPT)], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == str(binary)
    assert out.stderr == ""
