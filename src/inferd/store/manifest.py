"""The OCI image manifest of a model version: config = model card, one layer per file.

:meth:`Manifest.parse` is the only way bytes from the store become a manifest, and it re-checks
everything a crafted manifest could abuse: media types, digests (they become blob paths), sizes,
and layer titles (they become file paths on pull and materialize).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

from inferd.card import LlmFile
from inferd.errors import InvalidArgument, Unsupported
from inferd.reference import DIGEST_RE
from inferd.store import media
from inferd.store.safety import validate_title

#: Manifests and cards are small JSON documents; anything larger is refused unread.
MAX_DOCUMENT_BYTES = 4 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class Descriptor:
    """An OCI content descriptor."""

    media_type: str
    digest: str
    size: int
    annotations: Mapping[str, str] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "mediaType": self.media_type,
            "digest": self.digest,
            "size": self.size,
        }
        if self.annotations:
            out["annotations"] = dict(self.annotations)
        return out

    @classmethod
    def from_json(cls, value: object, where: str) -> Descriptor:
        """Validate a descriptor read from disk; ``where`` names it in errors."""
        if not isinstance(value, dict):
            raise Unsupported(f"{where}: a descriptor must be an object")
        media_type, digest, size = value.get("mediaType"), value.get("digest"), value.get("size")
        annotations = value.get("annotations", {})
        if not isinstance(media_type, str):
            raise Unsupported(f"{where}: mediaType is missing")
        if not isinstance(digest, str) or DIGEST_RE.fullmatch(digest) is None:
            raise Unsupported(f"{where}: digest is not a sha256 digest")
        if not isinstance(size, int) or isinstance(size, bool) or size < 0:
            raise Unsupported(f"{where}: size is not a non-negative integer")
        if not isinstance(annotations, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in annotations.items()
        ):
            raise Unsupported(f"{where}: annotations must map strings to strings")
        return cls(media_type, digest, size, annotations)


@dataclass(frozen=True, slots=True)
class Layer:
    """One model file: its relative POSIX path (the title) and its blob."""

    title: str
    descriptor: Descriptor

    @property
    def digest(self) -> str:
        return self.descriptor.digest

    @property
    def size(self) -> int:
        return self.descriptor.size


def layer(title: str, digest: str, size: int, llm_file: LlmFile | None = None) -> Layer:
    """A layer descriptor for a pushed file, annotated for OCI and ModelPack tools. A language
    model's file (``llm_file``, from its card) takes the media type of its role and says its
    role and format; any other file's type follows its name."""
    annotations = {media.ANNOTATION_TITLE: title, media.ANNOTATION_FILEPATH: title}
    if llm_file is None:
        return Layer(title, Descriptor(media.layer_media_type(title), digest, size, annotations))
    annotations |= {
        media.ANNOTATION_MEDIATYPE_UNTESTED: "false",
        media.ANNOTATION_FILE_ROLE: llm_file.role,
        media.ANNOTATION_FILE_FORMAT: llm_file.format,
    }
    media_type = media.ROLE_MEDIA_TYPES[llm_file.role]
    return Layer(title, Descriptor(media_type, digest, size, annotations))


@dataclass(frozen=True, slots=True)
class Manifest:
    """An inferd model manifest (schemaVersion 2, artifactType = ModelPack's model manifest)."""

    config: Descriptor
    layers: tuple[Layer, ...]
    annotations: Mapping[str, str] = field(default_factory=dict)
    #: The manifest this one refers to (OCI ``subject``): an adapter's base. Garbage
    #: collection keeps what a subject names, and registries list it as a referrer.
    subject: Descriptor | None = None

    @property
    def size(self) -> int:
        """Bytes of model files (layers), the size users see."""
        return sum(item.size for item in self.layers)

    def digests(self) -> set[str]:
        """Every blob this manifest references (config and layers)."""
        return {self.config.digest, *(item.digest for item in self.layers)}

    def to_bytes(self) -> bytes:
        document: dict[str, Any] = {
            "schemaVersion": 2,
            "mediaType": media.MANIFEST,
            "artifactType": media.ARTIFACT_TYPE,
            "config": self.config.to_json(),
            "layers": [item.descriptor.to_json() for item in self.layers],
        }
        if self.subject is not None:
            document["subject"] = self.subject.to_json()
        if self.annotations:
            document["annotations"] = dict(self.annotations)
        return orjson.dumps(document, option=orjson.OPT_INDENT_2)

    @classmethod
    def parse(cls, data: bytes, digest: str) -> Manifest:
        """Parse and validate manifest bytes already verified against ``digest``."""
        where = f"manifest {digest}"
        try:
            document = orjson.loads(data)
        except orjson.JSONDecodeError:
            raise Unsupported(f"{where} is not JSON") from None
        if not isinstance(document, dict):
            raise Unsupported(f"{where} is not a JSON object")
        if document.get("schemaVersion") != 2 or document.get("mediaType") != media.MANIFEST:
            raise Unsupported(f"{where} is not an OCI image manifest{_what_it_is(document)}")
        config = Descriptor.from_json(document.get("config"), f"{where} config")
        if config.media_type != media.CARD:
            raise Unsupported(f"{where} is not an inferd model (config is {config.media_type!r})")
        raw_layers = document.get("layers")
        if not isinstance(raw_layers, list):
            raise Unsupported(f"{where}: layers must be a list")
        layers: list[Layer] = []
        for index, raw in enumerate(raw_layers):
            descriptor = Descriptor.from_json(raw, f"{where} layer {index}")
            if descriptor.media_type not in media.LAYER_TYPES:
                raise Unsupported(f"{where} layer {index}: unknown media type")
            title = descriptor.annotations.get(media.ANNOTATION_TITLE)
            if title is None:
                raise Unsupported(f"{where} layer {index} has no title annotation")
            layers.append(Layer(validate_title(title), descriptor))
        check_titles(item.title for item in layers)
        annotations = document.get("annotations", {})
        if not isinstance(annotations, dict):
            raise Unsupported(f"{where}: annotations must be an object")
        subject = None
        if "subject" in document:
            subject = Descriptor.from_json(document["subject"], f"{where} subject")
            if subject.media_type != media.MANIFEST:
                raise Unsupported(f"{where}: its subject is not an OCI image manifest")
        return cls(config, tuple(layers), {str(k): str(v) for k, v in annotations.items()}, subject)


def check_titles(titles: Iterable[str]) -> None:
    """Refuse duplicate titles and a title that is also a parent directory of another."""
    seen: set[str] = set()
    parents: set[str] = set()
    for title in titles:
        if title in seen or title in parents:
            raise InvalidArgument(f"file title {title!r} appears twice or is also a directory")
        seen.add(title)
        parts = title.split("/")
        for end in range(1, len(parts)):
            parent = "/".join(parts[:end])
            if parent in seen:
                raise InvalidArgument(f"file title {parent!r} is both a file and a directory")
            parents.add(parent)


def _what_it_is(document: dict[str, object]) -> str:
    """What a document that is not an OCI image manifest is, for its error message."""
    found = document.get("mediaType")
    if found in (media.INDEX, "application/vnd.docker.distribution.manifest.list.v2+json"):
        return (
            f" but an image index ({found}), as a multi-platform image is: a model version is"
            " one manifest; name the one meant by its digest (NAME@sha256:…)"
        )
    if isinstance(found, str) and found:
        return f" (its mediaType is {found!r})"
    return f" (schemaVersion {document.get('schemaVersion')!r}, no mediaType)"
