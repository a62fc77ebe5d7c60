"""Training on what the ETL makes of simulated machines with injected faults, scored with onnxruntime.

Four simulated fillers on two lines send temperature and pressure for four hours through the real
envelope, raw objects, conform and curate jobs on local Spark; curated ``tag_minute`` is exported to
Parquet, the way an analyst hands it to a SageMaker training job. The model learns the first three
hours (which hold a two-minute glitch: history is never clean) and must score the faults of the fourth
(a temperature drift, then a pressure step on filler2) above its threshold, and normal minutes below.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from dmc_etl.catalog import LOCAL_CATALOG, table_name
from dmc_etl.jobs import conformed_to_curated, raw_to_conformed
from dmc_etl.schemas import TAG_MINUTE_COLUMNS

from edge.sources.simulator import SimulatorSettings, SimulatorSource
from envelope.tag_envelope import tag_batch, tag_value, utc_timestamp
from ml.model_card import parse_card, verify_version
from ml.training import train as train_module
from ml.training.train import (
    CARD_FILE,
    COLUMNS,
    ONNX_FILE,
    TrainedModel,
    TrainOptions,
    check_options,
    main,
    train,
)
from tests.etl.conftest import write_raw

ROOT = Path(__file__).resolve().parents[2]
GATEWAY = "plantA-gw-01"
START = datetime(2026, 1, 5, 6, 0, tzinfo=UTC)
HOURS = 4
SCAN_S = 5.0
TRAIN_END = START + timedelta(hours=3)
NOW = START + timedelta(hours=HOURS, minutes=30)
FEATURES = ("temperature", "pressure")
UNITS = {"temperature": "degC", "pressure": "bar"}
# Machine -> (temperature, pressure) set points: each runs at its own, one model serves them all.
MACHINES = {
    "acme/plantA/filling/line1/filler1": (65.0, 2.1),
    "acme/plantA/filling/line1/filler2": (61.0, 1.8),
    "acme/plantA/filling/line2/filler3": (70.0, 2.5),
    "acme/plantA/filling/line2/filler4": (58.0, 2.0),
}
LINES = sorted({machine.rsplit("/", 1)[0] for machine in MACHINES})
SITE_CONFIG = json.dumps(
    {
        "timezone": "Europe/Berlin",
        "canonical_units": {"temperature": "degC", "pressure": "bar"},
        "lines": [
            {
                "line_path": line,
                "ideal_cycle_time_s": 1,
                "state_tag": "filler1/state",
                "running_states": ["running"],
                "good_count_tag": "filler1/good_count",
                "total_count_tag": "filler1/total_count",
                "shifts": [{"name": "early", "start": "06:00", "end": "14:00"}],
            }
            for line in LINES
        ],
    }
)


@dataclass(frozen=True)
class Fault:
    """An offset added on the wire to one tag's simulated values in [start, end)."""

    name: str
    tag: str
    start: datetime
    end: datetime
    offset: Callable[[float], float]  # of the seconds since start

    def applies(self, path: str, moment: datetime) -> bool:
        return path == self.tag and self.start <= moment < self.end


FILLER2 = "acme/plantA/filling/line1/filler2"
FAULTS = (
    # In the training window: two minutes of a pressure glitch on filler3 (0.3 bar, about 10 spreads).
    Fault(
        "glitch",
        "acme/plantA/filling/line2/filler3/pressure",
        START + timedelta(hours=1, minutes=10),
        START + timedelta(hours=1, minutes=12),
        lambda s: 0.3,
    ),
    # After it: filler2's temperature drifts away, 2 degC at once then 0.3 degC a minute (spread ~0.8).
    Fault(
        "drift",
        f"{FILLER2}/temperature",
        START + timedelta(hours=3, minutes=5),
        START + timedelta(hours=3, minutes=25),
        lambda s: 2.0 + 0.3 * s / 60,
    ),
    # Then its pressure steps up by 0.25 bar for 20 minutes (spread ~0.03).
    Fault(
        "spike",
        f"{FILLER2}/pressure",
        START + timedelta(hours=3, minutes=35),
        START + timedelta(hours=3, minutes=55),
        lambda s: 0.25,
    ),
)
OPTIONS = TrainOptions(name="filler-anomaly", features=FEATURES, window_end=TRAIN_END)


