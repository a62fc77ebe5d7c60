"""A model version as a Greengrass component: name, content-hash version, artifact keys and recipe.

Name: ``com.dmc.Model.<card name>`` (``ModelCard.component_name``).

Content hash: the SHA-256 of the manifest ``<sha256 hex>  <file name>\\n`` of the ONNX file and
``model-card.json``, sorted by file name, so the hash covers exactly the two artifacts the gateways
receive (the card's own ``version`` covers only the ONNX bytes).

Version: ``1.0.<n>``, ``n`` the first 7 hex digits (28 bits) of the content hash as a decimal, as the
edge components' versions are made (``edge/greengrass/build_artifacts.py``): the same content keeps its
version, so approving it again finds the component already there. Greengrass only needs the version
to be semantic and unique per component; the order of two versions means nothing here, because a
deployment names the exact version. The full hash sits in the recipe's description and default
configuration, so a second content whose hash starts with the same 7 digits is detected and refused
(``collision_problem``), never deployed under the first one's version.

Artifacts: ``s3://<artifacts bucket>/models/<name>/<content hash>/<file>``, content-addressed, no
archive, no lifecycle: the component only carries files, and the tag pipeline reads them (its
configuration's ``models`` entries point at the folder the nucleus installs them to). Both files are
readable by every component user on the gateway (``Read: ALL``), as Greengrass requires for another
component to read them. Each artifact carries its SHA-256 digest (base64, ``Algorithm: SHA-256``):
Greengrass records its own computation of the same value when the version is created, and the
nucleus verifies every download against it before installing.
"""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass
from typing import Any

from .archive import CARD_FILE, ModelFiles

RECIPE_FORMAT = "2020-01-25"
PUBLISHER = "Digital Manufacturing Cloud"
ARTIFACTS_PREFIX = "models"
HASH_LABEL = "content sha256:"


@dataclass(frozen=True)
class ModelComponent:
    """One model version packaged for Greengrass; ``files`` are (file name, bytes), sorted by name."""

    name: str
    model: str
    version: str
    content_hash: str
    card_version: str
    machines: int
    files: tuple[tuple[str, bytes], ...]

    def key(self, file_name: str) -> str:
        """The artifact's S3 key: content-addressed under the model's name."""
        return f"{ARTIFACTS_PREFIX}/{self.model}/{self.content_hash}/{file_name}"

    @property
    def description(self) -> str:
        return (
            f"ONNX model {self.model} (card version {self.card_version}) scoring {self.machines} machine(s); "
            f"{HASH_LABEL}{self.content_hash}"
        )


def content_hash(files: dict[str, bytes]) -> str:
    """The SHA-256 of the sorted ``<sha256 hex>  <name>`` manifest of ``files``."""
    manifest = "".join(f"{hashlib.sha256(data).hexdigest()}  {name}\n" for name, data in sorted(files.items()))
    return hashlib.sha256(manifest.encode()).hexdigest()


def version_of(content: str) -> str:
    """``1.0.<n>``: the first 28 bits of the content hash. 7 hex digits stay far below 2**31, the largest
    part some semantic-version parsers accept."""
    return f"1.0.{int(content[:7], 16)}"


def model_component(model: ModelFiles) -> ModelComponent:
    card = model.card
    files = {card.onnx.file: model.onnx_bytes, CARD_FILE: model.card_bytes}
    digest = content_hash(files)
    return ModelComponent(
        name=card.component_name,
        model=card.name,
        version=version_of(digest),
        content_hash=digest,
        card_version=card.version,
        machines=len(card.machines),
        files=tuple(sorted(files.items())),
    )


def recipe(component: ModelComponent, *, bucket: str) -> dict[str, Any]:
    """The component's recipe: the two artifacts, the content hash, no lifecycle."""
    return {
        "RecipeFormatVersion": RECIPE_FORMAT,
        "ComponentName": component.name,
        "ComponentVersion": component.version,
        "ComponentDescription": component.description,
        "ComponentPublisher": PUBLISHER,
        "ComponentConfiguration": {
            "DefaultConfiguration": {
                "model": component.model,
                "cardVersion": component.card_version,
                "contentHash": component.content_hash,
            }
        },
        "Manifests": [
            {
                "Platform": {"os": "linux"},
                "Artifacts": [
                    {
                        "Uri": f"s3://{bucket}/{component.key(name)}",
                        "Digest": base64.b64encode(hashlib.sha256(data).digest()).decode(),
                        "Algorithm": "SHA-256",
                        "Unarchive": "NONE",
                        "Permission": {"Read": "ALL", "Execute": "NONE"},
                    }
                    for name, data in component.files
                ],
            }
        ],
    }


def recipe_bytes(component: ModelComponent, *, bucket: str) -> bytes:
    """The recipe as the JSON bytes sent to Greengrass: keys sorted, so the same model sends the same bytes."""
    return json.dumps(recipe(component, bucket=bucket), sort_keys=True, separators=(",", ":")).encode()


def collision_problem(component: ModelComponent, existing_description: str) -> str | None:
    """Why an existing component version is not this content, or None when it is."""
    if existing_description.endswith(f"{HASH_LABEL}{component.content_hash}"):
        return None
    return (
        f"{component.name} {component.version} already exists with other content ({existing_description!r}), "
        f"not {HASH_LABEL}{component.content_hash}; fix: retrain or change the model so its content hash differs"
    )
