"""Loading a deployed model version: what passes, and every way a version is refused, with its message."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest
from conftest import MACHINES, NAME, WINDOW_S
from model_versions import card_document, linear, machine_path, write_version

from edge.inference.model import CARD_FILE, LoadedModel, ModelError, load_model, load_models
from edge.pipeline.tag_map import TagMap
from ml.model_card import card_json, content_version
from ml.training.train import TrainedModel, write_model


@pytest.fixture(scope="module")
def tag_kinds(tag_map: TagMap) -> dict[str, str]:
    return {tag_map.tag_path(tag): tag.kind for tag in tag_map.tags}


def load(folder: Path, tag_kinds: dict[str, str], name: str = NAME) -> LoadedModel:
    return load_model(name, folder, tag_kinds=tag_kinds, gateway="plantA-gw-01", where="models[0]")


def document(model: TrainedModel) -> dict[str, Any]:
    """The model's card as a JSON object, to change."""
    return dict(json.loads(card_json(model.card)))


def refusal(folder: Path, tag_kinds: dict[str, str], name: str = NAME) -> list[str]:
    with pytest.raises(ModelError) as refused:
        load(folder, tag_kinds, name)
    return refused.value.problems


def test_a_version_the_training_wrote_loads(tmp_path: Path, model: TrainedModel, tag_kinds: dict[str, str]) -> None:
    write_model(model, tmp_path)
    loaded = load(tmp_path, tag_kinds)
    assert (loaded.name, loaded.version, loaded.window_s) == (NAME, model.card.version, WINDOW_S)
    assert loaded.score_paths == tuple(f"{machine_path(machine)}/anomaly_score" for machine in MACHINES)
    assert loaded.inputs[1] == (f"{machine_path('filler2')}/temperature", f"{machine_path('filler2')}/pressure")


def test_inputs_the_tag_map_lacks_are_named_with_the_fix(tmp_path: Path, tag_kinds: dict[str, str]) -> None:
    trained = linear([1.0, 2.0], 0.0, machines=2)
    card = write_version(
        tmp_path, trained.onnx, card_document(trained, name=NAME, machines=["filler1", "filler9"], window_s=WINDOW_S)
    )
    assert refusal(tmp_path, tag_kinds) == [
        f"models[0] ({NAME} {card.version}): 2 input(s) not in the tag map of gateway plantA-gw-01: "
        "acme/plantA/filling/line1/filler9/temperature, acme/plantA/filling/line1/filler9/pressure; "
        f"fix: add these tags to the gateway's tag map, or deploy com.dmc.Model.{NAME} only to the gateways that "
        "read them"
    ]


def test_a_card_that_does_not_parse_is_refused_with_the_parsers_message(
    tmp_path: Path, model: TrainedModel, tag_kinds: dict[str, str]
) -> None:
    write_model(model, tmp_path)
    changed = document(model)
    del changed["window_s"]
    (tmp_path / CARD_FILE).write_text(json.dumps(changed), encoding="utf-8")
    (problem,) = refusal(tmp_path, tag_kinds)
    assert problem.startswith(f"models[0] {CARD_FILE}: card: missing window_s; fix: ")

    (tmp_path / CARD_FILE).write_text("{not json", encoding="utf-8")
    (problem,) = refusal(tmp_path, tag_kinds)
    assert problem.startswith(f"models[0] {CARD_FILE}: card: not JSON (")


def test_a_folder_without_a_card_names_the_artifacts_to_point_at(tmp_path: Path, tag_kinds: dict[str, str]) -> None:
    assert refusal(tmp_path / "absent", tag_kinds) == [
        f"models[0].artifactDir '{tmp_path / 'absent'}': cannot read {CARD_FILE} (No such file or directory); "
        f"fix: point artifactDir at the artifacts folder of com.dmc.Model.{NAME} ({{artifacts:path}})"
    ]


def test_a_graph_of_another_width_is_refused(tmp_path: Path, tag_kinds: dict[str, str]) -> None:
    two, three = linear([1.0, 2.0], 0.0, machines=3), linear([1.0, 2.0, 3.0], 0.0, machines=3)
    mixed = dataclasses.replace(two, onnx=three.onnx)  # the card of two features, the graph of three
    write_version(tmp_path, mixed.onnx, card_document(mixed, name=NAME, machines=MACHINES, window_s=WINDOW_S))
    assert refusal(tmp_path, tag_kinds) == [
        "models[0] model.onnx: input 'X' has width 3, but the card lists 2 feature(s) (temperature, pressure); "
        "fix: export the model with the card's input and features, or correct the card"
    ]


