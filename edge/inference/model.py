"""A deployed model version, loaded with onnxruntime and checked against this gateway before it may score.

A model version arrives as the artifacts of the Greengrass component ``com.dmc.Model.<name>``:
``model-card.json`` (read by ``ml.model_card``, the one parser of cards) and the ONNX file the
card names. ``load_models`` refuses a version, with one line per problem naming it and the fix,
when

* the card is missing or does not parse, names another model, or was written for other ONNX bytes;
* onnxruntime cannot load the file, or the graph does not take the card's input (float32
  ``[N, F]``, F the card's features) or does not give one ``score_output`` value per row (checked
  by running it on two rows of zeros);
* an input tag is not an analog tag of this gateway's tag map (the harmonized ISA-95 paths), a
  score would land on a tag the gateway already reads or on one another model scores, or the
  card's window is shorter than the scoring interval.

onnxruntime runs on the calling thread only (one intra-op and one inter-op thread): a gateway's
cores belong to the sources and the pipeline, and a batch of a few hundred rows gains nothing
from a thread pool.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import onnxruntime as ort
from numpy.typing import NDArray

from ml.model_card import ModelCard, parse_card, verify_version

CARD_FILE = "model-card.json"
FLOAT_TENSOR = "tensor(float)"


class ModelError(ValueError):
    """A model version this gateway refuses; ``problems`` has one line each."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("\n".join(problems))


class LoadedModel:
    """A checked model version: its card and an onnxruntime session of its graph."""

    def __init__(self, card: ModelCard, session: ort.InferenceSession) -> None:
        self.card = card
        self.name = card.name
        self.version = card.version
        self.window_s = card.window_s
        self.inputs = tuple(machine.inputs for machine in card.machines)
        self.score_paths = tuple(card.score_path(machine) for machine in card.machines)
        self._center = np.array([machine.center for machine in card.machines], dtype=np.float64)
        self._scale = np.array([machine.scale for machine in card.machines], dtype=np.float64)
        self._session = session
        self._input = card.onnx.input
        self._output = card.onnx.score_output
        self._sign = float(card.onnx.score_sign)

    def __repr__(self) -> str:
        return f"LoadedModel({self.name} {self.version}, {len(self.inputs)} machines)"

    def score(self, machines: NDArray[np.intp], features: NDArray[np.float64]) -> NDArray[np.float64]:
        """Anomaly scores (``score_sign * output``) of the given machines (card order) from their raw features.

        One onnxruntime run for all rows: each row normalised with its machine's center and scale.
        """
        rows = ((features - self._center[machines]) / self._scale[machines]).astype(np.float32)
        (output,) = self._session.run([self._output], {self._input: rows})
        return self._sign * np.asarray(output, dtype=np.float64).reshape(len(machines))


def _session_options() -> ort.SessionOptions:
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.log_severity_level = 3  # errors only: the component log is for the operator
    return options


def _first_line(error: Exception) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def _graph_problems(card: ModelCard, session: ort.InferenceSession, where: str) -> list[str]:
    """What keeps the graph from taking the card's rows and giving one score each."""
    width = len(card.features)
    onnx = card.onnx
    inputs = {node.name: node for node in session.get_inputs()}
    outputs = [node.name for node in session.get_outputs()]
    fix = "fix: export the model with the card's input and features, or correct the card"
    problems = []
    if onnx.input not in inputs:
        problems.append(f"{where} {onnx.file}: has no input {onnx.input!r} (it has {sorted(inputs)}); {fix}")
    else:
        node = inputs[onnx.input]
        shape = list(node.shape)
        if node.type != FLOAT_TENSOR:
            problems.append(f"{where} {onnx.file}: input {onnx.input!r} is {node.type}, not float32; {fix}")
        if len(shape) != 2:
            problems.append(f"{where} {onnx.file}: input {onnx.input!r} has shape {shape}, not [N, {width}]; {fix}")
        elif isinstance(shape[1], int) and shape[1] != width:
            problems.append(
                f"{where} {onnx.file}: input {onnx.input!r} has width {shape[1]}, but the card lists {width} "
                f"feature(s) ({', '.join(card.features)}); {fix}"
            )
    others = sorted(set(inputs) - {onnx.input})
    if others:
        problems.append(f"{where} {onnx.file}: also needs input(s) {others}, which the stage cannot feed; {fix}")
    if onnx.score_output not in outputs:
        problems.append(f"{where} {onnx.file}: has no output {onnx.score_output!r} (it has {outputs}); {fix}")
    if problems:
        return problems
    try:
        (probe,) = session.run([onnx.score_output], {onnx.input: np.zeros((2, width), dtype=np.float32)})
    except Exception as error:  # onnxruntime raises its own exception classes, one per status code
        return [f"{where} {onnx.file}: fails on two rows of {width} features ({_first_line(error)}); {fix}"]
    size = np.asarray(probe).size
    if size != 2:
        return [
            f"{where} {onnx.file}: output {onnx.score_output!r} gives {size} value(s) for 2 rows, not one per row; "
            f"{fix}"
        ]
    return []


