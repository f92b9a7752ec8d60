"""Engines' own metrics mapped into inferd's schema, on expositions in each engine's format:
llama-server's as its ``--metrics`` endpoint writes it (tools/server/server-task.cpp) and
vLLM's as its production-metrics page shows it (labels ``model_name`` and ``engine``)."""

from __future__ import annotations

import subprocess

from prometheus_client.parser import text_string_to_metric_families

from inferd.control.gateway.aggregate import merge
from inferd.control.replicas.engine_metrics import EngineSeries, in_flight, to_inferd
from inferd.control.replicas.topology import Replica

LLAMA_SERVER = """\
# HELP llamacpp:prompt_tokens_total Number of prompt tokens processed, excluding cached tokens
# TYPE llamacpp:prompt_tokens_total counter
llamacpp:prompt_tokens_total 120
# HELP llamacpp:prompt_tokens_cached_total Number of prompt tokens reused from the cache
# TYPE llamacpp:prompt_tokens_cached_total counter
llamacpp:prompt_tokens_cached_total 30
# HELP llamacpp:tokens_predicted_total Number of generation tokens processed
# TYPE llamacpp:tokens_predicted_total counter
llamacpp:tokens_predicted_total 64
# HELP llamacpp:requests_processing Number of requests processing
# TYPE llamacpp:requests_processing gauge
llamacpp:requests_processing 3
# HELP llamacpp:requests_deferred Number of requests deferred
# TYPE llamacpp:requests_deferred gauge
llamacpp:requests_deferred 2
"""

VLLM = """\
# HELP vllm:num_requests_running Number of requests in model execution batches.
# TYPE vllm:num_requests_running gauge
vllm:num_requests_running{engine="0",model_name="llama"} 5.0
vllm:num_requests_running{engine="1",model_name="llama"} 4.0
# HELP vllm:num_requests_waiting Number of requests waiting to be processed.
# TYPE vllm:num_requests_waiting gauge
vllm:num_requests_waiting{engine="0",model_name="llama"} 7.0
# HELP vllm:kv_cache_usage_perc KV-cache usage. 1 means 100 percent usage.
# TYPE vllm:kv_cache_usage_perc gauge
vllm:kv_cache_usage_perc{engine="0",model_name="llama"} 0.25
vllm:kv_cache_usage_perc{engine="1",model_name="llama"} 0.5
# HELP vllm:prompt_tokens_total Number of prefill tokens processed.
# TYPE vllm:prompt_tokens_total counter
vllm:prompt_tokens_total{engine="0",model_name="llama"} 1000.0
vllm:prompt_tokens_created{engine="0",model_name="llama"} 1.7e+09
# HELP vllm:generation_tokens_total Number of generation tokens processed.
# TYPE vllm:generation_tokens_total counter
vllm:generation_tokens_total{engine="0",model_name="llama"} 250.0
"""


Key = tuple[str, frozenset[tuple[str, str]]]


def samples(text: str) -> dict[Key, float]:
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def key(name: str, model: str, version: str, kind: str | None = None) -> Key:
    labels = {"model": model, "version": version} | ({"type": kind} if kind else {})
    return name, frozenset(labels.items())


def test_llama_server_series_map_onto_inferds() -> None:
    text = to_inferd(EngineSeries("llama-server", "tiny", "v1"), LLAMA_SERVER)
    assert samples(text) == {
        key("inferd_llm_requests_running", "tiny", "v1"): 3,
        key("inferd_llm_requests_waiting", "tiny", "v1"): 2,
        key("inferd_llm_tokens_total", "tiny", "v1", "input"): 150,  # cached ones too
        key("inferd_llm_tokens_total", "tiny", "v1", "output"): 64,
    }  # no KV-cache ratio: this llama.cpp does not export one, and none is made up


def test_vllm_series_map_onto_inferds_summed_over_engine_cores() -> None:
    text = to_inferd(EngineSeries("vllm", "llama", "v2"), VLLM)
    assert samples(text) == {
        key("inferd_llm_requests_running", "llama", "v2"): 9,
        key("inferd_llm_requests_waiting", "llama", "v2"): 7,
        key("inferd_llm_tokens_total", "llama", "v2", "input"): 1000,
        key("inferd_llm_tokens_total", "llama", "v2", "output"): 250,
        key("inferd_llm_kv_cache_usage_ratio", "llama", "v2"): 0.5,  # the fullest core
    }


def test_vllm_before_0_10_reported_kv_cache_as_gpu_cache_usage() -> None:
    old = VLLM.replace("vllm:kv_cache_usage_perc", "vllm:gpu_cache_usage_perc")
    text = to_inferd(EngineSeries("vllm", "llama", "v2"), old)
    assert samples(text)[key("inferd_llm_kv_cache_usage_ratio", "llama", "v2")] == 0.5


def test_an_exposition_that_does_not_parse_maps_to_nothing() -> None:
    assert to_inferd(EngineSeries("vllm", "llama", "v2"), "not { an exposition") == ""


def test_in_flight_counts_running_and_waiting() -> None:
    assert in_flight("llama-server", LLAMA_SERVER) == 5
    assert in_flight("vllm", VLLM) == 16
    assert in_flight("vllm", "# nothing\n") is None
    assert in_flight("vllm", "not { an exposition") is None


def test_the_gateway_merge_of_an_engine_and_inferd_replica_is_a_valid_exposition() -> None:
    engine = Replica("e", "chat", "v1", "127.0.0.1", 1, "ready")
    own = Replica("i", "chat", "v2", "127.0.0.1", 2, "ready")
    inferd_text = (
        "# HELP inferd_llm_tokens_total Tokens.\n# TYPE inferd_llm_tokens_total counter\n"
        'inferd_llm_tokens_total{model="tiny",version="v2",operation="chat",type="input"} 5.0\n'
    )
    mapped = to_inferd(EngineSeries("llama-server", "tiny", "v1"), LLAMA_SERVER)
    merged = merge([(engine, mapped), (own, inferd_text)])
    check = subprocess.run(
        ["/usr/bin/promtool", "check", "metrics"], input=merged, capture_output=True, check=False
    )
    assert check.returncode == 0, check.stderr.decode() + check.stdout.decode()
    tokens = [k for k in samples(merged.decode()) if k[0] == "inferd_llm_tokens_total"]
    assert len(tokens) == 3  # one family: the engine's input and output, the replica's input
