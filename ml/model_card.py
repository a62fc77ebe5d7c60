"""Model card v1: what a trained model scores, how to feed it, and when its score means "anomalous".

Standard library only: the training job writes it, and the gateway's inference stage and the
release Lambda ship a copy of this module in their bundles, so all three read the card through
the same checks. A model version is a folder of two files, ``model.onnx`` and ``model-card.json``;
the card's ``version`` is the content hash of the ONNX bytes (``content_version``), so a card
cannot silently describe another model.

The ONNX input ``X`` is float32 ``[None, F]``: one row per machine, its features (the mean of each
tag over the last ``window_s`` seconds, in ``features`` order) normalised with that machine's
``(x - center) / scale``. ``anomaly_score = score_sign * <score_output>``: higher is more
anomalous, above ``threshold`` counts as anomalous, and it is emitted as the ordinary tag
``<machine path>/<output_tag>``.

Tag paths follow the envelope (enterprise/site/area/line/cell/tag). The pattern is repeated here
rather than imported so this file stays self-contained in the bundles; a test keeps both equal.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any, TypeGuard

SCHEMA = "dmc.model-card/1"
# A model version becomes the Greengrass component com.dmc.Model.<name>.
COMPONENT_PREFIX = "com.dmc.Model."
MAX_WINDOW_S = 3600

# Same segment as envelope/tag_envelope.py: a machine is enterprise/site/area/line/cell, a tag one more.
_SEGMENT = r"[A-Za-z0-9_.\-]+"
SEGMENT_RE = re.compile(rf"^{_SEGMENT}$")
MACHINE_PATH_RE = re.compile(rf"^{_SEGMENT}(/{_SEGMENT}){{4}}$")
TAG_PATH_RE = re.compile(rf"^{_SEGMENT}(/{_SEGMENT}){{5}}$")
NAME_RE = re.compile(r"^[A-Za-z0-9-]+$")
VERSION_RE = re.compile(r"^[0-9a-f]{12}$")
_ONNX_FILE_RE = re.compile(r"^[A-Za-z0-9_\-][A-Za-z0-9_.\-]*\.onnx$")
_TS_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?Z$")

_FIELDS = (
    "schema",
    "name",
    "version",
    "features",
    "window_s",
    "machines",
    "onnx",
    "output_tag",
    "threshold",
    "training",
    "metrics",
)
_MACHINE_FIELDS = ("path", "inputs", "center", "scale")
_ONNX_FIELDS = ("file", "input", "score_output", "score_sign")
_TRAINING_FIELDS = ("source", "window_start", "window_end", "rows")


@dataclass(frozen=True)
class Machine:
    """One machine (ISA-95 cell) the model scores, and how to normalise its features."""

    path: str
    inputs: tuple[str, ...]
    center: tuple[float, ...]
    scale: tuple[float, ...]


@dataclass(frozen=True)
class OnnxSpec:
    """Where the ONNX graph is and which of its names to use."""

    file: str
    input: str
    score_output: str
    score_sign: int


@dataclass(frozen=True)
class Training:
    """What the model learnt from: the curated table and the window of its rows."""

    source: str
    window_start: str
    window_end: str
    rows: int


@dataclass(frozen=True)
class ModelCard:
    """A parsed, valid model card (build it with ``parse_card``)."""

    name: str
    version: str
    features: tuple[str, ...]
    window_s: int
    machines: tuple[Machine, ...]
    onnx: OnnxSpec
    output_tag: str
    threshold: float
    training: Training
    # A read-only mapping is not hashable: the card hashes by everything else.
    metrics: Mapping[str, float] = field(hash=False)

    @property
    def component_name(self) -> str:
        """The Greengrass component that carries this model to the gateways."""
        return COMPONENT_PREFIX + self.name

    def score_path(self, machine: Machine) -> str:
        """The tag path a machine's anomaly score is emitted on."""
        return f"{machine.path}/{self.output_tag}"


def content_version(onnx_bytes: bytes) -> str:
    """The version of a model: the first 12 hex digits of the SHA-256 of its ONNX bytes."""
    return hashlib.sha256(onnx_bytes).hexdigest()[:12]


def verify_version(card: ModelCard, onnx_bytes: bytes) -> None:
    """Raise ValueError unless the ONNX bytes are the ones the card was written for."""
    actual = content_version(onnx_bytes)
    if actual != card.version:
        raise ValueError(
            f"version: card says {card.version!r} but {card.onnx.file} hashes to {actual!r}; "
            "fix: ship the model.onnx the card was written with (or re-run training)"
        )