def test_a_file_onnxruntime_cannot_load_is_refused_with_its_error(tmp_path: Path, tag_kinds: dict[str, str]) -> None:
    garbage = b"not an ONNX graph"
    trained = dataclasses.replace(linear([1.0, 2.0], 0.0, machines=3), onnx=garbage)
    write_version(tmp_path, garbage, card_document(trained, name=NAME, machines=MACHINES, window_s=WINDOW_S))
    (problem,) = refusal(tmp_path, tag_kinds)
    assert problem.startswith("models[0] model.onnx: onnxruntime 1.31.1 cannot load it ([ONNXRuntimeError] : 7 : ")
    assert problem.endswith("; fix: export it again (skl2onnx, an opset this onnxruntime supports)")


def test_a_card_written_for_other_bytes_is_refused(
    tmp_path: Path, model: TrainedModel, retrained: TrainedModel, tag_kinds: dict[str, str]
) -> None:
    write_model(model, tmp_path)
    (tmp_path / "model.onnx").write_bytes(retrained.onnx)
    assert refusal(tmp_path, tag_kinds) == [
        f"models[0] {CARD_FILE}: version: card says {content_version(model.onnx)!r} but model.onnx hashes to "
        f"{content_version(retrained.onnx)!r}; fix: ship the model.onnx the card was written with (or re-run training)"
    ]


def test_a_card_of_another_model_is_refused(tmp_path: Path, model: TrainedModel, tag_kinds: dict[str, str]) -> None:
    write_model(model, tmp_path)
    assert refusal(tmp_path, tag_kinds, name="capper-anomaly") == [
        f"models[0]: {CARD_FILE} is the card of model {NAME!r}, but the entry names 'capper-anomaly'; "
        "fix: point artifactDir at the artifacts of com.dmc.Model.capper-anomaly"
    ]


def test_state_inputs_and_scores_on_read_tags_are_refused(tmp_path: Path, tag_kinds: dict[str, str]) -> None:
    trained = linear([1.0, 2.0], 0.0, machines=1)
    document = card_document(
        trained, name=NAME, machines=["filler1"], window_s=WINDOW_S, features=("state", "temperature")
    )
    card = write_version(tmp_path / "state", trained.onnx, document)
    assert refusal(tmp_path / "state", tag_kinds) == [
        f"models[0] ({NAME} {card.version}): input(s) acme/plantA/filling/line1/filler1/state (state) are not "
        "analog tags, and a feature is the mean of an analog value; fix: train on analog tags only"
    ]
    trained = linear([1.0], 0.0, machines=1)
    document = card_document(
        trained, name=NAME, machines=["filler1"], window_s=WINDOW_S, features=("temperature",), output_tag="pressure"
    )
    card = write_version(tmp_path / "taken", trained.onnx, document)
    assert refusal(tmp_path / "taken", tag_kinds) == [
        f"models[0] ({NAME} {card.version}): score tag(s) acme/plantA/filling/line1/filler1/pressure are tags the "
        "gateway reads; fix: choose another output_tag for the model"
    ]


def test_models_that_score_the_same_tag_or_a_window_below_the_interval_are_refused(
    tmp_path: Path, model: TrainedModel, retrained: TrainedModel, tag_kinds: dict[str, str]
) -> None:
    write_model(model, tmp_path / "a")
    second = write_version(tmp_path / "b", retrained.onnx, document(retrained) | {"name": "other", "window_s": 1})
    loaded, problems = load_models(
        [(NAME, tmp_path / "a"), ("other", tmp_path / "b")],
        tag_kinds=tag_kinds,
        gateway="plantA-gw-01",
        interval_s=1.5,
    )
    assert [model.name for model in loaded] == [NAME]
    assert problems == [
        f"models[1] (other {second.version}): window_s 1 is shorter than score_interval_s 1.5; "
        "fix: set score_interval_s to at most 1",
        f"models[1] (other {second.version}): score tag(s) "
        + ", ".join(f"{machine_path(machine)}/anomaly_score" for machine in MACHINES)
        + f" are scored by {NAME} already; fix: deploy one model per machine, or give them different output_tag",
    ]