def simulated_batches() -> dict[tuple[str, str], list[dict[str, Any]]]:
    """Envelope batches, one per line and minute, keyed by (line, UTC hour); faults applied on the wire."""
    addresses: dict[str, str] = {}
    for machine, (temperature, pressure) in MACHINES.items():
        cell = machine.rsplit("/", 1)[1]
        addresses[f"analog:{cell}:mean={temperature}:noise=0.3:drift=0.8:period_s=1800"] = f"{machine}/temperature"
        addresses[f"analog:{cell}:mean={pressure}:noise=0.02:drift=0.03:period_s=2700"] = f"{machine}/pressure"
    source = SimulatorSource(SimulatorSettings(seed=7, scan_interval_s=SCAN_S), list(addresses))
    per_minute: dict[tuple[str, datetime], list[dict[str, Any]]] = {}
    seq = 0
    for scan in range(int(HOURS * 3600 / SCAN_S)):
        moment = START + timedelta(seconds=scan * SCAN_S)
        for reading in source.scan(moment.timestamp()):
            path = addresses[reading.address]
            value = float(reading.value)
            for fault in FAULTS:
                if fault.applies(path, moment):
                    value += fault.offset((moment - fault.start).total_seconds())
            line = path.rsplit("/", 2)[0]
            item = tag_value(
                path=path,
                value=value,
                unit=UNITS[path.rsplit("/", 1)[1]],
                quality="good",
                ts=utc_timestamp(moment.timestamp()),
                seq=seq,
                gateway=GATEWAY,
            )
            per_minute.setdefault((line, moment.replace(second=0)), []).append(item)
            seq += 1
    batches: dict[tuple[str, str], list[dict[str, Any]]] = {}
    batch_seq = dict.fromkeys(LINES, 0)
    for (line, minute), values in sorted(per_minute.items()):
        message = tag_batch(site="plantA", gateway=GATEWAY, line=line, batch_seq=batch_seq[line], values=values)
        batch_seq[line] += 1
        batches.setdefault((line, minute.strftime("%H")), []).append(message)
    return batches


@dataclass(frozen=True)
class Export:
    """curated.tag_minute exported to Parquet, and the rows the ETL wrote."""

    folder: Path
    rows: list[dict[str, Any]]


@pytest.fixture(scope="module")
def export(spark: Any, tmp_path_factory: pytest.TempPathFactory) -> Export:
    """Raw objects -> raw_to_conformed -> conformed_to_curated -> tag_minute as Parquet files (once)."""
    tmp_path = tmp_path_factory.mktemp("ml-etl")
    stem = "ml" + hashlib.sha1(str(tmp_path).encode()).hexdigest()[:12]
    conformed, curated = f"{stem}_conformed", f"{stem}_curated"
    for (line, hour), messages in simulated_batches().items():
        _, _, area, name = line.split("/")
        target = write_raw(tmp_path / "raw", area, name, START.strftime("%Y-%m-%d"), hour, "part.json", messages)
        os.utime(target, ((NOW - timedelta(minutes=5)).timestamp(),) * 2)
    common = {"catalog": LOCAL_CATALOG, "conformed_database": conformed, "site_config": SITE_CONFIG}
    raw_to_conformed(
        spark,
        {
            **common,
            "raw_path": str(tmp_path / "raw" / "tags"),
            "watermark_path": str(tmp_path / "_state" / "raw_to_conformed"),
            "retention_days": "3650",
        },
        NOW,
    )
    conformed_to_curated(
        spark,
        {
            **common,
            "curated_database": curated,
            "state_path": str(tmp_path / "_state" / "conformed_to_curated"),
            "retention_days": "3650",
        },
        NOW,
    )
    minutes = spark.table(table_name(LOCAL_CATALOG, curated, "tag_minute"))
    folder = tmp_path / "export"
    minutes.write.parquet(str(folder))
    return Export(folder, [row.asDict() for row in minutes.collect()])