def card_json(card: ModelCard) -> str:
    """The card as JSON: keys sorted, two-space indent, trailing newline (same card, same bytes)."""
    document = {
        "schema": SCHEMA,
        "name": card.name,
        "version": card.version,
        "features": list(card.features),
        "window_s": card.window_s,
        "machines": [
            {"path": m.path, "inputs": list(m.inputs), "center": list(m.center), "scale": list(m.scale)}
            for m in card.machines
        ],
        "onnx": {
            "file": card.onnx.file,
            "input": card.onnx.input,
            "score_output": card.onnx.score_output,
            "score_sign": card.onnx.score_sign,
        },
        "output_tag": card.output_tag,
        "threshold": card.threshold,
        "training": {
            "source": card.training.source,
            "window_start": card.training.window_start,
            "window_end": card.training.window_end,
            "rows": card.training.rows,
        },
        "metrics": dict(card.metrics),
    }
    return json.dumps(document, sort_keys=True, indent=2, allow_nan=False) + "\n"


def parse_card(source: str | bytes | Mapping[str, Any]) -> ModelCard:
    """Parse and validate a card (JSON text or a decoded object); raises ValueError naming every problem.

    Each problem reads ``<field>: <problem>; fix: <how>``, one per line.
    """
    if isinstance(source, (str, bytes)):
        try:
            document = json.loads(source)
        except (json.JSONDecodeError, UnicodeDecodeError) as error:
            raise ValueError(f"card: not JSON ({error}); fix: write the card with card_json") from error
    else:
        document = source
    if not isinstance(document, Mapping):
        raise ValueError(
            f"card: expected a JSON object, got {type(document).__name__}; fix: write the card with card_json"
        )
    errors: list[str] = []
    missing = [key for key in _FIELDS if key not in document]
    if missing:
        errors.append(f"card: missing {', '.join(missing)}; fix: add every field of {SCHEMA}")
    unknown = sorted(str(key) for key in document if key not in _FIELDS)
    if unknown:
        errors.append(f"card: unknown field(s) {', '.join(unknown)}; fix: remove them ({SCHEMA} has no such field)")
    if "schema" in document and document["schema"] != SCHEMA:
        errors.append(f"schema: {document['schema']!r} is not supported; fix: use {SCHEMA!r}")
    name = document.get("name")
    if "name" in document and (not isinstance(name, str) or not NAME_RE.match(name)):
        errors.append(f"name: {name!r} is not letters, digits and '-'; fix: use a name such as 'filler-anomaly'")
    version = document.get("version")
    if "version" in document and (not isinstance(version, str) or not VERSION_RE.match(version)):
        errors.append(
            f"version: {version!r} is not 12 lowercase hex digits; fix: use content_version(<model.onnx bytes>)"
        )
    features = _features(document, errors)
    window_s = document.get("window_s")
    if "window_s" in document and not (_is_int(window_s) and 1 <= window_s <= MAX_WINDOW_S):
        errors.append(f"window_s: {window_s!r} is not a whole number of seconds 1..{MAX_WINDOW_S}; fix: use e.g. 60")
    output_tag = document.get("output_tag")
    if "output_tag" in document:
        if not isinstance(output_tag, str) or not SEGMENT_RE.match(output_tag):
            errors.append(
                f"output_tag: {output_tag!r} is not a tag name ([A-Za-z0-9_.-]+); fix: use e.g. 'anomaly_score'"
            )
        elif features is not None and output_tag in features:
            errors.append(
                f"output_tag: {output_tag!r} is also a feature; fix: emit the score on a tag the model does not read"
            )
    machines = _machines(document, features, errors)
    onnx = _onnx(document, errors)
    threshold = document.get("threshold")
    if "threshold" in document and not _is_finite(threshold):
        errors.append(f"threshold: {threshold!r} is not a finite number; fix: use the score quantile from training")
    training = _training(document, errors)
    metrics = _metrics(document, errors)
    if errors:
        raise ValueError("\n".join(errors))
    assert features is not None and machines is not None and onnx is not None
    assert training is not None and metrics is not None
    return ModelCard(
        name=name,  # type: ignore[arg-type]
        version=version,  # type: ignore[arg-type]
        features=features,
        window_s=window_s,  # type: ignore[arg-type]
        machines=machines,
        onnx=onnx,
        output_tag=output_tag,  # type: ignore[arg-type]
        threshold=float(threshold),  # type: ignore[arg-type]
        training=training,
        metrics=metrics,
    )


