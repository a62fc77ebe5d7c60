"""The model card: a valid card round-trips byte for byte, every field refuses bad values with a message
naming the field and the fix, and the tag-path patterns agree with the envelope's."""

from __future__ import annotations

import copy
import json
import re
from typing import Any

import pytest

from envelope import tag_envelope
from ml.model_card import (
    MACHINE_PATH_RE,
    SCHEMA,
    SEGMENT_RE,
    TAG_PATH_RE,
    ModelCard,
    card_json,
    content_version,
    parse_card,
    verify_version,
)

FILLER = "acme/plantA/filling/line1/filler1"
CAPPER = "acme/plantA/filling/line1/capper1"


def card_document() -> dict[str, Any]:
    """A valid card of two machines and two features."""
    return {
        "schema": SCHEMA,
        "name": "filler-anomaly",
        "version": content_version(b"onnx bytes"),
        "features": ["temperature", "pressure"],
        "window_s": 60,
        "machines": [
            {
                "path": FILLER,
                "inputs": [f"{FILLER}/temperature", f"{FILLER}/pressure"],
                "center": [61.2, 2.1],
                "scale": [0.8, 0.05],
            },
            {
                "path": CAPPER,
                "inputs": [f"{CAPPER}/temperature", f"{CAPPER}/pressure"],
                "center": [40, 1],
                "scale": [1, 0.1],
            },
        ],
        "onnx": {"file": "model.onnx", "input": "X", "score_output": "scores", "score_sign": -1},
        "output_tag": "anomaly_score",
        "threshold": 0.62,
        "training": {
            "source": "curated.tag_minute",
            "window_start": "2026-01-05T06:00:00Z",
            "window_end": "2026-01-05T10:00:00Z",
            "rows": 960,
        },
        "metrics": {"train_anomalous_share": 0.01},
    }


def with_change(path: str, value: Any) -> dict[str, Any]:
    """The valid card with one field (dotted path, list indexes as numbers) set, or removed when value is ...."""
    document = copy.deepcopy(card_document())
    *parents, last = path.split(".")
    node: Any = document
    for parent in parents:
        node = node[int(parent)] if isinstance(node, list) else node[parent]
    key: int | str = int(last) if isinstance(node, list) else last
    if value is ...:
        del node[key]
    else:
        node[key] = value
    return document


def problems(document: Any) -> list[str]:
    with pytest.raises(ValueError) as raised:
        parse_card(document)
    return str(raised.value).split("\n")


def test_a_valid_card_parses_into_typed_fields() -> None:
    card = parse_card(card_document())
    assert card.name == "filler-anomaly"
    assert card.features == ("temperature", "pressure")
    assert [m.path for m in card.machines] == [FILLER, CAPPER]
    assert card.machines[1].center == (40.0, 1.0)
    assert isinstance(card.machines[1].center[0], float)
    assert card.onnx.score_sign == -1
    assert card.training.rows == 960
    assert dict(card.metrics) == {"train_anomalous_share": 0.01}
    assert card.component_name == "com.dmc.Model.filler-anomaly"
    assert card.score_path(card.machines[0]) == f"{FILLER}/anomaly_score"


def test_card_json_is_stable_sorted_and_round_trips() -> None:
    card = parse_card(card_document())
    text = card_json(card)
    assert text.endswith("}\n")
    assert list(json.loads(text)) == sorted(json.loads(text))
    assert parse_card(text) == card
    assert card_json(parse_card(text)) == text
    assert parse_card(text.encode()) == card


def test_the_card_is_immutable_and_hashable() -> None:
    card = parse_card(card_document())
    with pytest.raises(AttributeError):
        card.threshold = 1.0  # type: ignore[misc]
    with pytest.raises(TypeError):
        card.metrics["x"] = 1.0  # type: ignore[index]
    assert hash(card) == hash(parse_card(card_document()))
    assert isinstance(card, ModelCard)


