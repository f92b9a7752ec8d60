#!/usr/bin/env bash
# Build llama.cpp's own llama-server, the anchor of bench/llm_bench.py, into bench/.cache/:
# from the llama-cpp-python source distribution inferd's llamacpp runtime is built from (the same
# llama.cpp), taken from the package index. About 7 minutes on 2 cores; nothing is committed.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
cache="$here/.cache"
python="${PYTHON:-$here/../.venv/bin/python}"
version="$("$python" -c 'import llama_cpp; print(llama_cpp.__version__)')"
mkdir -p "$cache/src"
binary="$cache/build/bin/llama-server"  # beside the shared libraries it links
if [ ! -x "$binary" ]; then
  "$python" -m pip download -q --no-deps --no-binary :all: "llama-cpp-python==$version" -d "$cache/src"
  tar -xzf "$cache/src/llama_cpp_python-$version.tar.gz" -C "$cache/src"
  source="$cache/src/llama_cpp_python-$version/vendor/llama.cpp"
  cmake -S "$source" -B "$cache/build" -DLLAMA_CURL=OFF -DLLAMA_BUILD_TESTS=OFF \
    -DLLAMA_BUILD_EXAMPLES=OFF -DCMAKE_BUILD_TYPE=Release >/dev/null
  cmake --build "$cache/build" --target llama-server -j "$(nproc)" >/dev/null
fi
echo "$binary"
