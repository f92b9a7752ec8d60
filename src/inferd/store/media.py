"""Media types and annotation keys of inferd's model artifacts.

The manifest follows the OCI image-manifest spec; the artifact type and layer media types are the
CNCF ModelPack model-spec ones, so ModelPack-aware tools recognise the files. The config blob is
inferd's model card (:class:`inferd.card.ModelCard`), whose schema is not ModelPack's config
schema, so it carries inferd's own media type (see docs/store.md).
"""

from __future__ import annotations

from pathlib import PurePosixPath

# OCI image spec.
OCI_LAYOUT_VERSION = "1.0.0"
INDEX = "application/vnd.oci.image.index.v1+json"
MANIFEST = "application/vnd.oci.image.manifest.v1+json"
ANNOTATION_REF_NAME = "org.opencontainers.image.ref.name"
ANNOTATION_TITLE = "org.opencontainers.image.title"
ANNOTATION_CREATED = "org.opencontainers.image.created"
ANNOTATION_REVISION = "org.opencontainers.image.revision"

# CNCF ModelPack model-spec.
ARTIFACT_TYPE = "application/vnd.cncf.model.manifest.v1+json"
WEIGHT = "application/vnd.cncf.model.weight.v1.raw"
WEIGHT_CONFIG = "application/vnd.cncf.model.weight.config.v1.raw"
DOC = "application/vnd.cncf.model.doc.v1.raw"
CODE = "application/vnd.cncf.model.code.v1.raw"
ANNOTATION_FILEPATH = "org.cncf.model.filepath"
#: "false": the packager checked what the file is, not guessed it from its name. Set on the
#: files of a language model, each of which push reads (the card's ``llm.files``).
ANNOTATION_MEDIATYPE_UNTESTED = "org.cncf.model.file.mediatype.untested"

# inferd's own: the model card is the config blob.
CARD = "application/vnd.inferd.model.card.v1+json"
ANNOTATION_RUNTIME = "io.inferd.model.runtime"
#: On an untagged ``index.json`` entry: the remote reference it caches (``host/name:tag``).
ANNOTATION_REMOTE_REF = "io.inferd.remote.ref"
#: On a language model's layers: what the file is for and how it is encoded (the card's
#: ``llm.files``). ModelPack's media types say only "weight" or "weight config"; it defines no
#: tokenizer or format-specific types (``.gguf``/``.safetensors`` suffixes are Docker Model
#: Runner's, not the specification's).
ANNOTATION_FILE_ROLE = "io.inferd.model.file.role"
ANNOTATION_FILE_FORMAT = "io.inferd.model.file.format"

#: Every layer media type inferd writes; pull accepts only these.
LAYER_TYPES = frozenset({WEIGHT, WEIGHT_CONFIG, DOC, CODE})

_CONFIG_SUFFIXES = frozenset({".json", ".yaml", ".yml", ".txt", ".toml", ".model", ".vocab"})
_DOC_SUFFIXES = frozenset({".md", ".rst"})
_DOC_STEMS = frozenset({"readme", "license", "licence", "notice", "model_card"})
_CODE_SUFFIXES = frozenset({".py"})


#: The ModelPack media type of each role of a language model's files.
ROLE_MEDIA_TYPES: dict[str, str] = {
    "weights": WEIGHT,
    "index": WEIGHT_CONFIG,
    "config": WEIGHT_CONFIG,
    "tokenizer": WEIGHT_CONFIG,
    # An adapter's update is weights too; the role annotation says which kind.
    "adapter": WEIGHT,
}


def layer_media_type(title: str) -> str:
    """The ModelPack layer type of a file: docs, code, weight configs (tokenizers…) or weights.

    Chosen by name only to label the layer for other tools; it never decides how a file is
    loaded or whether it is safe (that is :mod:`inferd.store.safety`, which reads content).
    """
    path = PurePosixPath(title)
    suffix = path.suffix.lower()
    if suffix in _DOC_SUFFIXES or path.stem.lower() in _DOC_STEMS:
        return DOC
    if suffix in _CODE_SUFFIXES:
        return CODE
    if suffix in _CONFIG_SUFFIXES:
        return WEIGHT_CONFIG
    return WEIGHT
