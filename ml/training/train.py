"""Learn each machine's normal behaviour from curated 1-minute aggregates; write ``model.onnx`` and its card.

Input: Parquet files of rows of the curated ``tag_minute`` table, an export of its current snapshot
(Athena ``UNLOAD``, Spark ``write.parquet``; any folder layout, read recursively; files whose name
starts with ``_`` or ``.`` are skipped like Spark's markers). Only ``path``, ``window_start``,
``window_end`` and ``value_avg`` are read. Timestamps without a zone are UTC (the ETL's session zone).

The model, and why this one:

1. Per machine (ISA-95 cell) and feature, a robust center (median) and scale (MAD x 1.4826, floored at
   ``min_scale``) of the minute means. Machines of one kind run at different set points; normalising
   each with its own statistics lets one model serve all of them, and median and MAD barely move when
   the unlabelled history contains a few faults (a mean and a standard deviation would absorb them).
2. One Gaussian mixture (full covariance, ``components`` of them, 1 by default) on the normalised
   features of all machines sharing the feature set: a robust z-score model per signal group. Its
   anomaly score, the negative log-likelihood, grows with the squared distance from normal, counted
   in each machine's own robust spreads; the full covariance also catches a combination the
   machines never showed while each signal stays in its own range (what a per-signal z-score
   misses), and more components learn several normal modes (running and idle temperatures). It
   pools the minutes of all machines, so a machine with a short history still gets a well-trained
   model, and skl2onnx exports it to a few matrix operations onnxruntime runs on a gateway.
   An isolation forest was tried first and rejected: a row outside the training range follows the
   path of the most extreme training rows, so its score saturates there, and on the training test's
   data a 10-sigma fault scored like the top half percent of normal minutes.
3. The threshold is the ``threshold_quantile`` quantile of the training minutes' anomaly scores,
   computed from the ONNX graph's own output: the numbers a gateway will compute.

``anomaly_score = -score_samples`` (the graph's log-likelihood output; card ``score_sign`` -1), so
higher is more anomalous. Deterministic: the same rows, options and seed give the same
``model.onnx`` bytes, hence the same content version. Before anything is written, onnxruntime's
scores of the training rows must match scikit-learn's within ``ONNX_TOLERANCE`` (relative).

Locally::

    python -m ml.training.train --train <folder> --model-dir <folder> --name filler-anomaly \\
        --features temperature,pressure [--window-start 2026-01-05T06:00:00Z ...]

SageMaker script mode (scikit-learn container, Python 3.11 or later)::

    SKLearn(entry_point="train.py", source_dir="ml/training", dependencies=["ml"],
            hyperparameters={"name": "filler-anomaly", "features": "temperature,pressure"}, ...)

``dependencies`` puts the ``ml`` package beside the script, ``requirements.txt`` beside this file
installs the pinned libraries, and the ``train`` channel and the model folder default to
``SM_CHANNEL_TRAIN`` and ``SM_MODEL_DIR``: the model folder becomes ``model.tar.gz``.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import onnxruntime
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from skl2onnx import convert_sklearn
from skl2onnx.common.data_types import FloatTensorType
from sklearn.mixture import GaussianMixture

from ml.model_card import (
    MACHINE_PATH_RE,
    NAME_RE,
    SCHEMA,
    SEGMENT_RE,
    ModelCard,
    card_json,
    content_version,
    parse_card,
)

SOURCE = "curated.tag_minute"
# The tag_minute columns read (dmc_etl/schemas.py TAG_MINUTE_COLUMNS; a test keeps them a subset).
COLUMNS = ("path", "window_start", "window_end", "value_avg")
ONNX_FILE = "model.onnx"
CARD_FILE = "model-card.json"
ONNX_INPUT = "X"
# skl2onnx's GaussianMixture outputs "label", "probabilities" and, with the score_samples option,
# "score_samples": the log-likelihood of each row (lower is more anomalous).
SCORE_OUTPUT = "score_samples"
SCORE_SIGN = -1
# Opsets onnxruntime on the gateway runs; pinned so a newer onnx package cannot raise them silently.
TARGET_OPSET = {"": 18, "ai.onnx.ml": 3}
# Largest allowed |onnxruntime - scikit-learn| on a training row, relative to the score (float32 graph).
ONNX_TOLERANCE = 1e-4
# MAD x 1.4826 estimates the standard deviation of normally distributed values.
MAD_TO_SIGMA = 1.4826
_MICROS = 1_000_000


@dataclass(frozen=True)
class TrainOptions:
    """What to learn, and how. ``machines`` empty: every machine that has all the features."""

    name: str
    features: tuple[str, ...]
    machines: tuple[str, ...] = ()
    window_start: datetime | None = None  # inclusive, on window_start; None: from the first row
    window_end: datetime | None = None  # exclusive; None: up to the last row
    seed: int = 0
    components: int = 1  # Gaussian components: more for machines with several normal modes (running, idle)
    threshold_quantile: float = 0.995
    min_scale: float = 1e-3  # in each tag's canonical unit: the spread of a signal that never moved
    min_samples: int = 30  # complete minutes a machine needs
    output_tag: str = "anomaly_score"


@dataclass(frozen=True)
class Samples:
    """Complete minutes (every feature present) per machine, in window_start order."""

    machines: tuple[str, ...]
    values: tuple[np.ndarray, ...]  # per machine: float64 [minutes, features]
    rows: int  # tag_minute rows of the features, machines and window
    incomplete: int  # machine-minutes missing at least one feature (not trained on)
    window_start_us: int
    window_end_us: int
    window_s: int


@dataclass(frozen=True)
class TrainedModel:
    """The two files of a model version: the ONNX bytes and their (valid) card."""

    onnx: bytes
    card: ModelCard


def check_options(options: TrainOptions) -> None:
    """Raise ValueError naming every bad option before any data is read."""
    errors = []
    if not NAME_RE.match(options.name):
        errors.append(f"--name {options.name!r} is not letters, digits and '-'; fix: use e.g. filler-anomaly")
    if not options.features:
        errors.append("--features is empty; fix: list the tag names to learn, e.g. temperature,pressure")
    bad = [feature for feature in options.features if not SEGMENT_RE.match(feature)]
    if bad:
        errors.append(f"--features {', '.join(map(repr, bad))} are not tag names; fix: use e.g. temperature")
    repeated = sorted({feature for feature in options.features if options.features.count(feature) > 1})
    if repeated:
        errors.append(f"--features lists {', '.join(repeated)} twice; fix: list each feature once")
    bad = [machine for machine in options.machines if not MACHINE_PATH_RE.match(machine)]
    if bad:
        errors.append(
            f"--machines {', '.join(map(repr, bad))} are not enterprise/site/area/line/cell; "
            "fix: use e.g. acme/plantA/filling/line1/filler1"
        )
    if options.window_start and options.window_end and not options.window_start < options.window_end:
        errors.append("--window-start is not before --window-end; fix: swap them or widen the window")
    if not 1 <= options.components <= 10:
        errors.append(f"--components {options.components} is not 1..10; fix: use 1, or one per normal mode")
    if not 0.5 < options.threshold_quantile < 1:
        errors.append(f"--threshold-quantile {options.threshold_quantile} is not in (0.5, 1); fix: use e.g. 0.995")
    if not (np.isfinite(options.min_scale) and options.min_scale > 0):
        errors.append(f"--min-scale {options.min_scale} is not a positive number; fix: use e.g. 0.001")
    if options.min_samples < 2:
        errors.append(f"--min-samples {options.min_samples} is below 2; fix: use e.g. 30")
    if not SEGMENT_RE.match(options.output_tag) or options.output_tag in options.features:
        errors.append(
            f"--output-tag {options.output_tag!r} is not a tag name outside the features; fix: use anomaly_score"
        )
    if errors:
        raise ValueError("\n".join(errors))


def read_minutes(folder: Path) -> pa.Table:
    """``COLUMNS`` of every Parquet file under ``folder``, times as epoch microseconds (UTC)."""
    files = sorted(
        path
        for path in folder.rglob("*.parquet")
        if not any(part.startswith(("_", ".")) for part in path.relative_to(folder).parts)
    )
    if not files:
        raise ValueError(f"{folder}: no Parquet files; fix: export curated.tag_minute there (e.g. Athena UNLOAD)")
    tables = []
    for path in files:
        names = pq.read_schema(path).names
        missing = [column for column in COLUMNS if column not in names]
        if missing:
            raise ValueError(
                f"{path}: no column(s) {', '.join(missing)}; fix: export the rows of {SOURCE} with all its columns"
            )
        table = pq.ParquetFile(path).read(columns=list(COLUMNS))
        tables.append(
            pa.table(
                {
                    "path": table["path"].cast(pa.string()),
                    "window_start": _epoch_micros(table["window_start"]),
                    "window_end": _epoch_micros(table["window_end"]),
                    "value_avg": table["value_avg"].cast(pa.float64()),
                }
            )
        )
    return pa.concat_tables(tables)


def _epoch_micros(column: pa.ChunkedArray) -> pa.ChunkedArray:
    # A zone-aware timestamp stores UTC; a naive one is UTC wall time here: both are epoch integers.
    if not pa.types.is_timestamp(column.type):
        raise ValueError(f"column of type {column.type} is not a timestamp; fix: export {SOURCE} unchanged")
    return column.cast(pa.timestamp("us", tz=column.type.tz)).cast(pa.int64())


def _micros_of(moment: datetime) -> int:
    if moment.tzinfo is None:
        raise ValueError(f"{moment!r} has no time zone; fix: give UTC times like 2026-01-05T06:00:00Z")
    return int(moment.timestamp() * _MICROS)


def machine_samples(minutes: pa.Table, options: TrainOptions) -> Samples:
    """The complete minutes of each machine, checked: one row per tag and minute, one window length."""
    table = minutes.drop_null()
    if options.window_start is not None:
        table = table.filter(pc.greater_equal(table["window_start"], _micros_of(options.window_start)))
    if options.window_end is not None:
        table = table.filter(pc.less(table["window_start"], _micros_of(options.window_end)))
    table = table.append_column("machine", pc.replace_substring_regex(table["path"], r"/[^/]*$", ""))
    table = table.append_column("feature", pc.replace_substring_regex(table["path"], r"^.*/", ""))
    table = table.filter(pc.is_in(table["feature"], value_set=pa.array(options.features)))
    if options.machines:
        table = table.filter(pc.is_in(table["machine"], value_set=pa.array(options.machines)))
    if table.num_rows == 0:
        raise ValueError(
            f"no {SOURCE} rows of features {', '.join(options.features)} in the window; "
            "fix: check --features, --machines and the window against the exported rows"
        )
    keys = table.group_by(["path", "window_start"]).aggregate([([], "count_all")])
    if keys.num_rows != table.num_rows:
        raise ValueError(
            f"{table.num_rows - keys.num_rows} tag minute(s) appear more than once; "
            f"fix: export the current snapshot of {SOURCE} (a query), not its data files"
        )
    lengths = pc.unique(pc.subtract(table["window_end"], table["window_start"])).to_pylist()
    if len(lengths) != 1 or lengths[0] % _MICROS or lengths[0] <= 0:
        raise ValueError(f"windows of {sorted(lengths)} microseconds; fix: export one aggregate table ({SOURCE})")
    joined = None
    for feature in options.features:
        part = table.filter(pc.equal(table["feature"], feature)).select(["machine", "window_start", "value_avg"])
        part = part.rename_columns(["machine", "window_start", feature])
        joined = part if joined is None else joined.join(part, keys=["machine", "window_start"], join_type="inner")
    assert joined is not None
    joined = joined.sort_by([("machine", "ascending"), ("window_start", "ascending")])
    minute_keys = table.group_by(["machine", "window_start"]).aggregate([([], "count_all")]).num_rows
    machine_of_row = np.asarray(joined["machine"].to_pylist(), dtype=object)
    matrix = np.column_stack([joined[feature].to_numpy() for feature in options.features]).astype(np.float64)
    found = sorted(set(machine_of_row.tolist()))
    wanted = list(options.machines) or found
    counts = {machine: int(np.count_nonzero(machine_of_row == machine)) for machine in wanted}
    short = [f"{machine} ({count})" for machine, count in counts.items() if count < options.min_samples]
    if short:
        raise ValueError(
            f"machine(s) with fewer than {options.min_samples} complete minutes: {', '.join(short)}; "
            "fix: widen the window, or pass --machines without them"
        )
    machines = tuple(sorted(wanted))
    return Samples(
        machines=machines,
        values=tuple(matrix[machine_of_row == machine] for machine in machines),
        rows=table.num_rows,
        incomplete=minute_keys - joined.num_rows,
        window_start_us=int(pc.min(table["window_start"]).as_py()),
        window_end_us=int(pc.max(table["window_end"]).as_py()),
        window_s=lengths[0] // _MICROS,
    )


def robust_center_scale(values: np.ndarray, min_scale: float) -> tuple[np.ndarray, np.ndarray]:
    """Per column: median, and MAD x 1.4826 floored at ``min_scale``."""
    center = np.median(values, axis=0)
    scale = np.maximum(np.median(np.abs(values - center), axis=0) * MAD_TO_SIGMA, min_scale)
    return center, scale


def anomaly_scores(session: onnxruntime.InferenceSession, normalised: np.ndarray) -> np.ndarray:
    """``score_sign * scores`` of normalised rows: what a gateway emits (higher is more anomalous)."""
    (scores,) = session.run([SCORE_OUTPUT], {ONNX_INPUT: normalised.astype(np.float32)})
    return SCORE_SIGN * np.asarray(scores, dtype=np.float64).reshape(-1)


def _timestamp(micros: int) -> str:
    return datetime.fromtimestamp(micros / _MICROS, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def fit(samples: Samples, options: TrainOptions) -> TrainedModel:
    """Normalise per machine, fit the mixture, export and check the ONNX graph, choose the threshold."""
    stats = [robust_center_scale(values, options.min_scale) for values in samples.values]
    normalised = np.vstack(
        [(values - center) / scale for values, (center, scale) in zip(samples.values, stats, strict=True)]
    ).astype(np.float32)
    if len(normalised) < options.components * (len(options.features) + 1):
        raise ValueError(
            f"{len(normalised)} samples cannot fit {options.components} component(s) of {len(options.features)} "
            "feature(s); fix: widen the window or lower --components"
        )
    mixture = GaussianMixture(n_components=options.components, covariance_type="full", random_state=options.seed)
    mixture.fit(normalised)
    graph = convert_sklearn(
        mixture,
        name=options.name,  # the graph name is a random UUID otherwise: the bytes would change every run
        initial_types=[(ONNX_INPUT, FloatTensorType([None, len(options.features)]))],
        target_opset=TARGET_OPSET,
        options={id(mixture): {"score_samples": True}},
    )
    onnx_bytes = graph.SerializeToString()
    session = onnxruntime.InferenceSession(onnx_bytes, providers=["CPUExecutionProvider"])
    scores = anomaly_scores(session, normalised)
    expected = SCORE_SIGN * mixture.score_samples(normalised)
    difference = float(np.max(np.abs(scores - expected) / np.maximum(np.abs(expected), 1.0)))
    if not difference <= ONNX_TOLERANCE:
        raise RuntimeError(
            f"onnxruntime's scores differ from scikit-learn's by {difference:.3g} relative (> {ONNX_TOLERANCE}); "
            "fix: check the pinned skl2onnx/onnxruntime versions and TARGET_OPSET (nothing was written)"
        )
    threshold = float(np.quantile(scores, options.threshold_quantile))
    document = {
        "schema": SCHEMA,
        "name": options.name,
        "version": content_version(onnx_bytes),
        "features": list(options.features),
        "window_s": samples.window_s,
        "machines": [
            {
                "path": machine,
                "inputs": [f"{machine}/{feature}" for feature in options.features],
                "center": [float(value) for value in center],
                "scale": [float(value) for value in scale],
            }
            for machine, (center, scale) in zip(samples.machines, stats, strict=True)
        ],
        "onnx": {"file": ONNX_FILE, "input": ONNX_INPUT, "score_output": SCORE_OUTPUT, "score_sign": SCORE_SIGN},
        "output_tag": options.output_tag,
        "threshold": threshold,
        "training": {
            "source": SOURCE,
            "window_start": _timestamp(samples.window_start_us),
            "window_end": _timestamp(samples.window_end_us),
            "rows": samples.rows,
        },
        "metrics": {
            "samples": float(len(normalised)),
            "machines": float(len(samples.machines)),
            "incomplete_minutes": float(samples.incomplete),
            "components": float(options.components),
            "seed": float(options.seed),
            "threshold_quantile": options.threshold_quantile,
            "train_anomalous_share": float(np.mean(scores > threshold)),
            "score_p50": float(np.quantile(scores, 0.5)),
            "score_max": float(np.max(scores)),
            "onnx_max_rel_diff": difference,
        },
    }
    return TrainedModel(onnx=onnx_bytes, card=parse_card(document))


def write_model(model: TrainedModel, folder: Path) -> None:
    """``model.onnx`` and ``model-card.json`` in ``folder`` (created if missing)."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / ONNX_FILE).write_bytes(model.onnx)
    (folder / CARD_FILE).write_text(card_json(model.card), encoding="utf-8")


