"""The model card: what a model version is, stored as the config blob of its OCI artifact.

The card is the single description every layer shares: the store writes it, runtimes load by it,
the server publishes its signature as model metadata, drift checks read its reference profile.
"""

from __future__ import annotations

from datetime import datetime
from itertools import pairwise
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    field_validator,
    model_serializer,
    model_validator,
)

#: Open Inference Protocol datatypes and their element size in bytes (BYTES is variable: 0).
DATATYPE_SIZES: dict[str, int] = {
    "BOOL": 1,
    "UINT8": 1,
    "UINT16": 2,
    "UINT32": 4,
    "UINT64": 8,
    "INT8": 1,
    "INT16": 2,
    "INT32": 4,
    "INT64": 8,
    "FP16": 2,
    "FP32": 4,
    "FP64": 8,
    "BYTES": 0,
}

Datatype = Literal[
    "BOOL", "UINT8", "UINT16", "UINT32", "UINT64", "INT8", "INT16", "INT32", "INT64",
    "FP16", "FP32", "FP64", "BYTES",
]  # fmt: skip

CARD_SCHEMA_VERSION = 1


class TensorSpec(BaseModel):
    """One input or output: a name, an OIP datatype and a shape where -1 is a variable dimension."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1, max_length=256)
    datatype: Datatype
    shape: tuple[int, ...]

    @field_validator("shape")
    @classmethod
    def _dims(cls, shape: tuple[int, ...]) -> tuple[int, ...]:
        if any(d < -1 for d in shape):
            raise ValueError("dimensions are -1 (variable) or >= 0")
        return shape


class Signature(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    inputs: tuple[TensorSpec, ...] = ()
    outputs: tuple[TensorSpec, ...] = ()


class FeatureProfile(BaseModel):
    """One feature (an index on an input's last axis) of the training data.

    ``edges`` are the interior cut points of the histogram, strictly increasing; bin ``i`` holds
    values ``v`` with ``edges[i-1] <= v < edges[i]``, and the first and last bins are open-ended,
    so every finite value falls in one of ``len(edges) + 1`` bins. ``proportions`` is the share of
    the training rows that hold a value in each bin (they sum to 1); ``missing`` is the share of
    all training rows where the feature is missing (NaN), counted apart from the bins. Profiles
    written before it was counted have none, and read as 0.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1, max_length=128)
    edges: tuple[float, ...]
    proportions: tuple[float, ...]
    mean: float
    std: float
    min: float
    max: float
    missing: float = Field(default=0.0, ge=0.0, lt=1.0)

    @model_serializer(mode="wrap")
    def _omit_no_missing(self, handler: SerializerFunctionWrapHandler) -> Any:
        # Without missing values a profile is written as before, so its card digest is unchanged.
        data = handler(self)
        if not self.missing and isinstance(data, dict):
            data.pop("missing", None)
        return data

    @model_validator(mode="after")
    def _histogram(self) -> FeatureProfile:
        if len(self.proportions) != len(self.edges) + 1:
            raise ValueError("a feature has one more proportion than edges")
        if any(b <= a for a, b in pairwise(self.edges)):
            raise ValueError("edges must be strictly increasing")
        if any(p < 0 for p in self.proportions) or abs(sum(self.proportions) - 1) > 1e-6:
            raise ValueError(
                "proportions are non-negative and sum to 1 (shares of the rows with a value, so "
                "missing ones apart)"
            )
        return self


class InputProfile(BaseModel):
    """The profiled features of one input tensor (in the order of its last axis)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1, max_length=256)
    features: tuple[FeatureProfile, ...] = Field(min_length=1)


class ReferenceProfile(BaseModel):
    """Per-feature histograms of the training data: what drift is measured against."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    #: Training rows the histograms were computed from.
    rows: int = Field(ge=1)
    inputs: tuple[InputProfile, ...] = Field(min_length=1)


LlmFileRole = Literal["weights", "index", "config", "tokenizer", "adapter"]
LlmFileFormat = Literal["gguf", "safetensors", "json", "jinja", "sentencepiece", "text"]


class LlmFile(BaseModel):
    """One file of an LLM artifact: what it is for and how it is encoded. Its layer carries the
    same as annotations, beside the ModelPack media type its role maps to (docs/llm.md)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    #: The file's path in the artifact (its layer title).
    path: str = Field(min_length=1)
    #: ``weights`` (GGUF, safetensors shards), ``index`` (the shard index), ``config``
    #: (``config.json``, ``generation_config.json``) or ``tokenizer`` (tokenizer files and chat
    #: templates) or ``adapter`` (a LoRA adapter's update).
    role: LlmFileRole
    format: LlmFileFormat


class LlmCard(BaseModel):
    """What a language model's files say about it, read from their headers and small JSON files
    at push, never from the weights (docs/llm.md#the-card)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    #: The weights' format: one GGUF file, or safetensors shards with a Hugging Face config.
    format: Literal["gguf", "safetensors"]
    #: GGUF ``general.architecture`` or config.json ``model_type`` (``llama``, ``qwen2``…).
    architecture: str = Field(min_length=1)
    #: Elements of every weight tensor, summed over files.
    parameters: int = Field(ge=0)
    #: The context the model was trained for (GGUF ``<arch>.context_length``, config.json
    #: ``max_position_embeddings``); None when the files do not say.
    context_length: int | None = Field(default=None, ge=0)
    vocab_size: int | None = Field(default=None, ge=0)
    #: Whether the files carry a chat template (GGUF ``tokenizer.chat_template``;
    #: ``tokenizer_config.json`` ``chat_template`` or a ``chat_template.jinja``/``.json`` file).
    chat_template: bool = False
    #: GGUF ``general.file_type`` as llama.cpp names it (``Q4_K_M``, ``F16``…).
    file_type: str | None = None
    #: config.json ``quantization_config.quant_method`` (``gptq``, ``awq``…).
    quantization: str | None = None
    #: Elements per tensor type (GGUF's ggml types, safetensors dtypes), largest first.
    tensor_types: dict[str, int] = {}
    files: tuple[LlmFile, ...] = ()
    #: A fine-tuned adapter (``lora``) holds only its update: ``base`` is the version it applies
    #: to, as a store reference pinned by manifest digest (``name@sha256:…``), loaded with it.
    adapter: Literal["lora"] | None = None
    base: str | None = None


class ModelCard(BaseModel):
    """The config blob of a model artifact (media type :data:`inferd.store.media.CARD`)."""

    model_config = ConfigDict(extra="forbid")

    schema_version: int = CARD_SCHEMA_VERSION
    name: str
    runtime: str = Field(description="runtime that loads the files, e.g. 'onnx' or 'sklearn'")
    signature: Signature = Signature()
    labels: dict[str, str] = {}
    metrics: dict[str, float] = {}
    #: When the model was built, as its builder declares it reproducibly (``inferd push`` takes
    #: ``SOURCE_DATE_EPOCH``); None: not declared. Never the push time, which would make every
    #: push of the same files a new digest: the store's history records when a version arrived.
    created: datetime | None = None
    source_revision: str | None = None
    #: Entry point inside the artifact (a file, or ``module:Class`` for the python runtime).
    entrypoint: str | None = None
    #: Set only when the pusher explicitly trusted a format that can execute code on load.
    trusted_unsafe_formats: tuple[str, ...] = ()
    #: Reference profile of the training data, for drift checks (None: drift is not measured).
    reference_profile: ReferenceProfile | None = None
    #: What a language model's files declare (None: not a language model).
    llm: LlmCard | None = None
