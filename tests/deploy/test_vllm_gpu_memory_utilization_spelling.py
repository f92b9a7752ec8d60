"""vLLM reads ``--gpu_memory_utilization`` as ``--gpu-memory-utilization`` (its parser takes
underscores in long flags): the memory check of ``inferd gpu plan`` and ``inferd k8s render``
read only the dashed spelling, so a share written with underscores was sized at vLLM's default
instead (a replica too small for its GPU passed, or a fitting one was refused)."""

from __future__ import annotations

from fractions import Fraction

import pytest

from inferd.deploy.llm_memory import gpu_memory_utilization
from inferd.errors import InvalidArgument
from inferd.spec.llm import LlmSpec


@pytest.mark.parametrize(
    "args",
    [
        ["--gpu-memory-utilization", "0.5"],
        ["--gpu_memory_utilization", "0.5"],
        ["--gpu_memory_utilization=0.5"],
        ["--gpu-memory_utilization=0.5"],
    ],
)
def test_every_spelling_vllm_reads_is_read(args: list[str]) -> None:
    llm = LlmSpec(engine="vllm", engine_args=args)
    assert gpu_memory_utilization("chat", llm) == Fraction(1, 2)


def test_a_bad_share_spelt_with_underscores_is_refused() -> None:
    llm = LlmSpec(engine="vllm", engine_args=["--gpu_memory_utilization", "2"])
    with pytest.raises(InvalidArgument, match="--gpu-memory-utilization '2'"):
        gpu_memory_utilization("chat", llm)
