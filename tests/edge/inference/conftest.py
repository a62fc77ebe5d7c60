"""Fixtures of the model stage's tests: the gateway's tag map, real trained model versions, a mosquitto."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from model_versions import mixture, simulated_features, tag_map_data
from numpy.typing import NDArray

from edge.pipeline.local_mosquitto import LocalMosquitto, Pki, make_pki
from edge.pipeline.tag_map import TagMap, parse_tag_map
from ml.training.train import TrainedModel
from tests.edge.pipeline.mqtt_peers import GATEWAY, RECORDER, Recorder

UNITS = {"temperature": "degC", "pressure": "bar"}  # plantA's, for the quantities these tag maps use
MACHINES = ("filler1", "filler2", "filler3")
NAME = "filler-anomaly"
WINDOW_S = 2


@pytest.fixture(scope="session")
def tag_map() -> TagMap:
    """The gateway's tag map: three machines, each with a state, a temperature and a pressure."""
    return parse_tag_map(tag_map_data(MACHINES), origin="test tag map", canonical_units=UNITS)


@pytest.fixture(scope="session")
def normal(tag_map: TagMap) -> NDArray[np.float64]:
    """Window means of the three machines running normally: what the models learn from."""
    return simulated_features(tag_map, MACHINES, window_s=WINDOW_S)


@pytest.fixture(scope="session")
def model(normal: NDArray[np.float64]) -> TrainedModel:
    """The three machines' model, as the training entry point fits and cards it."""
    return mixture(normal, machines=MACHINES, name=NAME, window_s=WINDOW_S)


@pytest.fixture(scope="session")
def retrained(normal: NDArray[np.float64]) -> TrainedModel:
    """A second version of the model, trained on less of the history: other bytes, another version."""
    return mixture(normal[: len(normal) // 2], machines=MACHINES, name=NAME, window_s=WINDOW_S)


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"), [GATEWAY, RECORDER])


@pytest.fixture
def broker(tmp_path: Path, pki: Pki) -> Iterator[LocalMosquitto]:
    with LocalMosquitto(tmp_path / "broker", pki) as running:
        yield running


@pytest.fixture
def recorder(broker: LocalMosquitto, pki: Pki) -> Iterator[Recorder]:
    with Recorder(broker, pki) as subscriber:
        yield subscriber