def train(train_dir: Path, model_dir: Path, options: TrainOptions) -> TrainedModel:
    """Read the exported minutes under ``train_dir``, learn, and write the model version to ``model_dir``."""
    check_options(options)
    model = fit(machine_samples(read_minutes(train_dir), options), options)
    write_model(model, model_dir)
    return model


def _utc(text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an ISO 8601 time; fix: write 2026-01-05T06:00:00Z") from None
    if moment.tzinfo is None:
        raise argparse.ArgumentTypeError(f"{text!r} has no time zone; fix: write 2026-01-05T06:00:00Z")
    return moment.astimezone(UTC)


def _names(text: str) -> tuple[str, ...]:
    return tuple(name.strip() for name in text.split(",") if name.strip())


def parse_args(argv: Sequence[str] | None = None) -> tuple[Path, Path, TrainOptions]:
    """Command line (SageMaker passes hyperparameters as ``--<name> <value>``) -> folders and options."""
    defaults = TrainOptions(name="", features=())
    parser = argparse.ArgumentParser(prog="ml.training.train", description=__doc__.splitlines()[0])
    parser.add_argument("--train", type=Path, default=os.environ.get("SM_CHANNEL_TRAIN"))
    parser.add_argument("--model-dir", type=Path, default=os.environ.get("SM_MODEL_DIR"))
    parser.add_argument("--name", required=True)
    parser.add_argument("--features", type=_names, required=True, help="comma-separated tag names, in column order")
    parser.add_argument("--machines", type=_names, default=(), help="comma-separated machine paths (default: all)")
    parser.add_argument("--window-start", type=_utc)
    parser.add_argument("--window-end", type=_utc)
    parser.add_argument("--seed", type=int, default=defaults.seed)
    parser.add_argument("--components", type=int, default=defaults.components)
    parser.add_argument("--threshold-quantile", type=float, default=defaults.threshold_quantile)
    parser.add_argument("--min-scale", type=float, default=defaults.min_scale)
    parser.add_argument("--min-samples", type=int, default=defaults.min_samples)
    parser.add_argument("--output-tag", default=defaults.output_tag)
    args = parser.parse_args(argv)
    if args.train is None:
        parser.error("no input folder; fix: pass --train <folder> (SageMaker sets SM_CHANNEL_TRAIN)")
    if args.model_dir is None:
        parser.error("no model folder; fix: pass --model-dir <folder> (SageMaker sets SM_MODEL_DIR)")
    options = TrainOptions(
        name=args.name,
        features=args.features,
        machines=args.machines,
        window_start=args.window_start,
        window_end=args.window_end,
        seed=args.seed,
        components=args.components,
        threshold_quantile=args.threshold_quantile,
        min_scale=args.min_scale,
        min_samples=args.min_samples,
        output_tag=args.output_tag,
    )
    return args.train, args.model_dir, options


def main(argv: Sequence[str] | None = None) -> int:
    train_dir, model_dir, options = parse_args(argv)
    try:
        model = train(train_dir, model_dir, options)
    except ValueError as error:
        print(f"train: {error}", file=sys.stderr)
        return 1
    card = model.card
    print(
        f"train: name={card.name} version={card.version} machines={len(card.machines)} "
        f"samples={int(card.metrics['samples'])} threshold={card.threshold:.6f} -> {model_dir}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