@pytest.fixture(scope="module")
def trained(export: Export, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, TrainedModel]:
    model_dir = tmp_path_factory.mktemp("model")
    return model_dir, train(export.folder, model_dir, OPTIONS)


def scored_minutes(export: Export, model_dir: Path) -> list[tuple[str, datetime, float]]:
    """(machine, minute, anomaly score) of every complete machine-minute of the export, scored the way a
    gateway does: the files on disk, normalised with the card, onnxruntime, ``score_sign``."""
    card = parse_card((model_dir / CARD_FILE).read_text(encoding="utf-8"))
    session = onnxruntime.InferenceSession(
        (model_dir / card.onnx.file).read_bytes(), providers=["CPUExecutionProvider"]
    )
    values = {(row["path"], row["window_start"]): row["value_avg"] for row in pq.read_table(export.folder).to_pylist()}
    scored = []
    for machine in card.machines:
        minutes = sorted({moment for path, moment in values if path in machine.inputs})
        for minute in minutes:
            features = [values.get((tag, minute)) for tag in machine.inputs]
            if any(value is None for value in features):
                continue
            x = (np.array(features, dtype=np.float64) - np.array(machine.center)) / np.array(machine.scale)
            (output,) = session.run([card.onnx.score_output], {card.onnx.input: x.astype(np.float32)[None, :]})
            scored.append((machine.path, minute.replace(tzinfo=UTC), card.onnx.score_sign * float(output.ravel()[0])))
    return scored


def fault_of(machine: str, minute: datetime) -> str:
    """The name of the fault a machine-minute is in, or "normal"."""
    for fault in FAULTS:
        if fault.tag.rsplit("/", 1)[0] == machine and fault.start <= minute < fault.end:
            return fault.name
    return "normal"


@pytest.mark.spark
def test_the_etl_curated_every_simulated_minute(export: Export) -> None:
    # 4 machines x 2 tags x 240 minutes, each the mean of its 12 scans.
    assert len(export.rows) == len(MACHINES) * len(FEATURES) * HOURS * 60
    assert {row["value_count"] for row in export.rows} == {int(60 / SCAN_S)}


@pytest.mark.spark
def test_faults_score_above_the_threshold_and_normal_minutes_below(
    export: Export, trained: tuple[Path, TrainedModel]
) -> None:
    model_dir, model = trained
    threshold = model.card.threshold
    scored = scored_minutes(export, model_dir)
    assert len(scored) == len(MACHINES) * HOURS * 60
    by_fault: dict[str, list[float]] = {}
    for machine, minute, score in scored:
        by_fault.setdefault(fault_of(machine, minute), []).append(score)
    normal = np.array(by_fault.pop("normal"))
    assert sorted(by_fault) == ["drift", "glitch", "spike"]
    faulty = np.concatenate([np.array(scores) for scores in by_fault.values()])
    assert len(faulty) == 2 + 20 + 20
    # Every fault minute is anomalous, including the glitch the model was trained on.
    assert np.mean(faulty > threshold) == 1.0, {name: np.round(s, 2).tolist() for name, s in by_fault.items()}
    # Normal minutes, in the training window and after it, of every machine: at most 1.5 % above.
    assert np.mean(normal > threshold) <= 0.015
    # Each fault period's mean is far out of the normal minutes' range.
    for name, scores in by_fault.items():
        assert np.mean(scores) > np.mean(normal) + 10 * np.std(normal), name


