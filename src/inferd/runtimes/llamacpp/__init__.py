"""The ``llamacpp`` runtime: GGUF language models with continuous batching on llama.cpp
(``pip install 'inferd[llm]'``). See docs/llm.md."""

from inferd.runtimes.llamacpp.runtime import LlamaCppRuntime

__all__ = ["LlamaCppRuntime"]
