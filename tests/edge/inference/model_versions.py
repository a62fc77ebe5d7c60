"""Real model versions for the model stage's tests: scikit-learn models, exported with skl2onnx, with their cards.

(A module with its own name, not conftest, so that test modules can import it.)
``simulated_features`` runs the simulator of a tag map offline and takes window means of its
values, the features a gateway computes; ``mixture`` learns their normal behaviour with the
training entry point itself (the producer of the versions gateways run); ``linear`` is a model
whose output can be checked by hand, and with ``card_document`` the way to write versions the
training would never write. ``write_version`` writes the folder a model component's artifacts
unpack to.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray
from skl2onnx import to_onnx
from skl2onnx.common.data_types import FloatTensorType
from sklearn.linear_model import LinearRegression

from edge.inference.model import CARD_FILE
from edge.pipeline.tag_map import TagMap
from edge.sources.simulator import SimulatorSource, parse_settings
from ml.model_card import ModelCard, card_json, content_version, parse_card
from ml.training.train import Samples, TrainedModel, TrainOptions, fit

GATEWAY = "plantA-gw-01"
LINE = "acme/plantA/filling/line1"
FEATURES = ("temperature", "pressure")
OPSETS = {"": 17, "ai.onnx.ml": 3}
SCAN_S = 0.05  # the simulator's scan interval in these tests


def machine_path(machine: str) -> str:
    return f"{LINE}/{machine}"


def tag_map_data(machines: Sequence[str]) -> dict[str, Any]:
    """A simulator tag map of machines with a state, a temperature and a pressure each, in plantA's units."""
    tags: list[dict[str, Any]] = []
    for n, machine in enumerate(machines):
        cell = f"filling/line1/{machine}"
        tags += [
            {"source": "simulator", "address": f"state:{machine}", "path": f"{cell}/state", "kind": "state"},
            {
                "source": "simulator",
                "address": f"analog:{machine}:mean={60 + n}:noise=0.05",
                "path": f"{cell}/temperature",
                "quantity": "temperature",
                "unit": "degC",
                "deadband_abs": 0.1,
            },
            {
                "source": "simulator",
                "address": f"analog:{machine}-p:mean={2 + n / 10}:noise=0.01",
                "path": f"{cell}/pressure",
                "quantity": "pressure",
                "unit": "bar",
                "deadband_abs": 0.02,
            },
        ]
    return {
        "enterprise": "acme",
        "site": "plantA",
        "gateway": GATEWAY,
        # Machines that never stop: the model learns one running state.
        "sources": {"simulator": {"seed": 7, "scan_interval_s": SCAN_S, "mean_run_s": 1e9}},
        "tags": tags,
    }


def simulated_features(
    tag_map: TagMap, machines: Sequence[str], *, window_s: float, samples: int = 400
) -> NDArray[np.float64]:
    """[samples, machines, features]: means over sliding windows of the simulator's values (another seed)."""
    settings = parse_settings({**tag_map.settings("simulator"), "seed": 1234})
    source = SimulatorSource(settings, tag_map.addresses("simulator"))
    paths = {tag.address: tag_map.tag_path(tag) for tag in tag_map.tags}
    columns = [f"{machine_path(machine)}/{feature}" for machine in machines for feature in FEATURES]
    window = round(window_s / SCAN_S)
    step = max(1, window // 4)
    scans = []
    for scan in range((samples - 1) * step + window):
        values = {paths[reading.address]: reading.value for reading in source.scan(float(scan))}
        scans.append([values[column] for column in columns])
    series = np.asarray(scans, dtype=np.float64)
    means = np.stack([series[start : start + window].mean(axis=0) for start in range(0, samples * step, step)])
    return means.reshape(samples, len(machines), len(FEATURES))


@dataclass(frozen=True)
class Trained:
    """A model's ONNX bytes and what its card needs besides the machines."""

    onnx: bytes
    center: NDArray[np.float64]  # [machines, features]
    scale: NDArray[np.float64]
    score_output: str
    score_sign: int
    threshold: float


def mixture(features: NDArray[np.float64], *, machines: Sequence[str], name: str, window_s: int) -> TrainedModel:
    """The model the training entry point (ml/training/train.py) fits to these window means of ``machines``."""
    samples = Samples(
        machines=tuple(machine_path(machine) for machine in machines),
        values=tuple(features[:, index, :] for index in range(len(machines))),
        rows=features.size,
        incomplete=0,
        window_start_us=1_767_225_600_000_000,  # 2026-01-01T00:00:00Z
        window_end_us=1_767_225_600_000_000 + features.shape[0] * window_s * 1_000_000,
        window_s=window_s,
    )
    return fit(samples, TrainOptions(name=name, features=FEATURES))


def linear(weights: Sequence[float], bias: float, *, machines: int) -> Trained:
    """``bias + weights . row`` of the normalised row, exactly; center 0 and scale 1 per machine."""
    rng = np.random.default_rng(0)
    rows = rng.normal(size=(64, len(weights))).astype(np.float32)
    fitted = LinearRegression().fit(rows, rows @ np.asarray(weights, dtype=np.float32) + bias)
    exported = to_onnx(fitted, initial_types=[("X", FloatTensorType([None, len(weights)]))], target_opset=OPSETS)
    shape = (machines, len(weights))
    return Trained(exported.SerializeToString(), np.zeros(shape), np.ones(shape), "variable", 1, 1.0)


def card_document(
    trained: Trained,
    *,
    name: str,
    machines: Sequence[str],
    window_s: int,
    features: Sequence[str] = FEATURES,
    output_tag: str = "anomaly_score",
) -> dict[str, Any]:
    """The model card of ``trained`` as a JSON object (its version is the hash of the ONNX bytes)."""
    return {
        "schema": "dmc.model-card/1",
        "name": name,
        "version": content_version(trained.onnx),
        "features": list(features),
        "window_s": window_s,
        "machines": [
            {
                "path": machine_path(machine),
                "inputs": [f"{machine_path(machine)}/{feature}" for feature in features],
                "center": [float(value) for value in trained.center[index]],
                "scale": [float(value) for value in trained.scale[index]],
            }
            for index, machine in enumerate(machines)
        ],
        "onnx": {
            "file": "model.onnx",
            "input": "X",
            "score_output": trained.score_output,
            "score_sign": trained.score_sign,
        },
        "output_tag": output_tag,
        "threshold": trained.threshold,
        "training": {
            "source": "curated.tag_minute",
            "window_start": "2026-11-01T00:00:00Z",
            "window_end": "2026-11-08T00:00:00Z",
            "rows": 1000,
        },
        "metrics": {},
    }


def write_version(folder: Path, onnx: bytes, document: dict[str, Any]) -> ModelCard:
    """Write model.onnx and model-card.json into ``folder`` (an unpacked model component version)."""
    card = parse_card(document)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / card.onnx.file).write_bytes(onnx)
    (folder / CARD_FILE).write_text(card_json(card), encoding="utf-8")
    return card