@pytest.mark.spark
def test_the_card_written_parses_and_matches_the_onnx_graph(export: Export, trained: tuple[Path, TrainedModel]) -> None:
    model_dir, model = trained
    card = parse_card((model_dir / CARD_FILE).read_text(encoding="utf-8"))
    onnx_bytes = (model_dir / ONNX_FILE).read_bytes()
    assert card == model.card
    verify_version(card, onnx_bytes)
    session = onnxruntime.InferenceSession(onnx_bytes, providers=["CPUExecutionProvider"])
    (graph_input,) = session.get_inputs()
    assert (graph_input.name, graph_input.type) == (card.onnx.input, "tensor(float)")
    assert graph_input.shape[1] == len(card.features) == 2
    assert not isinstance(graph_input.shape[0], int)  # any number of machines per call
    assert card.onnx.score_output in [output.name for output in session.get_outputs()]
    assert card.features == FEATURES
    assert [m.path for m in card.machines] == sorted(MACHINES)
    for machine in card.machines:
        assert machine.inputs == (f"{machine.path}/temperature", f"{machine.path}/pressure")
        temperature, pressure = MACHINES[machine.path]
        assert machine.center[0] == pytest.approx(temperature, abs=0.5)
        assert machine.center[1] == pytest.approx(pressure, abs=0.02)
        assert all(0.3 * s < scale < 3 * s for scale, s in zip(machine.scale, (0.8, 0.03), strict=True))
    assert (card.training.window_start, card.training.window_end) == ("2026-01-05T06:00:00Z", "2026-01-05T09:00:00Z")
    assert card.training.source == "curated.tag_minute"
    assert card.training.rows == len(MACHINES) * len(FEATURES) * 180
    assert card.window_s == 60
    assert card.output_tag == "anomaly_score"
    assert card.metrics["samples"] == len(MACHINES) * 180
    assert card.metrics["train_anomalous_share"] <= 0.01
    assert card.metrics["onnx_max_rel_diff"] <= 1e-4


@pytest.mark.spark
def test_training_again_with_the_same_seed_writes_the_same_bytes(
    export: Export, trained: tuple[Path, TrainedModel], tmp_path: Path
) -> None:
    model_dir, _ = trained
    train(export.folder, tmp_path, OPTIONS)
    for name in (ONNX_FILE, CARD_FILE):
        assert (tmp_path / name).read_bytes() == (model_dir / name).read_bytes(), name


