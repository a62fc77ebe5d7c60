"""The model stage end to end: simulator -> pipeline with a real ONNX model -> mosquitto over mutual TLS.

Scores arrive as ordinary tag values in the line's batches, a fault raises its machine's score,
a deployment naming a bad model is rejected with the model's problems while the running model
scores on, and a new version swaps in without restarting the pipeline or losing a value.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from awsiot.greengrasscoreipc.model import ConfigurationValidityStatus
from conftest import MACHINES, NAME, UNITS, WINDOW_S
from gateway_peers import BrokerIpc, FaultySource
from model_versions import LINE, card_document, linear, machine_path, mixture, tag_map_data, write_version
from numpy.typing import NDArray

from edge.greengrass.tag_pipeline import COMPONENT, PipelineHost
from edge.inference.model import CARD_FILE, load_model
from edge.inference.stage import ScoringStage
from edge.pipeline.local_mosquitto import LocalMosquitto, Pki
from edge.pipeline.runner import Runner, RunnerConfig
from edge.pipeline.spool import Spool
from edge.pipeline.tag_map import TagMap
from edge.sources.backoff import ReconnectSettings
from edge.sources.simulator import SimulatorSource, parse_settings
from envelope.tag_envelope import parse_timestamp
from ml.training.train import TrainedModel, write_model
from tests.edge.greengrass.component_configs import defaults
from tests.edge.greengrass.greengrass_fakes import FakeStreamManager
from tests.edge.pipeline.mqtt_peers import GATEWAY, Recorder, gateway_transport, run, wait_until

pytestmark = pytest.mark.network

INTERVAL_S = 0.25


def scores(values: list[dict[str, Any]], machine: str) -> list[dict[str, Any]]:
    return [value for value in values if value["path"] == f"{machine_path(machine)}/anomaly_score"]


def ts(value: dict[str, Any]) -> float:
    return parse_timestamp(value["ts"]).timestamp()


def received(recorder: Recorder) -> list[dict[str, Any]]:
    """Every tag value at the subscriber, once each (QoS 1 may deliver a batch twice)."""
    unique = {value["id"]: value for batch in recorder.batches() for value in batch["values"]}
    return sorted(unique.values(), key=lambda value: value["seq"])


def test_scores_reach_the_cloud_as_tags_and_a_fault_raises_them(
    broker: LocalMosquitto, pki: Pki, recorder: Recorder, tag_map: TagMap, model: TrainedModel, tmp_path: Path
) -> None:
    write_model(model, tmp_path / "v1")
    card = model.card
    kinds = {tag_map.tag_path(tag): tag.kind for tag in tag_map.tags}
    loaded = load_model(NAME, tmp_path / "v1", tag_kinds=kinds, gateway=GATEWAY, where="models[0]")
    source = FaultySource(
        SimulatorSource(parse_settings(tag_map.settings("simulator")), tag_map.addresses("simulator"))
    )
    temperature = {tag_map.tag_path(tag): tag.address for tag in tag_map.tags}[f"{machine_path('filler2')}/temperature"]
    config = RunnerConfig(
        spool_path=tmp_path / "spool.db",
        canonical_units=UNITS,
        linger_s=0.2,
        tick_s=0.05,
        reconnect=ReconnectSettings(initial_s=0.1, max_s=0.5),
    )
    stage = ScoringStage(INTERVAL_S, [loaded])
    runner = Runner(tag_map, config, sources=[source], transport=gateway_transport(broker, pki), stage=stage)

    async def scenario() -> object:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        loop.call_later(3.5, source.inject, {temperature: 2.0})  # +2 degC: the windows' spread is about 0.01
        loop.call_later(5.5, stop.set)
        return await runner.run(stop)

    summary = run(scenario)
    wait_until(lambda: len(recorder.batches()) >= summary.sent, "every confirmed batch at the subscriber")
    values = received(recorder)
    assert [value["seq"] for value in values] == list(range(summary.reported))  # one path, nothing lost
    assert {batch["line"] for batch in recorder.batches()} == {LINE}
    assert {value["path"] for value in values if value["path"].endswith("/anomaly_score")} == {
        card.score_path(machine) for machine in card.machines
    }
    assert {(value["unit"], value["quality"]) for value in values if value["path"].endswith("/anomaly_score")} == {
        ("", "good")
    }
    assert stage.scored >= 3 * 15  # about 20 scorings of three machines
    assert source.fault_ts is not None
    steady = source.fault_ts - 1.5  # windows full, before the fault
    faulty = source.fault_ts + 2 * INTERVAL_S  # the fault's values are a good part of the window
    before = [value["value"] for value in scores(values, "filler2") if steady <= ts(value) < source.fault_ts]
    during = [value["value"] for value in scores(values, "filler2") if ts(value) >= faulty]
    healthy = [value["value"] for m in ("filler1", "filler3") for value in scores(values, m) if ts(value) >= faulty]
    assert before and during and healthy
    assert min(during) > card.threshold and min(during) > max(before)
    assert min(during) > max(healthy)


def configuration(*models: Path) -> dict[str, Any]:
    """The pipeline's configuration as a deployment completes it, scoring with the model versions in ``models``."""
    return {
        **defaults(COMPONENT),
        "tag_maps": {GATEWAY: tag_map_data(MACHINES)},
        "runner": {"linger_s": 0.2, "tick_s": 0.05, "heartbeat_interval_s": 1},
        "models": [{"name": NAME, "artifactDir": str(folder)} for folder in models],
        "score_interval_s": INTERVAL_S,
    }