def _tag_problems(card: ModelCard, where: str, *, tag_kinds: Mapping[str, str], gateway: str) -> list[str]:
    """Inputs this gateway does not read as analog tags, and scores that would overwrite one of its tags."""
    inputs = [path for machine in card.machines for path in machine.inputs]
    missing = [path for path in inputs if path not in tag_kinds]
    not_analog = [f"{path} ({tag_kinds[path]})" for path in inputs if tag_kinds.get(path, "analog") != "analog"]
    taken = [path for path in (card.score_path(machine) for machine in card.machines) if path in tag_kinds]
    problems = []
    if missing:
        problems.append(
            f"{where} ({card.name} {card.version}): {len(missing)} input(s) not in the tag map of gateway {gateway}: "
            f"{', '.join(missing)}; fix: add these tags to the gateway's tag map, or deploy {card.component_name} "
            "only to the gateways that read them"
        )
    if not_analog:
        problems.append(
            f"{where} ({card.name} {card.version}): input(s) {', '.join(not_analog)} are not analog tags, and a "
            "feature is the mean of an analog value; fix: train on analog tags only"
        )
    if taken:
        problems.append(
            f"{where} ({card.name} {card.version}): score tag(s) {', '.join(taken)} are tags the gateway reads; "
            "fix: choose another output_tag for the model"
        )
    return problems


def load_model(name: str, artifact_dir: Path, *, tag_kinds: Mapping[str, str], gateway: str, where: str) -> LoadedModel:
    """Load and check one model version; raises ModelError listing every problem.

    ``tag_kinds``: ISA-95 path -> kind (analog, counter, state) of every tag of the gateway's tag map;
    ``where`` names the configuration entry in messages, e.g. ``models[0]``.
    """
    component = f"com.dmc.Model.{name}"
    try:
        text = (artifact_dir / CARD_FILE).read_bytes()
    except OSError as error:
        raise ModelError(
            [
                f"{where}.artifactDir {str(artifact_dir)!r}: cannot read {CARD_FILE} ({error.strerror}); "
                f"fix: point artifactDir at the artifacts folder of {component} ({{artifacts:path}})"
            ]
        ) from None
    try:
        card = parse_card(text)
    except ValueError as error:
        raise ModelError([f"{where} {CARD_FILE}: {line}" for line in str(error).splitlines()]) from None
    problems = []
    if card.name != name:
        problems.append(
            f"{where}: {CARD_FILE} is the card of model {card.name!r}, but the entry names {name!r}; "
            f"fix: point artifactDir at the artifacts of {component}"
        )
    problems += _tag_problems(card, where, tag_kinds=tag_kinds, gateway=gateway)
    try:
        graph = (artifact_dir / card.onnx.file).read_bytes()
    except OSError as error:
        problems.append(
            f"{where}: cannot read {card.onnx.file} next to the card ({error.strerror}); "
            f"fix: ship it as an artifact of {component}"
        )
        raise ModelError(problems) from None
    try:
        verify_version(card, graph)
    except ValueError as error:
        problems.append(f"{where} {CARD_FILE}: {error}")
        raise ModelError(problems) from None
    try:
        session = ort.InferenceSession(graph, sess_options=_session_options(), providers=["CPUExecutionProvider"])
    except Exception as error:  # onnxruntime raises its own exception classes, one per status code
        problems.append(
            f"{where} {card.onnx.file}: onnxruntime {ort.__version__} cannot load it ({_first_line(error)}); "
            "fix: export it again (skl2onnx, an opset this onnxruntime supports)"
        )
        raise ModelError(problems) from None
    problems += _graph_problems(card, session, where)
    if problems:
        raise ModelError(problems)
    return LoadedModel(card, session)


def load_models(
    entries: Sequence[tuple[str, Path]], *, tag_kinds: Mapping[str, str], gateway: str, interval_s: float
) -> tuple[list[LoadedModel], list[str]]:
    """Load every ``(name, artifact_dir)`` entry: the models that passed, and every problem of the others.

    Besides each model's own checks: a score tag is claimed by one model only (a later entry is
    refused), and a card's window holds at least one scoring interval.
    """
    loaded: list[LoadedModel] = []
    problems: list[str] = []
    claimed: dict[str, str] = {}
    for index, (name, artifact_dir) in enumerate(entries):
        where = f"models[{index}]"
        try:
            model = load_model(name, artifact_dir, tag_kinds=tag_kinds, gateway=gateway, where=where)
        except ModelError as error:
            problems += error.problems
            continue
        own = []
        if model.window_s < interval_s:
            own.append(
                f"{where} ({model.name} {model.version}): window_s {model.window_s} is shorter than score_interval_s "
                f"{interval_s:g}; fix: set score_interval_s to at most {model.window_s}"
            )
        twice = [path for path in model.score_paths if path in claimed]
        if twice:
            own.append(
                f"{where} ({model.name} {model.version}): score tag(s) {', '.join(twice)} are scored by "
                f"{claimed[twice[0]]} already; fix: deploy one model per machine, or give them different output_tag"
            )
        if own:
            problems += own
            continue
        claimed.update(dict.fromkeys(model.score_paths, model.name))
        loaded.append(model)
    return loaded, problems
