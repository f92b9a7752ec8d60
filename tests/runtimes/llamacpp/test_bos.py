"""A chat template that writes ``bos_token`` itself (Llama 3's, Mistral's, Gemma's…) on a model
whose tokenizer adds BOS too (``tokenizer.ggml.add_bos_token``): the prompt starts with one BOS,
not two, as llama.cpp's own chat templating does (it drops the template's leading BOS)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import gguf
import pytest
from gguf.scripts.gguf_new_metadata import MetadataDetails, copy_with_new_metadata

from inferd.card import ModelCard
from inferd.generation import Message
from inferd.runtimes.base import LoadOptions
from inferd.runtimes.llamacpp.runtime import LlamaCppRuntime, LlamaModel

#: The tiny model's BOS, ``<|endoftext|>`` (after 256 byte tokens and 7 merges).
BOS = 263
TEMPLATE = (
    "{{ bos_token }}{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}"
    "<|im_end|>\n{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


def with_metadata(source: Path, target: Path, changes: dict[str, MetadataDetails]) -> Path:
    reader = gguf.GGUFReader(source)
    arch = reader.get_field(gguf.Keys.General.ARCHITECTURE)
    assert arch is not None
    writer = gguf.GGUFWriter(target, arch.contents())
    copy_with_new_metadata(reader, writer, changes, [])
    return target


@pytest.fixture(scope="module")
def bos_model(tiny_file: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LlamaModel]:
    folder = tmp_path_factory.mktemp("bos")
    file = with_metadata(
        tiny_file,
        folder / "bos.gguf",
        {
            gguf.Keys.Tokenizer.ADD_BOS: MetadataDetails(gguf.GGUFValueType.BOOL, True),
            gguf.Keys.Tokenizer.CHAT_TEMPLATE: MetadataDetails(gguf.GGUFValueType.STRING, TEMPLATE),
        },
    )
    card = ModelCard(name="bos", runtime="llamacpp", entrypoint=file.name)
    loaded = LlamaCppRuntime().load(folder, card, LoadOptions(max_num_seqs=1))
    assert isinstance(loaded, LlamaModel)
    yield loaded
    loaded.close()


def test_a_template_that_writes_bos_gives_one_bos(bos_model: LlamaModel) -> None:
    prompt = bos_model.chat_prompt([Message("user", "Hi")])
    tokens = bos_model._weights.tokenize(prompt)
    assert tokens[0] == BOS
    assert tokens.count(BOS) == 1, tokens[:4]
    # The same prompt as the template wrote it, without its leading BOS, tokenizes alike.
    assert prompt.endswith("<|im_start|>assistant\n")


def test_a_completion_prompt_is_read_as_given(bos_model: LlamaModel) -> None:
    # Only the chat template's BOS is dropped: a prompt that is given is tokenized as it is.
    tokens = bos_model._weights.tokenize("Hi")
    assert tokens[0] == BOS and tokens.count(BOS) == 1