def test_content_version_is_the_sha256_prefix_and_verify_version_checks_it() -> None:
    assert content_version(b"") == "e3b0c44298fc"
    card = parse_card(card_document())
    verify_version(card, b"onnx bytes")
    with pytest.raises(ValueError) as raised:
        verify_version(card, b"other bytes")
    assert str(raised.value) == (
        f"version: card says {card.version!r} but model.onnx hashes to {content_version(b'other bytes')!r}; "
        "fix: ship the model.onnx the card was written with (or re-run training)"
    )


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        ("schema", "dmc.model-card/2", "schema: 'dmc.model-card/2' is not supported; fix: use 'dmc.model-card/1'"),
        (
            "name",
            "filler anomaly",
            "name: 'filler anomaly' is not letters, digits and '-'; fix: use a name such as 'filler-anomaly'",
        ),
        (
            "version",
            "ABC",
            "version: 'ABC' is not 12 lowercase hex digits; fix: use content_version(<model.onnx bytes>)",
        ),
        ("features", [], "features: [] is not a non-empty list; fix: list the tag names the model reads"),
        (
            "features",
            ["temperature", "temperature"],
            "features: temperature listed twice; fix: list each feature once",
        ),
        (
            "features.1",
            "a/b",
            "features[1]: 'a/b' is not a tag name ([A-Za-z0-9_.-]+); "
            "fix: use the last segment of the tag path, e.g. 'temperature'",
        ),
        ("window_s", 0, "window_s: 0 is not a whole number of seconds 1..3600; fix: use e.g. 60"),
        ("window_s", 3601, "window_s: 3601 is not a whole number of seconds 1..3600; fix: use e.g. 60"),
        ("window_s", 60.0, "window_s: 60.0 is not a whole number of seconds 1..3600; fix: use e.g. 60"),
        ("window_s", True, "window_s: True is not a whole number of seconds 1..3600; fix: use e.g. 60"),
        ("machines", [], "machines: [] is not a non-empty list; fix: list the machines the model scores"),
        (
            "machines.0.path",
            "acme/plantA/filling/line1",
            "machines[0].path: 'acme/plantA/filling/line1' is not enterprise/site/area/line/cell; "
            "fix: use the machine's ISA-95 path, e.g. acme/plantA/filling/line1/filler1",
        ),
        (
            "machines.0.inputs",
            [f"{FILLER}/pressure", f"{FILLER}/temperature"],
            f"machines[0].inputs: {[f'{FILLER}/pressure', f'{FILLER}/temperature']!r} is not the machine path "
            f"+ '/' + each feature in order; fix: use {[f'{FILLER}/temperature', f'{FILLER}/pressure']!r}",
        ),
        (
            "machines.0.center",
            [1.0],
            "machines[0].center: 1 value(s) for 2 feature(s); fix: give one number per feature",
        ),
        (
            "machines.0.center",
            "61.2",
            "machines[0].center: '61.2' is not a list of finite numbers; fix: give one number per feature",
        ),
        (
            "machines.0.center.1",
            float("nan"),
            "machines[0].center[1]: nan is not a finite number; fix: use the training median",
        ),
        (
            "machines.1.scale.0",
            0,
            "machines[1].scale[0]: 0 is not a positive finite number; "
            "fix: use the robust spread from training (floored above 0)",
        ),
        (
            "machines.1.scale.1",
            float("inf"),
            "machines[1].scale[1]: inf is not a positive finite number; "
            "fix: use the robust spread from training (floored above 0)",
        ),
        (
            "machines.0.gain",
            1,
            "machines[0]: unknown field(s) gain; fix: remove them",
        ),
        (
            "machines.1",
            "capper1",
            "machines[1]: expected an object, got str; fix: give path, inputs, center, scale",
        ),
        (
            "onnx.file",
            "../model.onnx",
            "onnx.file: '../model.onnx' is not a file name ending in .onnx; fix: use 'model.onnx'",
        ),
        ("onnx.input", "", "onnx.input: '' is not a non-empty string; fix: use the name in the ONNX graph"),
        (
            "onnx.score_sign",
            0,
            "onnx.score_sign: 0 is not -1 or 1; fix: use -1 when the output is higher for normal rows",
        ),
        (
            "onnx.score_sign",
            -1.0,
            "onnx.score_sign: -1.0 is not -1 or 1; fix: use -1 when the output is higher for normal rows",
        ),
        (
            "onnx.score_output",
            ...,
            "onnx: missing score_output; fix: give file, input, score_output, score_sign",
        ),
        (
            "output_tag",
            "temperature",
            "output_tag: 'temperature' is also a feature; fix: emit the score on a tag the model does not read",
        ),
        (
            "output_tag",
            "score/x",
            "output_tag: 'score/x' is not a tag name ([A-Za-z0-9_.-]+); fix: use e.g. 'anomaly_score'",
        ),
        (
            "threshold",
            float("inf"),
            "threshold: inf is not a finite number; fix: use the score quantile from training",
        ),
        ("threshold", "0.5", "threshold: '0.5' is not a finite number; fix: use the score quantile from training"),
        (
            "training.window_start",
            "2026-01-05 06:00:00",
            "training.window_start: '2026-01-05 06:00:00' is not ISO 8601 UTC; fix: write it like 2026-01-31T08:00:00Z",
        ),
        (
            "training.window_end",
            "2026-01-05T06:00:00Z",
            "training.window_end: '2026-01-05T06:00:00Z' is not after window_start '2026-01-05T06:00:00Z'; "
            "fix: swap them or widen the window",
        ),
        (
            "training.rows",
            0,
            "training.rows: 0 is not a positive whole number; fix: count the rows trained on",
        ),
        (
            "training.source",
            "",
            "training.source: '' is not a non-empty string; fix: name the table, e.g. curated.tag_minute",
        ),
        (
            "metrics.auc",
            "high",
            "metrics.auc: 'high' is not a finite number; fix: map metric names to numbers",
        ),
        ("metrics", [], "metrics: expected an object, got list; fix: map metric names to numbers"),
        (
            "threshold",
            ...,
            "card: missing threshold; fix: add every field of dmc.model-card/1",
        ),
        ("owner", "me", "card: unknown field(s) owner; fix: remove them (dmc.model-card/1 has no such field)"),
    ],
)
def test_each_bad_field_is_refused_with_its_fix(path: str, value: Any, message: str) -> None:
    assert problems(with_change(path, value)) == [message]


