"""A model package's ``model.tar.gz``: where it may come from, and the model version it holds.

The archive is what SageMaker training wrote (``ml/`` of the lake): it unpacks to a folder with
``model-card.json`` and the ONNX file the card names. Only regular files at the archive's top level
are read (a leading ``./`` is allowed, as ``tar czf model.tar.gz -C <folder> .`` writes it); links,
folders and anything below them are never followed, and sizes are bounded before a byte is read.
Other top-level files are left out of the release.
"""

from __future__ import annotations

import io
import re
import tarfile
from dataclasses import dataclass

from ml.model_card import ModelCard, parse_card, verify_version

CARD_FILE = "model-card.json"
# Lambda holds the archive and both files in memory; an edge model far above this is a design problem.
MAX_ARCHIVE_BYTES = 256 * 1024 * 1024
MAX_FILE_BYTES = 200 * 1024 * 1024
_S3_URL = re.compile(r"^s3://(?P<bucket>[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9])/(?P<key>.+)$")


@dataclass(frozen=True)
class ModelFiles:
    """A valid model version: its parsed card, and the exact bytes of the card and of the ONNX file."""

    card: ModelCard
    card_bytes: bytes
    onnx_bytes: bytes


def s3_location(url: str) -> tuple[str, str]:
    """``(bucket, key)`` of an ``s3://bucket/key`` URL; raises ValueError naming the URL."""
    match = _S3_URL.match(url)
    if not match:
        raise ValueError(f"ModelDataUrl {url!r} is not s3://<bucket>/<key>; fix: register the model's S3 artifact")
    return match["bucket"], match["key"]


def location_problems(url: str, *, bucket: str, prefix: str) -> list[str]:
    """Why the release may not read ``url``: it must be a ``.tar.gz`` under ``s3://<bucket>/<prefix>``."""
    try:
        actual_bucket, key = s3_location(url)
    except ValueError as error:
        return [str(error)]
    if actual_bucket != bucket or not key.startswith(prefix) or not key.endswith(".tar.gz"):
        return [
            f"ModelDataUrl {url!r} is not a .tar.gz under s3://{bucket}/{prefix}; "
            "fix: register models trained by the site's workspace, whose output lands there"
        ]
    return []


def read_model(archive: bytes, *, site_id: str) -> ModelFiles:
    """The model version in ``archive``, checked with ``ml.model_card``; raises ValueError, one problem a line."""
    if len(archive) > MAX_ARCHIVE_BYTES:
        raise ValueError(
            f"model.tar.gz: {len(archive)} bytes, above {MAX_ARCHIVE_BYTES}; fix: ship a smaller model to the edge"
        )
    files = _top_level_files(archive)
    if CARD_FILE not in files:
        raise ValueError(
            f"model.tar.gz: no {CARD_FILE} at its top level (found {sorted(files) or 'no files'}); "
            "fix: write the card beside model.onnx in the training job's model folder"
        )
    try:
        card = parse_card(files[CARD_FILE])
    except ValueError as error:
        raise ValueError("\n".join(f"{CARD_FILE}: {line}" for line in str(error).splitlines())) from None
    problems = []
    onnx = files.get(card.onnx.file)
    if onnx is None:
        problems.append(
            f"model.tar.gz: no {card.onnx.file} at its top level, which {CARD_FILE} names in onnx.file; "
            "fix: ship the ONNX file the card was written for"
        )
    else:
        try:
            verify_version(card, onnx)
        except ValueError as error:
            problems.append(f"{CARD_FILE}: {error}")
    card_site = card.machines[0].path.split("/")[1]  # the card holds machines of one site only
    if card_site != site_id:
        problems.append(
            f"{CARD_FILE}: its machines are in site {card_site!r}, not {site_id!r}; "
            "fix: train and register the model in that site's workspace (a model deploys to one site's gateways)"
        )
    if problems:
        raise ValueError("\n".join(problems))
    assert onnx is not None
    return ModelFiles(card=card, card_bytes=files[CARD_FILE], onnx_bytes=onnx)


def _top_level_files(archive: bytes) -> dict[str, bytes]:
    """Regular files at the top level of a gzip-compressed tar, by name."""
    files: dict[str, bytes] = {}
    try:
        with tarfile.open(fileobj=io.BytesIO(archive), mode="r:gz") as tar:
            for member in tar:
                name = member.name.removeprefix("./")
                if not member.isfile() or not name or "/" in name:
                    continue
                if member.size > MAX_FILE_BYTES:
                    raise ValueError(
                        f"model.tar.gz: {name} has {member.size} bytes, above {MAX_FILE_BYTES}; "
                        "fix: ship a smaller model to the edge"
                    )
                content = tar.extractfile(member)
                assert content is not None  # a regular file always has content
                files[name] = content.read()
    except (tarfile.TarError, EOFError, OSError) as error:
        raise ValueError(
            f"model.tar.gz: not a gzip-compressed tar ({error}); fix: package the model folder with tar czf"
        ) from None
    return files