def bad_versions(folder: Path, model: TrainedModel) -> dict[Path, str]:
    """Versions a deployment may name that this gateway must refuse, and the start of each refusal."""
    missing = linear([1.0, 2.0], 0.0, machines=2)
    card = write_version(
        folder / "missing", missing.onnx, card_document(missing, name=NAME, machines=["filler1", "filler9"], window_s=2)
    )
    write_model(model, folder / "card")
    (folder / "card" / CARD_FILE).write_text('{"schema": "dmc.model-card/1"}', encoding="utf-8")
    two, three = linear([1.0, 2.0], 0.0, machines=3), linear([1.0, 2.0, 3.0], 0.0, machines=3)
    wide = card_document(two, name=NAME, machines=MACHINES, window_s=WINDOW_S)
    wide["version"] = card_document(three, name=NAME, machines=MACHINES, window_s=WINDOW_S)["version"]
    write_version(folder / "width", three.onnx, wide)
    return {
        folder / "missing": (
            f"models[0] ({NAME} {card.version}): 2 input(s) not in the tag map of gateway {GATEWAY}: "
            f"{machine_path('filler9')}/temperature, {machine_path('filler9')}/pressure; fix: add these tags to the "
            f"gateway's tag map, or deploy com.dmc.Model.{NAME} only to the gateways that read them"
        ),
        folder / "card": f"models[0] {CARD_FILE}: card: missing name, version, features, ",
        folder / "width": "models[0] model.onnx: input 'X' has width 3, but the card lists 2 feature(s) ",
    }


def test_bad_models_are_rejected_and_a_new_version_swaps_in_without_losing_a_value(
    broker: LocalMosquitto,
    pki: Pki,
    recorder: Recorder,
    normal: NDArray[np.float64],
    model: TrainedModel,
    retrained: TrainedModel,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="edge.greengrass.tag_pipeline")
    two_machines = mixture(normal[:, :2], machines=["filler1", "filler2"], name=NAME, window_s=WINDOW_S)
    write_model(two_machines, tmp_path / "v1")
    write_model(retrained, tmp_path / "v2")  # all three machines
    first, second = two_machines.card, retrained.card
    refusals = bad_versions(tmp_path / "bad", model)
    work = tmp_path / "work"

    def scored(machine: str) -> int:
        return len(scores(received(recorder), machine))

    with BrokerIpc(configuration(tmp_path / "v1"), broker, pki) as ipc:
        host = PipelineHost(ipc, GATEWAY, work, FakeStreamManager)

        async def until(condition: Any) -> None:
            while not condition():
                await asyncio.sleep(0.05)

        async def scenario() -> None:
            stop = asyncio.Event()
            serving = asyncio.create_task(host.serve(stop))
            await until(lambda: scored("filler1") >= 2)
            for folder, refusal in refusals.items():
                report = await asyncio.to_thread(ipc.propose, configuration(folder), f"d-{folder.name}")
                assert report.status == ConfigurationValidityStatus.REJECTED
                assert report.message.startswith(f"{COMPONENT} configuration rejected:\n{refusal}"), report.message
            running = scored("filler1")
            await until(lambda: scored("filler1") >= running + 3)  # the running version scores on
            assert host.stage is not None and [model.version for model in host.stage.models] == [first.version]
            assert scored("filler3") == 0

            swap = configuration(tmp_path / "v2")
            report = await asyncio.to_thread(ipc.propose, swap, "d-v2")
            assert report.status == ConfigurationValidityStatus.ACCEPTED
            await asyncio.to_thread(ipc.apply, swap)
            await until(lambda: scored("filler3") >= 2)  # a machine only the new version scores
            assert [model.version for model in host.stage.models] == [second.version]
            stop.set()
            await serving

        run(scenario)

        spool = Spool(work / "spool.db", max_bytes=1 << 24)
        sent, depth, values = spool.counter("seq"), spool.depth, spool.counter(f"batch_seq/{LINE}")
        spool.close()
        wait_until(lambda: len(received(recorder)) >= sent, "every value the gateway numbered at the subscriber")
    assert depth == 0
    assert [value["seq"] for value in received(recorder)] == list(range(sent))
    assert recorder.batch_seqs() == {LINE: set(range(values))}
    stops = [
        record.getMessage().split(":")[0] for record in caplog.records if "pipeline stopped" in record.getMessage()
    ]
    assert stops == ["pipeline stopped (shutdown)"]  # the swap did not restart the pipeline
