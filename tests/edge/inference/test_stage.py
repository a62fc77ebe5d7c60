"""The scoring stage inside the pipeline: window means, normalisation, quality, report by exception, swaps.

A linear model (``0.5 + 1 * z_temperature + 2 * z_pressure`` of the normalised row) makes every
score checkable by hand. Readings go in with ``Pipeline.ingest`` and scores come out of the spool
as envelope tag values, as they would travel.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import UNITS
from model_versions import card_document, linear, machine_path, write_version
from numpy.typing import NDArray

from edge.inference.model import LoadedModel, load_model
from edge.inference.stage import ScoringStage
from edge.pipeline.pipeline import Pipeline
from edge.pipeline.spool import Spool
from edge.pipeline.tag_map import TagMap
from edge.readings import Reading
from envelope.tag_envelope import decode, utc_timestamp

T0 = 1_769_846_400.0  # source timestamps: 2026-01-31T08:00:00Z + simulated seconds
CENTER, SCALE = (60.0, 2.0), (0.5, 0.1)


def linear_model(
    folder: Path, tag_map: TagMap, machines: list[str], weights: tuple[float, ...] = (1.0, 2.0)
) -> LoadedModel:
    trained = linear(weights, 0.5, machines=len(machines))
    shape = (len(machines), len(weights))
    trained = dataclasses.replace(trained, center=np.broadcast_to(CENTER, shape), scale=np.broadcast_to(SCALE, shape))
    write_version(folder, trained.onnx, card_document(trained, name="filler-linear", machines=machines, window_s=3))
    kinds = {tag_map.tag_path(tag): tag.kind for tag in tag_map.tags}
    return load_model("filler-linear", folder, tag_kinds=kinds, gateway=tag_map.gateway, where="models[0]")


def expected(temperature: float, pressure: float, weights: tuple[float, ...] = (1.0, 2.0)) -> float:
    z = ((temperature - CENTER[0]) / SCALE[0], (pressure - CENTER[1]) / SCALE[1])
    return 0.5 + sum(w * value for w, value in zip(weights, z, strict=True))


class Gateway:
    """A pipeline with the stage, fed by hand on a simulated clock (1 s scoring interval)."""

    def __init__(self, tag_map: TagMap, spool_path: Path, models: list[LoadedModel]) -> None:
        self.addresses = {tag_map.tag_path(tag): tag.address for tag in tag_map.tags}
        self.stage = ScoringStage(1.0, models)
        self.pipeline = Pipeline(
            tag_map, UNITS, Spool(spool_path, max_bytes=1 << 24), batch_bytes=32 * 1024, linger_s=0.1, stage=self.stage
        )
        self.pipeline.tick(0.0)  # the stage's clock starts: first scoring at 1.0

    def read(self, now: float, values: dict[tuple[str, str], float], quality: str = "good") -> None:
        readings = [
            Reading(self.addresses[f"{machine_path(machine)}/{feature}"], value, quality, T0 + now)
            for (machine, feature), value in values.items()
        ]
        self.pipeline.ingest(readings, now)

    def scores(self, now: float) -> list[dict[str, Any]]:
        """Score at ``now``: the score values that reached the spool."""
        self.pipeline.tick(now)
        self.pipeline.flush()
        spool = self.pipeline.spool
        values = []
        while (record := spool.oldest()) is not None:
            spool.begin_attempt(record)
            spool.confirm(record)
            values += decode(record.payload)["values"]
        return [value for value in values if value["path"].endswith("/anomaly_score")]


@pytest.fixture
def gateway(tmp_path: Path, tag_map: TagMap) -> Iterator[Gateway]:
    running = Gateway(tag_map, tmp_path / "spool.db", [linear_model(tmp_path / "v1", tag_map, ["filler1", "filler2"])])
    yield running
    running.pipeline.spool.close()


def test_a_score_is_the_model_of_the_normalised_window_means(gateway: Gateway) -> None:
    gateway.read(0.2, {("filler1", "temperature"): 60.5, ("filler1", "pressure"): 2.1})
    gateway.read(0.7, {("filler1", "temperature"): 61.5, ("filler2", "temperature"): 59.0})
    assert gateway.scores(0.9) == []  # the interval is not up
    (score,) = gateway.scores(1.0)  # filler2 has no pressure yet: not scored
    assert score["path"] == f"{machine_path('filler1')}/anomaly_score"
    assert score["value"] == pytest.approx(expected(61.0, 2.1), abs=1e-4)
    assert (score["unit"], score["quality"], score["ts"]) == ("", "good", utc_timestamp(T0 + 0.7))
    assert gateway.stage.scored == 1 and gateway.stage.unscored == 1

    gateway.read(1.5, {("filler1", "temperature"): 63.0, ("filler2", "pressure"): 1.9})
    scores = {value["path"]: value["value"] for value in gateway.scores(2.0)}
    # The window is three intervals: filler1's temperature is the mean of all three of its values.
    assert scores == {
        f"{machine_path('filler1')}/anomaly_score": pytest.approx(expected(61.666667, 2.1), abs=1e-4),
        f"{machine_path('filler2')}/anomaly_score": pytest.approx(expected(59.0, 1.9), abs=1e-4),
    }
    for now in (3.0, 4.0):  # two intervals without filler1
        gateway.read(now - 0.5, {("filler2", "temperature"): 59.0})
        gateway.scores(now)
    gateway.read(4.5, {("filler1", "temperature"): 62.0, ("filler1", "pressure"): 2.0})
    scores = {value["path"]: value["value"] for value in gateway.scores(5.0)}
    # Its values of the first two intervals left the window: only the newest one counts.
    assert scores[f"{machine_path('filler1')}/anomaly_score"] == pytest.approx(expected(62.0, 2.0), abs=1e-4)


def test_a_score_takes_the_worst_quality_of_its_inputs_over_the_window(gateway: Gateway) -> None:
    both = {("filler1", "temperature"): 60.0, ("filler1", "pressure"): 2.0}
    gateway.read(0.5, both)
    gateway.read(0.6, {("filler1", "pressure"): 2.0}, quality="uncertain")
    assert [score["quality"] for score in gateway.scores(1.0)] == ["uncertain"]
    gateway.read(1.5, {("filler1", "temperature"): 60.0}, quality="bad")
    gateway.read(1.6, both)
    assert [score["quality"] for score in gateway.scores(2.0)] == ["bad"]
    for now in (3.0, 4.0):
        gateway.read(now - 0.5, both)
        assert gateway.scores(now) == []  # still bad while the bad value is in the window: the same score
    gateway.read(4.5, both)
    assert [score["quality"] for score in gateway.scores(5.0)] == ["good"]  # the bad value left the window


def test_an_input_silent_for_a_whole_window_makes_the_score_bad(gateway: Gateway) -> None:
    gateway.read(0.5, {("filler1", "temperature"): 61.0, ("filler1", "pressure"): 2.0})
    gateway.scores(1.0)
    for now in (2.0, 3.0, 4.0):
        gateway.read(now - 0.5, {("filler1", "pressure"): 2.0 + now / 100})
        scores = gateway.scores(now)
    (score,) = scores
    # Three intervals without a temperature: its feature is its last value, and the score is bad.
    assert score["quality"] == "bad"
    assert score["value"] == pytest.approx(expected(61.0, 2.03), abs=1e-4)


def test_unchanged_scores_are_held_back_like_any_unchanged_value(gateway: Gateway) -> None:
    gateway.read(0.5, {("filler1", "temperature"): 61.0, ("filler1", "pressure"): 2.0})
    assert len(gateway.scores(1.0)) == 1
    assert gateway.scores(2.0) == []  # the same window means give the same score: report by exception holds it
    assert gateway.stage.scored == 2


class CountingModel(LoadedModel):
    """The model, counting its onnxruntime runs and the rows of each."""

    def __init__(self, model: LoadedModel) -> None:
        self.__dict__.update(model.__dict__)
        self.runs: list[int] = []

    def score(self, machines: NDArray[np.intp], features: NDArray[np.float64]) -> NDArray[np.float64]:
        self.runs.append(len(machines))
        return super().score(machines, features)


def test_one_run_per_interval_scores_every_machine(tmp_path: Path, tag_map: TagMap) -> None:
    model = CountingModel(linear_model(tmp_path / "v1", tag_map, ["filler1", "filler2", "filler3"]))
    gateway = Gateway(tag_map, tmp_path / "spool.db", [model])
    every = {
        (machine, feature): 60.0
        for machine in ("filler1", "filler2", "filler3")
        for feature in ("temperature", "pressure")
    }
    for now in (1.0, 2.0, 3.0):
        gateway.read(now - 0.5, every)
        gateway.scores(now)
    assert model.runs == [3, 3, 3]
    gateway.pipeline.spool.close()


def test_a_new_version_scores_from_the_windows_the_old_one_filled(
    tmp_path: Path, tag_map: TagMap, gateway: Gateway
) -> None:
    gateway.read(0.5, {("filler1", "temperature"): 61.0, ("filler1", "pressure"): 2.0})
    gateway.read(0.9, {("filler3", "temperature"): 62.0, ("filler3", "pressure"): 2.2})  # no model reads filler3 yet
    gateway.scores(1.0)
    gateway.read(1.2, {("filler1", "temperature"): 63.0})
    weights = (3.0, 1.0)
    gateway.stage.deploy([linear_model(tmp_path / "v2", tag_map, ["filler1", "filler3"], weights)])  # mid-interval
    gateway.read(1.7, {("filler1", "pressure"): 2.2, ("filler3", "temperature"): 64.0, ("filler3", "pressure"): 2.3})
    scores = {value["path"]: value["value"] for value in gateway.scores(2.0)}
    assert scores == {
        # Both intervals of filler1 carried over, the open one included.
        f"{machine_path('filler1')}/anomaly_score": pytest.approx(expected(62.0, 2.1, weights), abs=1e-4),
        # filler3's inputs are new to the stage: its window starts at the swap.
        f"{machine_path('filler3')}/anomaly_score": pytest.approx(expected(64.0, 2.3, weights), abs=1e-4),
    }