@pytest.mark.spark
def test_sagemaker_script_mode_trains_the_same_model(
    export: Export, trained: tuple[Path, TrainedModel], tmp_path: Path
) -> None:
    """The container's layout: source_dir ml/training in /opt/ml/code, the ml package beside it
    (dependencies), hyperparameters as arguments, channel and model folder from SM_* variables."""
    model_dir, _ = trained
    code = tmp_path / "code"
    shutil.copytree(ROOT / "ml" / "training", code, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(ROOT / "ml", code / "ml", ignore=shutil.ignore_patterns("__pycache__"))
    assert (code / "requirements.txt").exists()
    out = tmp_path / "model"
    environment = {key: value for key, value in os.environ.items() if key not in ("PYTHONPATH", "SM_CHANNEL_TRAIN")}
    environment.update(SM_CHANNEL_TRAIN=str(export.folder), SM_MODEL_DIR=str(out))
    done = subprocess.run(
        [
            *(sys.executable, "train.py", "--name", "filler-anomaly"),
            *("--features", "temperature,pressure", "--window-end", "2026-01-05T09:00:00Z"),
        ],
        cwd=code,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert re.match(r"^train: name=filler-anomaly version=[0-9a-f]{12} machines=4 samples=720 ", done.stdout)
    for name in (ONNX_FILE, CARD_FILE):
        assert (out / name).read_bytes() == (model_dir / name).read_bytes(), name


# ---- input checks (no Spark: a few synthetic minutes) ---------------------------------------------


def write_minutes(folder: Path, rows: list[tuple[str, int, float]], name: str = "part-0.parquet") -> Path:
    """Parquet of (path, minute index from START, value_avg) rows, tag_minute's column names and types."""
    folder.mkdir(parents=True, exist_ok=True)
    starts = [START.replace(tzinfo=None) + timedelta(minutes=minute) for _, minute, _ in rows]
    table = pa.table(
        {
            "site": pa.array(["plantA"] * len(rows)),
            "path": pa.array([path for path, _, _ in rows]),
            "window_start": pa.array(starts, pa.timestamp("us")),
            "window_end": pa.array([start + timedelta(minutes=1) for start in starts], pa.timestamp("us")),
            "value_avg": pa.array([value for _, _, value in rows], pa.float64()),
        }
    )
    target = folder / name
    pq.write_table(table, target)
    return target


def synthetic_rows(machines: dict[str, int], seed: int = 3) -> list[tuple[str, int, float]]:
    """Normal minutes: machine -> how many, both features."""
    rng = np.random.default_rng(seed)
    return [
        (f"{machine}/{feature}", minute, float(rng.normal(60 if feature == "temperature" else 2, 1)))
        for machine, count in machines.items()
        for minute in range(count)
        for feature in FEATURES
    ]


def test_bad_options_are_all_reported_with_their_fix() -> None:
    options = TrainOptions(
        name="filler anomaly",
        features=("temperature", "temperature", "a/b"),
        machines=("acme/plantA",),
        window_start=TRAIN_END,
        window_end=START,
        components=0,
        threshold_quantile=1.0,
        min_scale=0.0,
        min_samples=1,
        output_tag="temperature",
    )
    with pytest.raises(ValueError) as raised:
        check_options(options)
    assert str(raised.value).split("\n") == [
        "--name 'filler anomaly' is not letters, digits and '-'; fix: use e.g. filler-anomaly",
        "--features 'a/b' are not tag names; fix: use e.g. temperature",
        "--features lists temperature twice; fix: list each feature once",
        "--machines 'acme/plantA' are not enterprise/site/area/line/cell; "
        "fix: use e.g. acme/plantA/filling/line1/filler1",
        "--window-start is not before --window-end; fix: swap them or widen the window",
        "--components 0 is not 1..10; fix: use 1, or one per normal mode",
        "--threshold-quantile 1.0 is not in (0.5, 1); fix: use e.g. 0.995",
        "--min-scale 0.0 is not a positive number; fix: use e.g. 0.001",
        "--min-samples 1 is below 2; fix: use e.g. 30",
        "--output-tag 'temperature' is not a tag name outside the features; fix: use anomaly_score",
    ]


def test_a_folder_without_parquet_files_is_refused(tmp_path: Path) -> None:
    (tmp_path / "_SUCCESS").write_text("")
    with pytest.raises(ValueError, match=r"no Parquet files; fix: export curated\.tag_minute there"):
        train(tmp_path, tmp_path / "model", OPTIONS)


def test_a_file_without_the_needed_columns_is_refused(tmp_path: Path) -> None:
    target = tmp_path / "part.parquet"
    pq.write_table(pa.table({"path": ["a"], "value_avg": [1.0]}), target)
    with pytest.raises(ValueError) as raised:
        train(tmp_path, tmp_path / "model", OPTIONS)
    assert str(raised.value) == (
        f"{target}: no column(s) window_start, window_end; "
        "fix: export the rows of curated.tag_minute with all its columns"
    )


def test_minutes_listed_twice_are_refused(tmp_path: Path) -> None:
    rows = synthetic_rows({FILLER2: 40})
    write_minutes(tmp_path, rows)
    write_minutes(tmp_path, rows[:3], name="part-1.parquet")
    with pytest.raises(ValueError) as raised:
        train(tmp_path, tmp_path / "model", replace(OPTIONS, window_end=None))
    assert str(raised.value) == (
        "3 tag minute(s) appear more than once; "
        "fix: export the current snapshot of curated.tag_minute (a query), not its data files"
    )


def test_machines_with_too_few_complete_minutes_are_named(tmp_path: Path) -> None:
    rows = synthetic_rows({FILLER2: 40, "acme/plantA/filling/line1/filler1": 10})
    rows.append(("acme/plantA/filling/line1/filler1/temperature", 99, 60.0))  # no pressure: incomplete
    write_minutes(tmp_path, rows)
    with pytest.raises(ValueError) as raised:
        train(tmp_path, tmp_path / "model", replace(OPTIONS, window_end=None))
    assert str(raised.value) == (
        "machine(s) with fewer than 30 complete minutes: acme/plantA/filling/line1/filler1 (10); "
        "fix: widen the window, or pass --machines without them"
    )
    model = train(tmp_path, tmp_path / "model", replace(OPTIONS, window_end=None, machines=(FILLER2,)))
    assert [machine.path for machine in model.card.machines] == [FILLER2]
    model = train(tmp_path, tmp_path / "model", replace(OPTIONS, window_end=None, min_samples=10))
    assert model.card.metrics["incomplete_minutes"] == 1
    assert model.card.metrics["samples"] == 50


def test_no_rows_in_the_window_is_refused(tmp_path: Path) -> None:
    write_minutes(tmp_path, synthetic_rows({FILLER2: 40}))
    with pytest.raises(ValueError, match=r"^no curated\.tag_minute rows of features temperature, pressure in the"):
        train(tmp_path, tmp_path / "model", replace(OPTIONS, window_start=NOW, window_end=None))


def test_main_reports_a_bad_input_on_stderr_and_fails(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status = main(["--train", str(tmp_path), "--model-dir", str(tmp_path / "m"), "--name", "x", "--features", "t"])
    assert status == 1
    assert capsys.readouterr().err == (
        f"train: {tmp_path}: no Parquet files; fix: export curated.tag_minute there (e.g. Athena UNLOAD)\n"
    )
    assert not (tmp_path / "m").exists()


def test_main_needs_the_folders(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv("SM_CHANNEL_TRAIN", raising=False)
    monkeypatch.delenv("SM_MODEL_DIR", raising=False)
    with pytest.raises(SystemExit):
        main(["--name", "x", "--features", "t"])
    assert "no input folder; fix: pass --train <folder> (SageMaker sets SM_CHANNEL_TRAIN)" in capsys.readouterr().err


def test_a_window_time_needs_a_zone(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["--train", "a", "--model-dir", "b", "--name", "x", "--features", "t", "--window-end", "2026-01-05"])
    assert "'2026-01-05' has no time zone; fix: write 2026-01-05T06:00:00Z" in capsys.readouterr().err


def test_an_onnx_graph_that_disagrees_with_scikit_learn_writes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_minutes(tmp_path / "in", synthetic_rows({FILLER2: 40}))
    convert = train_module.convert_sklearn

    def stale_graph(model: Any, **options: Any) -> Any:
        graph = convert(model, **options)
        model.means_ = model.means_ + 1.0  # the graph now describes another model than scikit-learn's
        return graph

    monkeypatch.setattr(train_module, "convert_sklearn", stale_graph)
    with pytest.raises(RuntimeError, match=r"^onnxruntime's scores differ from scikit-learn's by .* relative"):
        train(tmp_path / "in", tmp_path / "model", replace(OPTIONS, window_end=None))
    assert not (tmp_path / "model").exists()


def test_the_columns_read_are_tag_minute_columns() -> None:
    names = dict(TAG_MINUTE_COLUMNS)
    assert {column: names[column] for column in COLUMNS} == {
        "path": "string",
        "window_start": "timestamp",
        "window_end": "timestamp",
        "value_avg": "double",
    }


def pins(path: Path) -> dict[str, str]:
    """name -> version of a requirements file, following ``-r`` includes."""
    found: dict[str, str] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if line.startswith("-r "):
            found.update(pins(path.parent / line[3:].strip()))
        elif "==" in line:
            name, version = line.split("==")
            found[re.sub(r"\[.*\]", "", name).lower()] = version
    return found


def test_the_container_installs_the_versions_the_tests_use() -> None:
    container = pins(ROOT / "ml" / "training" / "requirements.txt")
    development = pins(ROOT / "requirements-dev.txt")
    assert {"scikit-learn", "skl2onnx", "onnx", "onnxruntime"} <= set(container)
    assert {name: development.get(name) for name in container} == container