def test_every_problem_is_reported_at_once() -> None:
    document = with_change("window_s", 0)
    document["name"] = ""
    document["machines"][1]["scale"] = [1, -1]
    assert problems(document) == [
        "name: '' is not letters, digits and '-'; fix: use a name such as 'filler-anomaly'",
        "window_s: 0 is not a whole number of seconds 1..3600; fix: use e.g. 60",
        "machines[1].scale[1]: -1 is not a positive finite number; "
        "fix: use the robust spread from training (floored above 0)",
    ]


def test_a_machine_listed_twice_or_machines_of_two_sites_are_refused() -> None:
    document = card_document()
    document["machines"][1] = copy.deepcopy(document["machines"][0])
    assert problems(document) == [f"machines: {FILLER} listed twice; fix: list each machine once"]
    other = "acme/plantB/filling/line1/filler1"
    document["machines"][1] = {
        "path": other,
        "inputs": [f"{other}/temperature", f"{other}/pressure"],
        "center": [0, 0],
        "scale": [1, 1],
    }
    assert problems(document) == [
        "machines: span enterprises/sites acme/plantA, acme/plantB; "
        "fix: train one model per site (a model deploys to one site's gateways)"
    ]


def test_inputs_are_envelope_tag_paths() -> None:
    card = parse_card(card_document())
    assert all(tag_envelope.TAG_PATH_RE.match(tag) for machine in card.machines for tag in machine.inputs)


@pytest.mark.parametrize(
    "source",
    ["{not json", "[1, 2]", b"\xff"],
)
def test_text_that_is_not_a_json_object_is_refused(source: str | bytes) -> None:
    with pytest.raises(
        ValueError,
        match=r"^card: (not JSON \(.+\)|expected a JSON object, got list); fix: write the card with card_json$",
    ):
        parse_card(source)


def test_the_patterns_are_the_envelopes() -> None:
    assert TAG_PATH_RE.pattern == tag_envelope.TAG_PATH_RE.pattern
    samples = [
        f"{FILLER}/temperature",
        FILLER,
        "a/b/c/d/e/f/g",
        "a b/c/d/e/f/g",
        "acme/plantA/filling/line1/filler-1.x/t_1",
        "acme//filling/line1/filler1/t",
    ]
    for sample in samples:
        assert bool(TAG_PATH_RE.match(sample)) == bool(tag_envelope.TAG_PATH_RE.match(sample))
        # A machine path is a tag path's first five segments.
        assert bool(MACHINE_PATH_RE.match(sample)) == bool(tag_envelope.TAG_PATH_RE.match(f"{sample}/x"))
    segment = re.search(r"\[[^\]]+\]\+", tag_envelope.TAG_PATH_RE.pattern)
    assert segment is not None
    assert SEGMENT_RE.pattern == f"^{segment.group(0)}$"