def _is_int(value: Any) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _features(document: Mapping[str, Any], errors: list[str]) -> tuple[str, ...] | None:
    if "features" not in document:
        return None
    features = document["features"]
    if not isinstance(features, list) or not features:
        errors.append(f"features: {features!r} is not a non-empty list; fix: list the tag names the model reads")
        return None
    problems = len(errors)
    for index, feature in enumerate(features):
        if not isinstance(feature, str) or not SEGMENT_RE.match(feature):
            errors.append(
                f"features[{index}]: {feature!r} is not a tag name ([A-Za-z0-9_.-]+); "
                "fix: use the last segment of the tag path, e.g. 'temperature'"
            )
    if len(errors) > problems:
        return None
    repeated = sorted({feature for feature in features if features.count(feature) > 1})
    if repeated:
        errors.append(f"features: {', '.join(repeated)} listed twice; fix: list each feature once")
        return None
    return tuple(features)


def _machines(
    document: Mapping[str, Any], features: tuple[str, ...] | None, errors: list[str]
) -> tuple[Machine, ...] | None:
    if "machines" not in document:
        return None
    machines = document["machines"]
    if not isinstance(machines, list) or not machines:
        errors.append(f"machines: {machines!r} is not a non-empty list; fix: list the machines the model scores")
        return None
    problems = len(errors)
    parsed = [_machine(index, item, features, errors) for index, item in enumerate(machines)]
    if len(errors) > problems or features is None:
        return None
    result = tuple(machine for machine in parsed if machine is not None)
    paths = [machine.path for machine in result]
    repeated = sorted({path for path in paths if paths.count(path) > 1})
    if repeated:
        errors.append(f"machines: {', '.join(repeated)} listed twice; fix: list each machine once")
    sites = sorted({"/".join(path.split("/")[:2]) for path in paths})
    if len(sites) > 1:
        errors.append(
            f"machines: span enterprises/sites {', '.join(sites)}; "
            "fix: train one model per site (a model deploys to one site's gateways)"
        )
    return result


def _machine(index: int, item: Any, features: tuple[str, ...] | None, errors: list[str]) -> Machine | None:
    where = f"machines[{index}]"
    if not isinstance(item, Mapping):
        errors.append(f"{where}: expected an object, got {type(item).__name__}; fix: give path, inputs, center, scale")
        return None
    problems = len(errors)
    missing = [key for key in _MACHINE_FIELDS if key not in item]
    if missing:
        errors.append(f"{where}: missing {', '.join(missing)}; fix: give path, inputs, center, scale")
    unknown = sorted(str(key) for key in item if key not in _MACHINE_FIELDS)
    if unknown:
        errors.append(f"{where}: unknown field(s) {', '.join(unknown)}; fix: remove them")
    path = item.get("path")
    if "path" in item and (not isinstance(path, str) or not MACHINE_PATH_RE.match(path)):
        errors.append(
            f"{where}.path: {path!r} is not enterprise/site/area/line/cell; "
            "fix: use the machine's ISA-95 path, e.g. acme/plantA/filling/line1/filler1"
        )
        path = None
    if "inputs" in item and isinstance(path, str) and features is not None:
        expected = [f"{path}/{feature}" for feature in features]
        inputs = item["inputs"]
        # A valid machine path plus a valid feature is always a TAG_PATH_RE path: equality checks both.
        if inputs != expected:
            errors.append(
                f"{where}.inputs: {inputs!r} is not the machine path + '/' + each feature in order; "
                f"fix: use {expected!r}"
            )
    center = _vector(where, "center", item, features, errors, positive=False)
    scale = _vector(where, "scale", item, features, errors, positive=True)
    if len(errors) > problems or center is None or scale is None:
        return None
    return Machine(path=path, inputs=tuple(item["inputs"]), center=center, scale=scale)  # type: ignore[arg-type]


def _vector(
    where: str,
    key: str,
    item: Mapping[str, Any],
    features: tuple[str, ...] | None,
    errors: list[str],
    *,
    positive: bool,
) -> tuple[float, ...] | None:
    if key not in item:
        return None
    values = item[key]
    kind = "positive finite numbers" if positive else "finite numbers"
    if not isinstance(values, list):
        errors.append(f"{where}.{key}: {values!r} is not a list of {kind}; fix: give one number per feature")
        return None
    problems = len(errors)
    if features is not None and len(values) != len(features):
        errors.append(
            f"{where}.{key}: {len(values)} value(s) for {len(features)} feature(s); fix: give one number per feature"
        )
    for position, value in enumerate(values):
        if not _is_finite(value) or (positive and value <= 0):
            fix = "use the robust spread from training (floored above 0)" if positive else "use the training median"
            errors.append(f"{where}.{key}[{position}]: {value!r} is not a {kind[:-1]}; fix: {fix}")
    if len(errors) > problems:
        return None
    return tuple(float(value) for value in values)


def _onnx(document: Mapping[str, Any], errors: list[str]) -> OnnxSpec | None:
    if "onnx" not in document:
        return None
    spec = document["onnx"]
    if not isinstance(spec, Mapping):
        errors.append(f"onnx: expected an object, got {type(spec).__name__}; fix: give {', '.join(_ONNX_FIELDS)}")
        return None
    problems = len(errors)
    missing = [key for key in _ONNX_FIELDS if key not in spec]
    if missing:
        errors.append(f"onnx: missing {', '.join(missing)}; fix: give {', '.join(_ONNX_FIELDS)}")
    unknown = sorted(str(key) for key in spec if key not in _ONNX_FIELDS)
    if unknown:
        errors.append(f"onnx: unknown field(s) {', '.join(unknown)}; fix: remove them")
    file = spec.get("file")
    if "file" in spec and (not isinstance(file, str) or not _ONNX_FILE_RE.match(file)):
        errors.append(f"onnx.file: {file!r} is not a file name ending in .onnx; fix: use 'model.onnx'")
    for key in ("input", "score_output"):
        if key in spec and (not isinstance(spec[key], str) or not spec[key]):
            errors.append(f"onnx.{key}: {spec[key]!r} is not a non-empty string; fix: use the name in the ONNX graph")
    sign = spec.get("score_sign")
    if "score_sign" in spec and (not _is_int(sign) or sign not in (-1, 1)):
        errors.append(
            f"onnx.score_sign: {sign!r} is not -1 or 1; fix: use -1 when the output is higher for normal rows"
        )
    if len(errors) > problems:
        return None
    return OnnxSpec(file=file, input=spec["input"], score_output=spec["score_output"], score_sign=sign)  # type: ignore[arg-type]


def _timestamp(where: str, value: Any, errors: list[str]) -> datetime | None:
    if isinstance(value, str) and _TS_RE.match(value):
        try:
            return datetime.fromisoformat(value[:-1]).replace(tzinfo=UTC)
        except ValueError:
            pass
    errors.append(f"{where}: {value!r} is not ISO 8601 UTC; fix: write it like 2026-01-31T08:00:00Z")
    return None


def _training(document: Mapping[str, Any], errors: list[str]) -> Training | None:
    if "training" not in document:
        return None
    training = document["training"]
    if not isinstance(training, Mapping):
        errors.append(
            f"training: expected an object, got {type(training).__name__}; fix: give {', '.join(_TRAINING_FIELDS)}"
        )
        return None
    problems = len(errors)
    missing = [key for key in _TRAINING_FIELDS if key not in training]
    if missing:
        errors.append(f"training: missing {', '.join(missing)}; fix: give {', '.join(_TRAINING_FIELDS)}")
    unknown = sorted(str(key) for key in training if key not in _TRAINING_FIELDS)
    if unknown:
        errors.append(f"training: unknown field(s) {', '.join(unknown)}; fix: remove them")
    source = training.get("source")
    if "source" in training and (not isinstance(source, str) or not source):
        errors.append(
            f"training.source: {source!r} is not a non-empty string; fix: name the table, e.g. curated.tag_minute"
        )
    start = (
        _timestamp("training.window_start", training.get("window_start"), errors)
        if "window_start" in training
        else None
    )
    end = _timestamp("training.window_end", training.get("window_end"), errors) if "window_end" in training else None
    if start is not None and end is not None and not start < end:
        errors.append(
            f"training.window_end: {training['window_end']!r} is not after window_start "
            f"{training['window_start']!r}; fix: swap them or widen the window"
        )
    rows = training.get("rows")
    if "rows" in training and not (_is_int(rows) and rows >= 1):
        errors.append(f"training.rows: {rows!r} is not a positive whole number; fix: count the rows trained on")
    if len(errors) > problems:
        return None
    return Training(
        source=source,  # type: ignore[arg-type]
        window_start=training["window_start"],
        window_end=training["window_end"],
        rows=rows,  # type: ignore[arg-type]
    )


def _metrics(document: Mapping[str, Any], errors: list[str]) -> Mapping[str, float] | None:
    if "metrics" not in document:
        return None
    metrics = document["metrics"]
    if not isinstance(metrics, Mapping):
        errors.append(f"metrics: expected an object, got {type(metrics).__name__}; fix: map metric names to numbers")
        return None
    problems = len(errors)
    for key, value in metrics.items():
        if not isinstance(key, str) or not key or not _is_finite(value):
            errors.append(f"metrics.{key}: {value!r} is not a finite number; fix: map metric names to numbers")
    if len(errors) > problems:
        return None
    return MappingProxyType({key: float(value) for key, value in sorted(metrics.items())})
